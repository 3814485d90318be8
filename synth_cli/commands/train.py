"""`synth train segm|depth`, `synth eval` and `synth predict`: SURREAL's hourglass networks
trained on rendered folders (the loop itself lives in ``trainers/``)."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from synth_cli.commands.render import load_config_file
from trainers.config import INPUTS, OPTIMIZERS, TrainConfig

DEFAULTS = TrainConfig()
# Flags whose value the user chose (on the command line or in --config), as opposed to defaults.
_CHOSEN = (ParameterSource.COMMANDLINE, ParameterSource.DEFAULT_MAP, ParameterSource.ENVIRONMENT)


def training_options(command):
    """The flags of every `synth train` task: one per TrainConfig field."""
    options = [
        click.option("--config", type=click.Path(exists=True, dir_okay=False), is_eager=True, expose_value=False,
                     callback=load_config_file,
                     help="A TOML file of these flags (e.g. steps = 40000, batch-size = 12); flags given here win."),
        click.option("--data", type=click.Path(path_type=Path), required=True,
                     help="Rendered dataset folder (`synth render --out`)."),
        click.option("--out", type=click.Path(path_type=Path), required=True,
                     help="Run folder: checkpoints, logs, plots. An existing run resumes from its last checkpoint."),
        click.option("--val-data", type=click.Path(path_type=Path), default=None,
                     help="Held-out dataset folder [default: --held-out of --data's clips]."),
        click.option("--held-out", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     default=DEFAULTS.held_out, show_default=True, help="Share of --data's clips kept for evaluation."),
        click.option("--device", default=DEFAULTS.device, show_default=True,
                     help="auto (cuda when torch sees a GPU), cuda, cuda:N or cpu."),
        click.option("--steps", type=click.IntRange(min=1), default=DEFAULTS.steps, show_default=True,
                     help="Optimiser steps in all; resuming goes on to this."),
        click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True,
                     help="Global batch (split over torchrun's processes)."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=DEFAULTS.lr, show_default=True,
                     help="Learning rate."),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=DEFAULTS.optimizer, show_default=True,
                     help="rmsprop (SURREAL's) or adam."),
        click.option("--input-size", type=click.IntRange(min=64), default=DEFAULTS.input_size, show_default=True,
                     help="Crop side in pixels (a multiple of 64); outputs are a quarter of it."),
        click.option("--stacks", type=click.IntRange(min=1), default=DEFAULTS.stacks, show_default=True),
        click.option("--features", type=click.IntRange(min=1), default=DEFAULTS.features, show_default=True),
        click.option("--modules", type=click.IntRange(min=1), default=DEFAULTS.modules, show_default=True,
                     help="Residual modules per hourglass stage."),
        click.option("--full-res-head/--no-full-res-head", default=DEFAULTS.full_res_head, show_default=True,
                     help="Add an output at the input's resolution, supervised there."),
        click.option("--inputs", type=click.Choice(INPUTS), default=DEFAULTS.inputs, show_default=True,
                     help="Network input: RGB, or RGB and the forward optical flow."),
        click.option("--augment/--no-augment", default=DEFAULTS.augment, show_default=True,
                     help="SURREAL's scale, rotation and colour augmentation."),
        click.option("--workers", type=click.IntRange(min=0), default=DEFAULTS.workers, show_default=True,
                     help="Data-loading processes per training process."),
        click.option("--amp/--no-amp", default=DEFAULTS.amp, show_default=True, help="Mixed precision on CUDA."),
        click.option("--seed", type=click.IntRange(min=0), default=DEFAULTS.seed, show_default=True),
        click.option("--log-every", type=click.IntRange(min=1), default=DEFAULTS.log_every, show_default=True),
        click.option("--eval-every", type=click.IntRange(min=1), default=DEFAULTS.eval_every, show_default=True,
                     help="Steps between held-out evaluations, checkpoints and plots."),
        click.option("--eval-frames", type=click.IntRange(min=1), default=DEFAULTS.eval_frames, show_default=True,
                     help="Held-out frames per evaluation (evenly spaced)."),
    ]
    for option in reversed(options):
        command = option(command)
    return click.pass_context(command)


@click.group("train")
def train() -> None:
    """Train SURREAL's stacked-hourglass networks on a rendered dataset.

    Example: `synth train segm --data data --out runs/segm --steps 20000`. Multi-GPU:
    `torchrun --nproc_per_node 4 -m synth_cli train segm ...`. Look at RUN/loss_curve.png and
    RUN/samples.png, or `tensorboard --logdir RUN`.
    """


@train.command("segm")
@training_options
def train_segm(ctx: click.Context, **options) -> None:
    """Body-part segmentation: 14 parts + background (SURREAL's classes)."""
    _train(ctx, "segm", options)


@train.command("depth")
@training_options
def train_depth(ctx: click.Context, **options) -> None:
    """Depth: 19 bins of 45 mm around the pelvis + background (SURREAL's); scored in mm."""
    _train(ctx, "depth", options)


def _train(ctx: click.Context, task: str, options: dict) -> None:
    import os

    from trainers import runs
    from trainers.train import preflight
    from trainers.train import train as run_training

    out = options.pop("out").resolve()
    for key in ("data", "val_data"):
        options[key] = str(options[key].resolve()) if options[key] is not None else None
    requested = TrainConfig(task=task, **options)
    given = {name for name in options if ctx.get_parameter_source(name) in _CHOSEN}
    is_main = int(os.environ.get("RANK", "0")) == 0
    console = Console(stderr=True)
    datasets = None
    if runs.is_run(out):
        config = runs.resume_config(out, requested, given)
        if is_main:
            console.print(f"Resuming the {task} run in {out}")
    else:
        config = requested.validate()
        datasets = preflight(config, int(os.environ.get("WORLD_SIZE", "1")))  # before any folder is made
        if is_main:
            runs.start_run(out, config)
    metrics = run_training(config, out, datasets=datasets)
    if is_main:
        _print_metrics(metrics, f"held-out metrics after {config.steps} steps")
        click.echo(str(out))


@click.command("eval")
@click.option("--run", "run_dir", type=click.Path(path_type=Path), required=True, help="A run folder of `synth train`.")
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="Dataset to score. The run's own training folder is scored on its held-out clips only.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cuda, cuda:N or cpu.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--frames", type=click.IntRange(min=1), default=None, help="Score this many evenly spaced frames [default: all].")
def evaluate(run_dir: Path, data: Path, checkpoint: str, device: str, batch_size: int, workers: int,
             frames: int | None) -> None:
    """Score a trained run on a dataset with SURREAL's metrics.

    Segmentation: IoU per class, mean IoU and pixel accuracy over the 14 parts. Depth: RMSE
    and scale/translation-invariant RMSE in mm on the foreground. Writes RUN/eval/DATA.json
    and RUN/eval/DATA_samples.png.
    """
    from trainers.evaluate import evaluate_run

    result, json_path = evaluate_run(run_dir, data, checkpoint, device, batch_size, workers, frames)
    _print_metrics(result["metrics"], f"{result['frames']} frames of {result['clips']} clips, "
                                      f"{checkpoint} checkpoint (step {result['step']})")
    click.echo(str(json_path))


@click.command("predict")
@click.option("--run", "run_dirs", type=click.Path(path_type=Path), multiple=True, required=True,
              help="A run folder (repeatable: e.g. a segm run and a depth run, shown side by side).")
@click.option("--video", type=click.Path(path_type=Path), required=True,
              help="A video file, or a folder of images, of real people.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for overlay.mp4 and overlay.png.")
@click.option("--box", "boxes", multiple=True,
              help="Person box X,Y,W,H in pixels (repeatable, fixed over the video) [default: the whole frame].")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, help="Use every Nth frame.")
@click.option("--max-frames", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cuda, cuda:N or cpu.")
def predict(run_dirs: tuple[Path, ...], video: Path, out: Path, boxes: tuple[str, ...], every: int, max_frames: int,
            checkpoint: str, device: str) -> None:
    """Predicted parts and depth on real frames, as an overlay video and a PNG.

    The networks were trained on person-centred crops: give each person's box with --box
    (widened like the training crops) for results like the held-out ones.
    """
    from trainers.predict import parse_box, predict_video

    written = predict_video(list(run_dirs), video, out, [parse_box(b) for b in boxes], every, max_frames,
                            checkpoint, device)
    for path in written:
        click.echo(str(path))


def _print_metrics(metrics: dict, title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if isinstance(value, (int, float)):
            table.add_row(name, f"{value:.4g}")
    Console(stderr=True).print(table)


"""`synth train segm|depth|pose3d|adversarial|motion`, `synth eval` and `synth predict`: SURREAL's
hourglass networks and the 3D pose networks of Chen et al., Yang et al. and Doersch & Zisserman,
trained on rendered folders (the loops themselves live in ``trainers/``)."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from synth_cli.commands.render import load_config_file
from trainers.config import BACKBONES, INPUTS, MOTION_INPUTS, OPTIMIZERS, POSE_TASKS, TrainConfig

DEFAULTS = TrainConfig()
# Flags whose value the user chose (on the command line or in --config), as opposed to defaults.
_CHOSEN = (ParameterSource.COMMANDLINE, ParameterSource.DEFAULT_MAP, ParameterSource.ENVIRONMENT)


def _common_options() -> list:
    """The flags of every `synth train` task."""
    return [
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
                     help="Crop side in pixels (a multiple of 64)."),
        click.option("--features", type=click.IntRange(min=1), default=DEFAULTS.features, show_default=True,
                     help="Network width (the hourglass's channels; pose3d's small extractor's last stage)."),
        click.option("--augment/--no-augment", default=DEFAULTS.augment, show_default=True,
                     help="SURREAL's scale, rotation and colour augmentation (3D targets turn with the crop)."),
        click.option("--workers", type=click.IntRange(min=0), default=DEFAULTS.workers, show_default=True,
                     help="Data-loading processes per training process."),
        click.option("--amp/--no-amp", default=DEFAULTS.amp, show_default=True, help="Mixed precision on CUDA."),
        click.option("--seed", type=click.IntRange(min=0), default=DEFAULTS.seed, show_default=True),
        click.option("--log-every", type=click.IntRange(min=1), default=DEFAULTS.log_every, show_default=True),
        click.option("--eval-every", type=click.IntRange(min=1), default=DEFAULTS.eval_every, show_default=True,
                     help="Steps between held-out evaluations, checkpoints and plots."),
        click.option("--eval-frames", type=click.IntRange(min=1), default=DEFAULTS.eval_frames, show_default=True,
                     help="Held-out samples per evaluation (evenly spaced)."),
    ]


def _hourglass_options() -> list:
    return [
        click.option("--stacks", type=click.IntRange(min=1), default=DEFAULTS.stacks, show_default=True),
        click.option("--modules", type=click.IntRange(min=1), default=DEFAULTS.modules, show_default=True,
                     help="Residual modules per hourglass stage."),
    ]


def _segmentation_options() -> list:
    return [
        click.option("--full-res-head/--no-full-res-head", default=DEFAULTS.full_res_head, show_default=True,
                     help="Add an output at the input's resolution, supervised there."),
        click.option("--inputs", type=click.Choice(INPUTS), default=DEFAULTS.inputs, show_default=True,
                     help="Network input: RGB, or RGB and the forward optical flow."),
    ]


def _pose_options(real_data_help: str) -> list:
    """The flags of every 3D pose task."""
    return [
        click.option("--real-data", type=click.Path(path_type=Path), default=None, help=real_data_help),
        click.option("--joint-set", default=None,
                     help="Joints to predict (trainers/pose3d/joints.py: chen17, chen15, smpl24, dz12) "
                          "[default: the task's own]."),
    ]


POSE3D_OPTIONS = [
    click.option("--backbone", type=click.Choice(BACKBONES), default=DEFAULTS.backbone, show_default=True,
                 help="Feature extractor: a small conv net as wide as --features (CPU-sized), or a ResNet-18 "
                      "trunk (random weights: nothing is downloaded). Chen et al. used AlexNet to pool5."),
    click.option("--domain-adaptation/--no-domain-adaptation", default=DEFAULTS.domain_adaptation, show_default=True,
                 help="With --real-data: Chen et al.'s domain mixer and two alternating stages."),
    click.option("--stage-steps", type=click.IntRange(min=1), default=DEFAULTS.stage_steps, show_default=True,
                 help="Steps of each domain-adaptation stage before switching to the other."),
]
ADVERSARIAL_OPTIONS = [
    click.option("--lambda-adv", type=click.FloatRange(min=0), default=DEFAULTS.lambda_adv, show_default=True,
                 help="Weight of the adversarial loss: L_G = lambda x L_adv + L_pose (Yang et al.: 1e-4)."),
    click.option("--pretrain-steps", type=click.IntRange(min=0), default=DEFAULTS.pretrain_steps, show_default=True,
                 help="Generator-only steps before the discriminator joins."),
]
MOTION_OPTIONS = [
    click.option("--window", type=click.IntRange(min=1), default=DEFAULTS.window, show_default=True,
                 help="Frames per clip through the LSTM (D&Z: 31); clips shorter than this are refused."),
    click.option("--motion-inputs", type=click.Choice(MOTION_INPUTS), default=DEFAULTS.motion_inputs,
                 show_default=True, help="Optical flow + 12 keypoint heatmaps (D&Z), or RGB only (their comparison)."),
    click.option("--dann/--no-dann", default=DEFAULTS.dann, show_default=True,
                 help="The gradient-reversal domain classifier baseline (needs --real-data)."),
    click.option("--keypoint-noise-px", type=click.FloatRange(min=0), default=DEFAULTS.keypoint_noise_px,
                 show_default=True, help="Noise on the synthetic 2D keypoints, in input pixels."),
]


def training_options(*groups: list):
    """Decorate a `synth train` task with the common flags and ``groups`` of its own."""
    def decorate(command):
        options = [option for group in (_common_options(), *groups) for option in group]
        for option in reversed(options):
            command = option(command)
        return click.pass_context(command)
    return decorate


@click.group("train")
def train() -> None:
    """Train networks on a rendered dataset: SURREAL's stacked hourglasses (segm, depth) and
    three papers' 3D pose networks (pose3d, adversarial, motion).

    Example: `synth train segm --data data --out runs/segm --steps 20000`. Multi-GPU:
    `torchrun --nproc_per_node 4 -m synth_cli train segm ...`. Look at RUN/loss_curve.png and
    RUN/samples.png (RUN/skeletons.png for 3D pose), or `tensorboard --logdir RUN`; score a run
    with `synth eval --run RUN --data DATA`.
    """


@train.command("segm")
@training_options(_hourglass_options(), _segmentation_options())
def train_segm(ctx: click.Context, **options) -> None:
    """Body-part segmentation: 14 parts + background (SURREAL's classes)."""
    _train(ctx, "segm", options)


@train.command("depth")
@training_options(_hourglass_options(), _segmentation_options())
def train_depth(ctx: click.Context, **options) -> None:
    """Depth: 19 bins of 45 mm around the pelvis + background (SURREAL's); scored in mm."""
    _train(ctx, "depth", options)


@train.command("pose3d")
@training_options(_pose_options("Unlabelled real images (a folder of images or a video): the real domain of Chen et "
                                "al.'s domain adaptation. Without it the plain regressor trains."),
                  POSE3D_OPTIONS)
def train_pose3d(ctx: click.Context, **options) -> None:
    """3D pose by direct regression, Chen et al. 2016: a CNN regresses the 17 joints (chen17, the
    Human3.6M skeleton from SMPL's joints) in camera coordinates, root-relative, the skeleton
    normalised to a constant total bone length (turned back into metres by the training set's
    mean length).

    With --real-data, their domain-adaptation network: feature extractor, pose regressor and
    domain mixer (synthetic 0 vs real 1), trained in two stages that alternate every
    --stage-steps steps: (1) the extractor is frozen while the regressor and the mixer learn;
    (2) the mixer is frozen while the extractor learns the pose and to make the mixer answer
    0.5 / 0.5 for both domains. train_log.csv shows loss_pose, loss_domain, mixer_accuracy and
    the stage.

    Scored on held-out clips by MPJPE, PA-MPJPE (mm) and PCK3D @150 mm, beside a baseline that
    always predicts the training set's mean pose (eval_log.csv: baseline_*).

    Example: `synth train pose3d --data data --out runs/chen --real-data frames/ --steps 20000`.
    """
    _train(ctx, "pose3d", options)


@train.command("adversarial")
@training_options(_pose_options("In-the-wild real images (a folder or a video): the real side of the multi-source "
                                "discriminator."),
                  _hourglass_options(), ADVERSARIAL_OPTIONS)
def train_adversarial(ctx: click.Context, **options) -> None:
    """3D pose with adversarial learning, Yang et al. 2018: a generator (hourglass 2D heatmaps +
    depth regression) and a multi-source discriminator over the image, the geometric descriptor
    and the heatmaps + depth maps; L_G = --lambda-adv x adversarial + L_pose, the generator
    pre-trained alone for --pretrain-steps. --real-data images only add predicted ("fake") samples
    for the discriminator (no 2D labels, so no pose loss on them).

    Example: `synth train adversarial --data data --out runs/yang --real-data frames/ --stacks 2`.
    """
    _train(ctx, "adversarial", options)


@train.command("motion")
@training_options(_pose_options("Real video clips (a video or an image folder) for the --dann baseline's domain "
                                "classifier."),
                  MOTION_OPTIONS)
def train_motion(ctx: click.Context, **options) -> None:
    """3D pose from motion, Doersch & Zisserman 2019: clips of optical flow + 12 keypoint heatmaps
    -> per-frame CNN -> bidirectional LSTM -> per-frame 3D pose, trained on Procrustes-aligned
    keypoint error plus 2D reprojection, with keypoint hiding, superpixel occluders and total
    occlusions (an indicator channel); --motion-inputs rgb is their RGB-only comparison, --dann
    their gradient-reversal baseline. Predicts SMPL's 24 joints. On real video (`synth predict
    --keypoints`), flow comes from OpenCV and keypoints from your detector's file.

    Example: `synth train motion --data data --out runs/dz --window 31 --input-size 128`.
    """
    _train(ctx, "motion", options)


def _train(ctx: click.Context, task: str, options: dict) -> None:
    import os

    from trainers import runs
    from trainers.train import preflight
    from trainers.train import train as run_training

    out = options.pop("out").resolve()
    for key in ("data", "val_data", "real_data"):
        if key in options:
            options[key] = str(options[key].resolve()) if options[key] is not None else None
    requested = TrainConfig(task=task, **options)
    given = {name for name in options if ctx.get_parameter_source(name) in _CHOSEN}
    is_main = int(os.environ.get("RANK", "0")) == 0
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    console = Console(stderr=True)
    if task in POSE_TASKS:
        from trainers.pose3d import loop as pose_loop

        preflight, run_training = pose_loop.preflight, pose_loop.train
    prepared = None
    if runs.is_run(out):
        config = runs.resume_config(out, requested, given)
        if is_main:
            console.print(f"Resuming the {task} run in {out}")
    else:
        prepared = preflight(requested.validate(), world_size)  # before any folder is made
        config = prepared.config if task in POSE_TASKS else requested.validate()
        if is_main:
            runs.start_run(out, config)
    if task in POSE_TASKS:
        metrics = run_training(config, out, prepared=prepared)
    else:
        metrics = run_training(config, out, datasets=prepared)
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
    """Score a trained run on a dataset.

    Segmentation: IoU per class, mean IoU and pixel accuracy over the 14 parts. Depth: RMSE
    and scale/translation-invariant RMSE in mm on the foreground. Both write RUN/eval/DATA.json
    and RUN/eval/DATA_samples.png.

    3D pose (pose3d, adversarial, motion): MPJPE and PA-MPJPE (after Procrustes alignment) in mm
    and PCK3D (share of joints within 150 mm), overall and per joint, beside the mean-pose
    baseline (the training set's mean root-relative pose for every frame). Writes
    RUN/eval/DATA.json and RUN/eval/DATA_skeletons.png (predicted over true 3D skeletons).
    """
    from trainers.evaluate import evaluate_run

    result, json_path = evaluate_run(run_dir, data, checkpoint, device, batch_size, workers, frames)
    title = f"{result['frames']} samples of {result['clips']} clips, {checkpoint} checkpoint (step {result['step']})"
    if "per_joint" in result["metrics"]:
        _print_joint_table(result["metrics"], title)
    else:
        _print_metrics(result["metrics"], title)
    click.echo(str(json_path))


@click.command("predict")
@click.option("--run", "run_dirs", type=click.Path(path_type=Path), multiple=True, required=True,
              help="A run folder (repeatable: e.g. a segm run and a depth run, shown side by side).")
@click.option("--video", type=click.Path(path_type=Path), required=True,
              help="A video file, or a folder of images, of real people.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for overlay.mp4 and overlay.png (3D pose: skeletons.json, .mp4 and .png).")
@click.option("--box", "boxes", multiple=True,
              help="Person box X,Y,W,H in pixels (repeatable, fixed over the video) [default: the whole frame].")
@click.option("--every", type=click.IntRange(min=1), default=1, show_default=True, help="Use every Nth frame.")
@click.option("--max-frames", type=click.IntRange(min=1), default=300, show_default=True)
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cuda, cuda:N or cpu.")
@click.option("--keypoints", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Motion runs: the video's 2D keypoints from your detector (JSON or CSV, see "
                   "trainers/pose3d/keypoints.py).")
def predict(run_dirs: tuple[Path, ...], video: Path, out: Path, boxes: tuple[str, ...], every: int, max_frames: int,
            checkpoint: str, device: str, keypoints: Path | None) -> None:
    """Predictions on real frames: parts and depth as an overlay video and a PNG; 3D skeletons
    as JSON, a video and a PNG.

    The networks were trained on person-centred crops: give each person's box with --box
    (widened like the training crops) for results like the held-out ones.

    A 3D pose run (one per call) writes OUT/skeletons.json (per frame, per box: the joints in
    metres, root-relative, camera axes), OUT/skeletons.mp4 (the frame beside the skeleton from
    the camera and from its right) and OUT/skeletons.png (up to 4 frames in 3D). A motion run
    needs --keypoints and crops around them itself.
    """
    from trainers.predict import parse_box, predict_video

    written = predict_video(list(run_dirs), video, out, [parse_box(b) for b in boxes], every, max_frames,
                            checkpoint, device, keypoints)
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



def _print_joint_table(metrics: dict, title: str) -> None:
    """Per-joint MPJPE / PA-MPJPE / PCK3D, the overall row, and the mean-pose baseline's."""
    table = Table(title=title)
    for column in ("joint", "MPJPE mm", "PA-MPJPE mm", "PCK3D"):
        table.add_column(column, justify="left" if column == "joint" else "right")
    rows = [*metrics["per_joint"].items(), ("all", metrics),
            ("mean-pose baseline", {name: metrics[f"baseline_{name}"] for name in ("mpjpe_mm", "pa_mpjpe_mm", "pck3d")})]
    for name, scores in rows:
        table.add_row(name, f"{scores['mpjpe_mm']:.1f}", f"{scores['pa_mpjpe_mm']:.1f}", f"{100 * scores['pck3d']:.1f}%",
                      end_section=name in ("all",) or name == list(metrics["per_joint"])[-1])
    Console(stderr=True).print(table)

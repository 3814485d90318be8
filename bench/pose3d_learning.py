"""How Chen et al.'s plain regressor (or Yang et al.'s generator) learns with the number of people
it sees, on the CPU: the larger version of the tests' learning checks (issue 13), and what is and
is not learnt.

    python bench/pose3d_learning.py --data DIR [--render 200] [--people 40,80,160] [--steps 1000]
                                    [--task pose3d|adversarial]

DIR holds one-frame clips (one person, outfit, background and turn each); with ``--render N``
and no DIR yet, they are rendered first by `synth render --n N --frames 1 --res 160x120
--samples 1 --passes rgb --shading nodes --texture-size 512` (about 36 s for 200 on 2 cores).
The last ``--held-out`` clips are the held-out people; each run trains on the first K of the
others (K from ``--people``), with the same held-out set, steps and seed, through `synth train
pose3d`'s own loop (small CNN 32 wide, 64 px crops unless ``--input-size``, Adam, augmentation
on).

For each run it prints held-out MPJPE and PA-MPJPE (mm) against the mean pose of its training
set, as ratios, and two diagnostics of the person's turn towards the camera (the yaw of the hip
line about the camera's vertical): the median yaw error, and the MPJPE left once each prediction
is turned about the vertical to fit best (the part of the error the turn explains). The
README's table is this script's output.

With ``--task adversarial`` it trains Yang et al.'s generator (`synth train adversarial` without
real images: 1 stack 32 wide, the first ``--pretrain-steps`` steps generator-only) and splits its
error into its two halves, each put together with the other half's truth: the heatmaps' 2D
positions with the true depths, and the true 2D positions with its depths (against the true 2D
positions with the training set's mean depths: what its depths add); and how far off its 2D
positions are in heatmap pixels (median; the share of joints more than 3 px off); and how often
its left and right joints are swapped (trainers.pose3d.yang.left_right_swaps: 0% when the sides
are told apart, 50% when guessed, as when a person seen from behind is taken to face the camera),
on the held-out people and on the people it trained on.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth_core.dataset import find_clips  # noqa: E402
from trainers.config import TrainConfig  # noqa: E402
from trainers.pose3d.joints import get_joint_set  # noqa: E402
from trainers.pose3d.loop import load_pose_run, predict_batches, preflight, train  # noqa: E402
from trainers.runs import start_run  # noqa: E402
from trainers.pose3d.metrics import mpjpe, pa_mpjpe  # noqa: E402
from trainers.pose3d.recipe import StepContext  # noqa: E402
from trainers.pose3d.yang import FAR_PX, error_halves  # noqa: E402
from trainers.train import make_datasets  # noqa: E402

RENDER = ["--frames", "1", "--res", "160x120", "--samples", "1", "--passes", "rgb", "--shading", "nodes",
          "--texture-size", "512", "--workers", "2"]
TRAINING = dict(device="cpu", features=32, input_size=64, batch_size=8, workers=1, optimizer="adam", lr=1e-3,
                joint_set="chen17")
TASKS = {"pose3d": dict(task="pose3d"), "adversarial": dict(task="adversarial", stacks=1)}
YAW_STEPS_DEG = 2


def linked_subset(clips: list[Path], folder: Path) -> Path:
    """A dataset folder of symbolic links to ``clips`` (the clips are not copied)."""
    folder.mkdir(parents=True)
    for clip in clips:
        (folder / clip.name).symlink_to(clip.resolve(), target_is_directory=True)
    return folder


def hip_yaw_deg(joints: np.ndarray, joint_set: str) -> np.ndarray:
    """Yaw (degrees) of the right-to-left hip line in the camera's x-z plane."""
    names = get_joint_set(joint_set).names
    line = joints[:, names.index("left_hip")] - joints[:, names.index("right_hip")]
    return np.degrees(np.arctan2(line[:, 2], line[:, 0]))


def yaw_fitted_mpjpe_mm(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean MPJPE (mm) after turning each prediction about the camera's vertical (y) to fit best."""
    angles = np.radians(np.arange(0, 360, YAW_STEPS_DEG))
    c, s, zero, one = np.cos(angles), np.sin(angles), np.zeros_like(angles), np.ones_like(angles)
    turns = np.stack([np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)], 1)
    turned = np.einsum("aij,nkj->naki", turns, predicted)                    # N x A x K x 3
    errors = np.linalg.norm(turned - truth[:, None], axis=-1).mean(-1)      # N x A
    return 1000 * float(errors.min(axis=1).mean())


def held_out_scores(run_dir: Path) -> dict:
    config, recipe, modules, _, mean = load_pose_run(run_dir, "last", torch.device("cpu"))
    training, held_out = make_datasets(config)
    ctx = StepContext(config, torch.device("cpu"))
    triples = list(predict_batches(recipe, modules, held_out, ctx))
    predicted, truth = torch.cat([p for p, _, _ in triples]), torch.cat([t for _, t, _ in triples])
    baseline = mean.to(truth).expand_as(truth)
    yaw_error = (hip_yaw_deg(predicted.numpy(), config.joint_set) - hip_yaw_deg(truth.numpy(), config.joint_set)
                 + 180) % 360 - 180
    halves = {}
    if config.task == "adversarial":
        training.augment = False
        seen = next(iter(torch.utils.data.DataLoader(training, batch_size=len(training))))
        halves = error_halves(recipe, modules["generator"], [b for _, _, b in triples], seen)
        # the same on the people it trained on (un-augmented): learnt for them, or not at all?
        halves["training_swapped_share"] = error_halves(recipe, modules["generator"], [seen], seen)["swapped_share"]
    return {**halves, "frames": len(truth),
            "mpjpe": 1000 * float(mpjpe(predicted, truth)), "pa_mpjpe": 1000 * float(pa_mpjpe(predicted, truth)),
            "base_mpjpe": 1000 * float(mpjpe(baseline, truth)), "base_pa_mpjpe": 1000 * float(pa_mpjpe(baseline, truth)),
            "yaw_median_deg": float(np.median(np.abs(yaw_error))),
            "yaw_fitted_mpjpe": yaw_fitted_mpjpe_mm(predicted.numpy(), truth.numpy())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="one-frame clips (rendered here with --render)")
    parser.add_argument("--render", type=int, default=0, help="clips to render into --data when it does not exist")
    parser.add_argument("--held-out", type=int, default=40, help="last clips kept as the held-out people")
    parser.add_argument("--people", default="40,80,160", help="training clips per run, comma-separated")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--input-size", type=int, default=TRAINING["input_size"], help="crop side in pixels")
    parser.add_argument("--task", choices=sorted(TASKS), default="pose3d",
                        help="pose3d: Chen et al.'s regressor; adversarial: Yang et al.'s generator")
    parser.add_argument("--pretrain-steps", type=int, default=1000,
                        help="adversarial: generator-only steps before the discriminator joins")
    args = parser.parse_args()

    if not args.data.exists():
        if not args.render:
            parser.error(f"{args.data} does not exist; give --render N to render it")
        subprocess.run([sys.executable, "-m", "synth_cli", "render", "--n", str(args.render), "--out", str(args.data),
                        *RENDER], check=True)
    clips = find_clips(args.data)
    training_pool, held = clips[:-args.held_out], clips[-args.held_out:]
    counts = [int(k) for k in args.people.split(",")]
    if max(counts) > len(training_pool):
        parser.error(f"--people asks for {max(counts)} training clips; {args.data} has {len(training_pool)} "
                     f"besides the {args.held_out} held out")

    rows = []
    with tempfile.TemporaryDirectory(prefix="pose3d-learning-") as scratch:
        val = linked_subset(held, Path(scratch) / "held_out")
        for count in counts:
            data = linked_subset(training_pool[:count], Path(scratch) / f"train_{count}")
            run = Path(scratch) / f"run_{count}"
            config = TrainConfig(data=str(data), val_data=str(val), steps=args.steps, eval_every=args.steps,
                                 log_every=max(1, args.steps // 10),
                                 pretrain_steps=args.pretrain_steps,   # pose3d ignores it
                                 **{**TRAINING, **TASKS[args.task], "input_size": args.input_size}).validate()
            prepared = preflight(config)  # as `synth train` starts a run
            start_run(run, prepared.config)
            train(prepared.config, run, show_progress=False, prepared=prepared)
            gc.collect()   # the run's data loader iterators, before the scoring loader forks workers
            rows.append((count, held_out_scores(run)))
            print(f"trained on {count} people", flush=True)

    network = {"pose3d": "Chen et al., plain regressor", "adversarial": "Yang et al., generator"}[args.task]
    print(f"\n{network}, {args.input_size} px crops, {args.steps} steps, held out: {len(held)} people "
          f"({rows[0][1]['frames']} frames); mm")
    print(f"{'people':>6} {'MPJPE':>7} {'mean pose':>9} {'ratio':>6} {'PA-MPJPE':>9} {'mean pose':>9} {'ratio':>6}"
          f" {'yaw err':>8} {'turn-fitted MPJPE':>18}")
    for count, s in rows:
        print(f"{count:>6} {s['mpjpe']:7.1f} {s['base_mpjpe']:9.1f} {s['mpjpe'] / s['base_mpjpe']:6.2f}"
              f" {s['pa_mpjpe']:9.1f} {s['base_pa_mpjpe']:9.1f} {s['pa_mpjpe'] / s['base_pa_mpjpe']:6.2f}"
              f" {s['yaw_median_deg']:7.0f}° {s['yaw_fitted_mpjpe']:18.1f}")
    if args.task == "adversarial":
        print("\nYang et al.'s halves, held out (MPJPE mm; 2D errors in heatmap pixels)")
        print(f"{'people':>6} {'its 2D + true depths':>21} {'true 2D + its depths':>21}"
              f" {'true 2D + mean depths':>22} {'median 2D error':>16}"
              f" {f'> {FAR_PX:g} px off':>12} {'left/right swapped':>19} {'(training people)':>18}")
        for count, s in rows:
            print(f"{count:>6} {s['its_2d_true_depths']:21.1f} {s['true_2d_its_depths']:21.1f}"
                  f" {s['true_2d_mean_depths']:22.1f}"
                  f" {s['median_2d_px']:16.2f} {s['far_share']:12.0%} {s['swapped_share']:19.0%}"
                  f" {s['training_swapped_share']:18.0%}")


if __name__ == "__main__":
    main()

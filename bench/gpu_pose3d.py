"""The GPU check of issue 13, as one script: training steps/s of the three 3D pose networks,
fp32 against mixed precision, measured in the same process.

    python bench/gpu_pose3d.py --data DATASET --real REAL [--steps 30] [--dry-run]

For each task (`synth train pose3d|adversarial|motion`) the recipe builds its networks at the
sizes below, takes one batch of its own training set (and of the real domain, REAL: a video or a
folder of images), moves nothing itself (the recipe's train_step does, as in training) and runs
train_step warmup + steps times; data loading is not timed. Sizes: pose3d a ResNet-18 at 224 px
(Chen et al. used AlexNet), adversarial 2 hourglass stacks at 256 px (Yang et al.'s ablation
size), motion 31-frame windows at 224 px with features 256 (D&Z's 1024-unit LSTM).

Needs torch with CUDA, numpy, opencv and matplotlib; no bpy: render DATASET where Blender is
(clips at least 33 frames long for the motion model's window, e.g. `synth render --n 40 --frames 40
--passes rgb,depth,segmentation,flow_forward,flow_backward --out gpu_pose_data`) and carry it to
the GPU machine. `--dry-run` checks the whole script on the CPU with tiny networks. Prints one
table; the README records its output with the GPU model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.config import TrainConfig  # noqa: E402
from trainers.pose3d.loop import preflight  # noqa: E402
from trainers.pose3d.recipe import StepContext  # noqa: E402
from trainers.train import autocast_dtype  # noqa: E402

SIZES = {
    "pose3d": dict(backbone="resnet18", input_size=224, batch_size=64, optimizer="adam"),
    "adversarial": dict(stacks=2, features=256, input_size=256, batch_size=16, pretrain_steps=0, optimizer="rmsprop"),
    "motion": dict(window=31, features=256, input_size=224, batch_size=8, optimizer="adam"),
}
DRY_RUN_SIZES = {
    "pose3d": dict(backbone="small", features=16, input_size=64, batch_size=4),
    "adversarial": dict(stacks=1, features=16, input_size=64, batch_size=4, pretrain_steps=0),
    "motion": dict(window=3, features=16, input_size=64, batch_size=2),
}


def steps_per_second(task: str, data: str, real: str | None, amp: bool, device: str, sizes: dict,
                     steps: int, warmup: int) -> float:
    config = TrainConfig(task=task, data=data, real_data=real, device=device, amp=amp, workers=0, **sizes)
    prepared = preflight(config)
    recipe, config = prepared.recipe, prepared.config
    torch.manual_seed(0)
    modules = {name: module.to(device) for name, module in recipe.build(config).items()}
    optimizers = recipe.optimizers(config, modules)
    ctx = StepContext(config, torch.device(device), autocast_dtype(config, torch.device(device)))
    batch = next(iter(DataLoader(prepared.train_set, batch_size=config.batch_size, shuffle=False)))
    real_batch = None
    if prepared.real_set is not None:
        real_batch = next(iter(DataLoader(prepared.real_set, batch_size=config.batch_size, shuffle=False)))
    for step in range(warmup + steps):
        if step == warmup:
            _synchronize(device)
            start = time.perf_counter()
        recipe.train_step(modules, optimizers, batch, real_batch, step, ctx)
    _synchronize(device)
    return steps / (time.perf_counter() - start)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--real", default=None, help="Real-domain video or image folder (Chen's mixer, Yang's D).")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dry-run", action="store_true", help="Tiny networks on the CPU: checks the script.")
    args = parser.parse_args()
    device = "cpu" if args.dry_run else "cuda"
    sizes = DRY_RUN_SIZES if args.dry_run else SIZES
    steps, warmup = (2, 1) if args.dry_run else (args.steps, 10)
    name = "cpu (dry run)" if args.dry_run else torch.cuda.get_device_name()
    print(f"{name}, torch {torch.__version__}; steps/s of train_step (data loading excluded)")
    print(f"{'task':12} {'batch':>5} {'fp32':>8} {'amp':>8} {'x':>5}")
    for task, size in sizes.items():
        rates = [steps_per_second(task, args.data, args.real, amp, device, size, steps, warmup) for amp in (False, True)]
        print(f"{task:12} {size['batch_size']:5d} {rates[0]:8.2f} {rates[1]:8.2f} {rates[1] / rates[0]:5.2f}")


if __name__ == "__main__":
    main()

"""The GPU check of issue 9, as one script: SURREAL-size hourglass throughput and a short
segmentation run's held-out IoU curve.

    python bench/gpu_hourglass.py --data DATASET [--steps 2000] [--out /tmp/gpu_run]

1. images/s for the SURREAL configuration (8 stacks, 256 features, 256x256 input, batch 32):
   fp32, then mixed precision (bf16 autocast, channels_last), measured in the same process;
2. `synth train segm` (the same loop as the CLI) for --steps steps on DATASET with held-out
   evaluation every --steps/10 steps; prints the eval_log (the IoU curve) and leaves the run's
   loss_curve.png and samples.png in --out.

Needs torch with CUDA, numpy, Pillow, opencv and matplotlib; no bpy: render DATASET where Blender
is (e.g. `synth render --n 100 --frames 3 --passes rgb,depth,segmentation --out gpu_data`, ~12 MB)
and carry it to the GPU machine. `--dry-run` checks the whole script on the CPU with a tiny net. Prints one table; the README records its output with the GPU model.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.config import TrainConfig  # noqa: E402
from trainers.models import StackedHourglass, stacked_cross_entropy  # noqa: E402
from trainers.train import train  # noqa: E402


def images_per_second(batch: int, amp: bool, device: torch.device, size: dict, steps: int = 30,
                      warmup: int = 10) -> float:
    model = StackedHourglass(in_channels=3, n_classes=15, modules=1, **size).to(device)
    if amp:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    images = torch.rand(batch, 3, 256, 256, device=device)
    if amp:
        images = images.to(memory_format=torch.channels_last)
    target = torch.randint(0, 15, (batch, 64, 64), device=device)
    for i in range(warmup + steps):
        if i == warmup:
            _synchronize(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = stacked_cross_entropy(model(images), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _synchronize(device)
    return steps * batch / (time.perf_counter() - start)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/gpu_segm_run"))
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dry-run", action="store_true",
                        help="check the script on the CPU: a 1-stack, 32-feature net, a few steps, no timings worth reading")
    args = parser.parse_args()
    if args.dry_run:
        device, size, timing_steps = torch.device("cpu"), dict(stacks=1, features=32), 2
    else:
        if not torch.cuda.is_available():
            sys.exit("no CUDA GPU visible to torch (use --dry-run to check the script on the CPU)")
        device, size, timing_steps = torch.device("cuda"), dict(stacks=8, features=256), 30
        print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    fp32 = images_per_second(args.batch, False, device, size, timing_steps, warmup=1 if args.dry_run else 10)
    mixed = images_per_second(args.batch, True, device, size, timing_steps, warmup=1 if args.dry_run else 10)
    print(f"hourglass {size}, batch {args.batch}: fp32 {fp32:.0f} images/s, bf16+channels_last {mixed:.0f} "
          f"images/s ({mixed / fp32:.2f}x)")
    config = TrainConfig(task="segm", data=str(args.data.resolve()), steps=args.steps, batch_size=args.batch,
                         eval_every=max(1, args.steps // 10), log_every=max(1, min(50, args.steps // 10)),
                         workers=2 if args.dry_run else 8, device=device.type, **size)
    from trainers import runs

    runs.start_run(args.out, config)
    start = time.perf_counter()
    train(config, args.out, show_progress=False)
    print(f"segm run: {args.steps} steps in {time.perf_counter() - start:.0f} s")
    for row in csv.DictReader(open(args.out / "eval_log.csv")):
        print(f"  step {row['step']:>6}: mean IoU {float(row['mean_iou']):.3f}, "
              f"pixel accuracy {float(row['pixel_accuracy']):.3f}")


if __name__ == "__main__":
    main()

"""Training speed of the stacked hourglass: optimiser steps/s and images/s for a few variants,
measured in one process against the first row.

A step is SURREAL's: forward, cross-entropy summed over the stacks, backward, RMSprop (lr 1e-3),
on random images and labels (speed does not depend on the values).

    python bench/train_speed.py                       # CPU: small hourglass, 5 variants
    python bench/train_speed.py --device cuda --amp   # GPU: SURREAL's model, batch 32, fp32 vs AMP

Defaults: on the CPU 2 stacks x 64 features, 128 px, batch 8 (rows: default, channels_last,
1 thread, 2 threads; add "compile" with --variants, it compiles for ~90 s on 2 cores); on CUDA
SURREAL's 8 stacks x 256 features, 256 px, batch 32
(rows: fp32, channels_last, and with --amp autocast bf16 where the GPU has it, else fp16 with a
GradScaler, plain and channels_last, then torch.compile of the last). --variants picks rows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainers.models import StackedHourglass, stacked_cross_entropy  # noqa: E402

PRESETS = {"cpu": dict(stacks=2, features=64, size=128, batch=8),
           "cuda": dict(stacks=8, features=256, size=256, batch=32)}


@dataclass
class Variant:
    name: str
    channels_last: bool = False
    amp: bool = False
    compile: bool = False
    threads: int | None = None


VARIANTS = {
    "default": Variant("default"),
    "channels_last": Variant("channels_last", channels_last=True),
    "compile": Variant("compile", compile=True),
    "threads1": Variant("threads1", threads=1),
    "threads2": Variant("threads2", threads=2),
    "amp": Variant("amp", amp=True),
    "amp_channels_last": Variant("amp_channels_last", amp=True, channels_last=True),
    "amp_channels_last_compile": Variant("amp_channels_last_compile", amp=True, channels_last=True, compile=True),
}


def default_variants(device: torch.device, amp: bool) -> list[str]:
    if device.type == "cpu":
        names = ["default", "channels_last", "threads1", "threads2"]  # compile: ~90 s to compile on 2 cores
    else:
        names = ["default", "channels_last"]
    if amp:
        names += ["amp", "amp_channels_last"] + (["amp_channels_last_compile"] if device.type == "cuda" else [])
    return names


def amp_dtype(device: torch.device, requested: str) -> torch.dtype:
    if requested == "bf16":
        return torch.bfloat16
    if requested == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def threads(count: int | None):
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure(variant: Variant, args, device: torch.device) -> dict:
    """Seconds per training step of one variant (after ``args.warmup`` untimed steps)."""
    torch.manual_seed(0)
    memory_format = torch.channels_last if variant.channels_last else torch.contiguous_format
    model = StackedHourglass(in_channels=args.in_channels, n_classes=args.classes, stacks=args.stacks,
                             features=args.features, modules=args.modules, full_res_head=args.full_res_head)
    model = model.to(device, memory_format=memory_format)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    dtype = amp_dtype(device, args.amp_dtype) if variant.amp else None
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    forward = torch.compile(model) if variant.compile else model
    images = torch.rand(args.batch, args.in_channels, args.size, args.size, device=device)
    images = images.contiguous(memory_format=memory_format)
    full = torch.randint(0, args.classes, (args.batch, args.size, args.size), device=device)
    coarse = full[:, 2::4, 2::4].contiguous()

    def step() -> float:
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            outputs = forward(images)
            loss = stacked_cross_entropy(outputs, coarse, full_res_target=full if args.full_res_head else None)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    with threads(variant.threads):
        start = time.perf_counter()
        for _ in range(args.warmup):
            step()
        synchronise(device)
        warmup_s = time.perf_counter() - start
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        synchronise(device)
        seconds = (time.perf_counter() - start) / args.steps
    row = {"variant": variant.name, "steps_per_s": 1 / seconds, "images_per_s": args.batch / seconds,
           "warmup_s": warmup_s, "threads": variant.threads or torch.get_num_threads(),
           "amp": str(dtype).replace("torch.", "") if dtype else "fp32", "loss": float(loss.detach())}
    if device.type == "cuda":
        row["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
    return row


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--amp", action="store_true", help="add mixed-precision rows (autocast)")
    parser.add_argument("--amp-dtype", choices=("auto", "bf16", "fp16"), default="auto",
                        help="auto: bf16 where supported (CPU: bf16), else fp16 with a GradScaler")
    parser.add_argument("--stacks", type=int)
    parser.add_argument("--features", type=int)
    parser.add_argument("--modules", type=int, default=1)
    parser.add_argument("--size", type=int, help="input side in pixels (a multiple of 64)")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--classes", type=int, default=15)
    parser.add_argument("--in-channels", type=int, default=3)
    parser.add_argument("--full-res-head", action="store_true")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant (compiles, autotunes)")
    parser.add_argument("--variants", help=f"comma-separated, from {', '.join(VARIANTS)}; the first is the baseline")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA GPU visible to torch")
    for name, value in PRESETS["cuda" if device.type == "cuda" else "cpu"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    names = args.variants.split(",") if args.variants else default_variants(device, args.amp)
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return args, device, [VARIANTS[name] for name in names]


def main(argv=None) -> None:
    args, device, variants = parse_args(argv)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{name}, torch {torch.__version__}: hourglass {args.stacks} stacks x {args.features} features, "
          f"{args.size} px, batch {args.batch}, {args.steps} timed steps after {args.warmup}")
    rows = []
    for variant in variants:
        try:
            rows.append(measure(variant, args, device))
        except Exception as exc:  # e.g. torch.compile without a C++ compiler: report and go on
            print(f"  {variant.name}: failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
            continue
        row, base = rows[-1], rows[0]
        memory = f", peak {row['peak_memory_gib']:.1f} GiB" if "peak_memory_gib" in row else ""
        print(f"  {row['variant']:<26} {row['steps_per_s']:8.3f} steps/s {row['images_per_s']:9.1f} images/s "
              f"x{row['steps_per_s'] / base['steps_per_s']:.2f}  ({row['amp']}, {row['threads']} threads, "
              f"warm-up {row['warmup_s']:.1f} s{memory})", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows,
                                         "config": {k: v for k, v in vars(args).items() if k != "json"}},
                                        indent=1, default=str))


if __name__ == "__main__":
    main()

"""Per-frame render cost and bytes per frame of `synth render`, at 320x240 by default.

For 1 and 16 samples, with and without Cycles' persistent data, renders one clip through the
real worker and reports: setup (process start to the scene being built: Python and Blender
start, body, motion, texture, background, scene), steady-state seconds per frame (RGB render
+ label render, means over frames 2..N), total wall time, and the
clip's bytes per frame on disk. The baseline for the ratios is persistent data off, measured
in the same run.

    python bench/render_frame.py [--frames 8] [--res 320x240] [--seed 0]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from synth_cli.commands.render import parse_resolution, run_worker
from synth_core.scene.plan import PlanOptions, sample_plan


def measure(options: PlanOptions, seed: int, out: Path) -> dict:
    times = {"start": [], "rgb": [], "labels": []}

    def record(event):
        if event["event"] in ("start", "render"):
            times[event.get("kind", "start")].append(time.perf_counter())

    start = time.perf_counter()
    run_worker(sample_plan(seed, options), out, record)
    total = time.perf_counter() - start
    # Steady state: mean interval between consecutive renders of a kind, first one excluded.
    frame_s = sum(float(np.diff(times[kind]).mean()) for kind in ("rgb", "labels"))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"setup_s": times["start"][0] - start, "frame_s": frame_s, "total_s": total,
            "kb_per_frame": size / options.n_frames / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--res", default="320x240")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    width, height = parse_resolution(args.res)
    base = PlanOptions(width=width, height=height, n_frames=args.frames)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for samples in (1, 16):
            for persistent in (False, True):
                options = dataclasses.replace(base, samples=samples, persistent_data=persistent)
                result = measure(options, args.seed, Path(tmp) / f"s{samples}_p{int(persistent)}")
                rows.append((samples, persistent, result))
    print(f"{args.res}, {args.frames} frames per clip, every pass, Cycles CPU (labels 1 spp + RGB N spp)")
    print(f"{'samples':>7} {'persistent':>10} {'setup s':>8} {'s/frame':>8} {'speed-up':>8} {'total s':>8} {'KB/frame':>9}")
    baseline = {s: r["frame_s"] for s, p, r in rows if not p}
    for samples, persistent, r in rows:
        print(f"{samples:>7} {str(persistent):>10} {r['setup_s']:>8.2f} {r['frame_s']:>8.3f} "
              f"{baseline[samples] / r['frame_s']:>7.2f}x {r['total_s']:>8.1f} {r['kb_per_frame']:>9.1f}")


if __name__ == "__main__":
    main()

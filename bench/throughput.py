"""End-to-end throughput of `synth render` against the present pipeline, measured in the same run.

    python bench/throughput.py [--quick] [--frames 100] [--res 320x240] [--shadings osl,nodes]

Every pass is written (RGB + depth, parts, flow both ways, normals, joints), Cycles on the CPU.

1. Baseline, "the present pipeline": the code of ``--baseline-commit`` (exported with ``git
   archive``, or ``--baseline-tree DIR``), one fresh Blender process per clip
   (``synth_cli.commands.render.run_worker``), every plan sampled up front; 1 and 16 samples.
2. Now: :class:`synth_cli.farm.local.LocalExecutor`, what `synth render` runs: persistent
   workers that sample their plans, 1 and 2 workers (threads = cores / workers), 1 and 16
   samples, each shading; two clips per worker. Frames/s = frames written / wall time from
   the executor's start (workers start inside it) to its end.
3. Time to the first rendered frame of ``--n 100000`` (the executor stopped at the first
   render event).
4. Worker memory (resident, from each clip's ``done`` event) over >= 2,000 frames in one
   worker, at a low resolution (the scene, not the image, is what could grow). The first
   clips fill bounded caches (the 8 most recent background images, ~60 MiB), so growth is
   judged over the second half of the run.
5. Where one frame's time goes: the worker's own ``timings`` (blender_addon.worker.Timings),
   per frame, for the 1-worker runs of step 2.

Timings on a shared machine are noisy: compare rows of one run, not across runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from synth_cli.commands.render import parse_resolution  # noqa: E402
from synth_cli.farm.local import LocalExecutor, WorkerSettings  # noqa: E402
from synth_cli.farm.progress import Reporter  # noqa: E402
from synth_cli.farm.workplan import Shard, WorkPlan  # noqa: E402
from synth_core.scene.plan import PlanOptions  # noqa: E402

BASELINE_COMMIT = "57cdad5"  # the last commit with the animated per-frame path and its costs
FRAME_STAGES = ("pose", "render_rgb", "render_labels", "exr_write", "exr_read", "convert", "write")
CLIP_STAGES = ("plan", "inputs", "build")

# Run inside the baseline tree: plans first, then one fresh worker process per clip.
BASELINE_SCRIPT = """
import json, sys
from pathlib import Path
from synth_cli.commands.render import run_worker
from synth_core.scene.plan import PlanOptions, sample_plan
options, seeds, out = PlanOptions.from_dict(json.loads(sys.argv[1])), json.loads(sys.argv[2]), Path(sys.argv[3])
plans = [sample_plan(seed, options) for seed in seeds]
for plan in plans:
    run_worker(plan, out / f"clip_{plan.seed:08d}")
"""


class Recorder(Reporter):
    """The executor's reporter: keeps every ``done`` event and the time of the first render."""

    def __init__(self, n_clips: int, frames_per_clip: int, on_first_render=None) -> None:
        super().__init__(Console(file=open(os.devnull, "w")), n_clips, frames_per_clip, 2)
        self.done: list[dict] = []
        self.failures: list[str] = []
        self.first_render: float | None = None
        self.on_first_render = on_first_render

    def worker_event(self, slot: int, seed: int, event: dict) -> None:
        super().worker_event(slot, seed, event)
        if event["event"] == "render" and self.first_render is None:
            self.first_render = time.perf_counter()
            if self.on_first_render is not None:
                threading.Thread(target=self.on_first_render, daemon=True).start()
        elif event["event"] == "done":
            self.done.append(event)

    def clip_finished(self, slot: int, seed: int, ok: bool, message: str) -> None:
        super().clip_finished(slot, seed, ok, message)
        if not ok:
            self.failures.append(f"seed {seed}: {message}")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_executor(options: PlanOptions, seeds, out: Path, workers: int, recycle_clips: int = 50,
                 stop_at_first_render: bool = False) -> tuple[float, Recorder]:
    """(wall seconds, recorder) of LocalExecutor rendering ``seeds`` into ``out``."""
    settings = WorkerSettings(workers=workers, threads=max(1, cores() // workers), recycle_clips=recycle_clips)
    out.mkdir(parents=True)
    recorder = Recorder(len(seeds), options.n_frames)
    executor = LocalExecutor(out, options.to_dict(), settings, recorder)
    if stop_at_first_render:
        recorder.on_first_render = executor.stop
    start = time.perf_counter()
    executor.run(seeds)
    seconds = time.perf_counter() - start
    if recorder.failures:
        raise SystemExit("clips failed: " + "; ".join(recorder.failures))
    return seconds, recorder


def baseline_tree(args, scratch: Path) -> tuple[Path, str]:
    """The baseline's source tree and its commit id."""
    if args.baseline_tree:
        return Path(args.baseline_tree).resolve(), "tree " + str(args.baseline_tree)
    commit = subprocess.run(["git", "rev-parse", args.baseline_commit], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    tree = scratch / f"baseline-{commit[:10]}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree, commit


def run_baseline(tree: Path, options: PlanOptions, seeds, out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", BASELINE_SCRIPT, json.dumps(options.to_dict()),
                             json.dumps(list(seeds)), str(out)], cwd=tree, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"baseline failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return seconds


def per_frame_ms(done: list[dict]) -> dict[str, float]:
    frames = sum(event["frames"] for event in done)
    totals = {stage: sum(event.get("timings", {}).get(stage, 0.0) for event in done)
              for stage in CLIP_STAGES + FRAME_STAGES}
    return {stage: 1000 * seconds / frames for stage, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="20-frame clips, one shading, 400 frames for memory (a smoke run, ~3 minutes)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default 100, --quick 20)")
    parser.add_argument("--res", default="320x240")
    parser.add_argument("--shadings", default=None, help="comma-separated (default osl,nodes; --quick nodes)")
    parser.add_argument("--samples", default="1,16")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--memory-frames", type=int, default=None, help="default 2000 (--quick 400)")
    parser.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    parser.add_argument("--baseline-tree", default=None, help="a checkout of the baseline instead of git archive")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    frames = args.frames or (20 if args.quick else 100)
    shadings = (args.shadings or ("nodes" if args.quick else "osl,nodes")).split(",")
    memory_frames = args.memory_frames or (400 if args.quick else 2000)
    width, height = parse_resolution(args.res)
    base = PlanOptions(width=width, height=height, n_frames=frames)
    samples_list = [int(s) for s in args.samples.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]
    rows, breakdown = [], {}
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as scratch:
        scratch = Path(scratch)
        baseline_fps = {}
        if not args.no_baseline:
            tree, commit = baseline_tree(args, scratch)
            print(f"baseline: {commit} (fresh process per clip, plans sampled up front)", flush=True)
            for samples in samples_list:
                options = dataclasses.replace(base, samples=samples)
                seconds = run_baseline(tree, options, [0], scratch / f"baseline-{samples}")
                baseline_fps[samples] = frames / seconds
                rows.append((samples, "baseline", 1, 1, frames, seconds))
                print(f"  {samples:>2} spp: {frames / seconds:.2f} frames/s", flush=True)
        for samples in samples_list:
            for shading in shadings:
                for workers in worker_counts:
                    options = dataclasses.replace(base, samples=samples, shading=shading)
                    seeds = range(2 * workers)
                    seconds, recorder = run_executor(options, seeds, scratch / f"now-{samples}-{shading}-{workers}",
                                                     workers)
                    n = sum(event["frames"] for event in recorder.done)
                    rows.append((samples, f"now {shading}", workers, len(seeds), n, seconds))
                    print(f"  {samples:>2} spp {shading} {workers} worker(s): {n / seconds:.2f} frames/s", flush=True)
                    if workers == 1:
                        breakdown[(samples, shading)] = per_frame_ms(recorder.done)

        first_options = dataclasses.replace(base, samples=16)
        plan_start = time.perf_counter()
        seeds = WorkPlan.of(0, 100_000, "clips", frames).seeds(Shard())
        seconds, recorder = run_executor(first_options, seeds, scratch / "first-frame", 1, stop_at_first_render=True)
        first_frame_s = recorder.first_render - plan_start

        memory_options = dataclasses.replace(base, width=160, height=120, samples=1, shading="nodes", n_frames=100,
                                             rgb_format="png")
        n_clips = -(-memory_frames // memory_options.n_frames)
        seconds, recorder = run_executor(memory_options, range(1000, 1000 + n_clips), scratch / "memory", 1,
                                         recycle_clips=n_clips + 1)
        rss = [event["rss_mb"] for event in recorder.done]

    print(f"\n== End to end, {args.res}, {frames}-frame clips, every pass, Cycles CPU, {cores()} cores ==")
    print(f"{'spp':>3} {'pipeline':14} {'workers':>7} {'clips':>5} {'frames':>6} {'seconds':>8} {'frames/s':>8} "
          f"{'vs baseline':>11}")
    for samples, name, workers, clips, n, seconds in rows:
        ratio = f"{n / seconds / baseline_fps[samples]:10.2f}x" if samples in baseline_fps else f"{'-':>11}"
        print(f"{samples:>3} {name:14} {workers:>7} {clips:>5} {n:>6} {seconds:>8.1f} {n / seconds:>8.2f} {ratio}")
    print(f"\nTime to the first rendered frame of --n 100000 (16 spp, 1 worker): {first_frame_s:.1f} s")
    half = len(rss) // 2
    settled = rss[half:]
    print(f"\nWorker memory over {sum(e['frames'] for e in recorder.done)} frames ({n_clips} clips of 100 frames, "
          f"160x120, 1 spp, nodes, one worker), resident MiB: after clip 1 {rss[0]:.0f}, clip {half + 1} "
          f"{rss[half]:.0f}, last {rss[-1]:.0f}, max {max(rss):.0f}; second half: last vs first "
          f"{100 * (rss[-1] / rss[half] - 1):+.1f}%, max vs min {100 * (max(settled) / min(settled) - 1):.1f}%")
    print("  per clip: " + " ".join(f"{value:.0f}" for value in rss))
    print("\n== Where one frame's time goes (ms per frame, 1 worker; per-clip stages spread over its frames) ==")
    stages = CLIP_STAGES + FRAME_STAGES
    print(f"{'spp':>3} {'shading':8} " + " ".join(f"{stage:>13}" for stage in stages) + f" {'sum':>7}")
    for (samples, shading), ms in breakdown.items():
        print(f"{samples:>3} {shading:8} " + " ".join(f"{ms[stage]:>13.1f}" for stage in stages)
              + f" {sum(ms.values()):>7.1f}")


if __name__ == "__main__":
    main()

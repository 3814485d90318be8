"""`synth render`: sample scene plans from seeds and render them with headless Blender workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from synth_core.errors import PlanError, RenderError
from synth_core.scene.plan import PASSES, PlanOptions, ScenePlan, sample_plan

PROGRESS_PREFIX = "SYNTH "  # the worker's progress lines (blender_addon.worker)


def clip_name(seed: int) -> str:
    return f"clip_{seed:08d}"


def parse_resolution(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise PlanError(f"--res must look like 320x240, got {value!r}") from None
    return width, height


@click.command("render")
@click.option("--n", "count", type=click.IntRange(min=1), default=1, show_default=True,
              help="Number of clips to render.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Dataset folder; each clip becomes OUT/clip_<seed>/.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the first clip; clip i uses seed + i (same seed, same clip, anywhere).")
@click.option("--samples", type=int, default=16, show_default=True, help="Cycles samples per pixel for RGB.")
@click.option("--res", "resolution", default="320x240", show_default=True, help="WIDTHxHEIGHT in pixels.")
@click.option("--frames", type=int, default=100, show_default=True, help="Frames per clip (30 fps).")
@click.option("--passes", default=",".join(PASSES), show_default=True,
              help="Comma-separated passes to write.")
@click.option("--shading", type=click.Choice(["osl", "nodes"]), default="osl", show_default=True,
              help="SH lighting as the OSL shader (SURREAL's) or the equivalent node group.")
@click.option("--body", "body_source", type=click.Choice(["default", "smpl"]), default="default",
              show_default=True, help="default = free body; smpl = your licensed files.")
@click.option("--amass", "amass_files", multiple=True, type=click.Path(path_type=Path),
              help="AMASS .npz file(s) to take motion from (repeatable); default: procedural motion.")
@click.option("--background-dir", type=click.Path(path_type=Path),
              help="A folder of your own background images, used instead of the free ones.")
@click.option("--rgb-format", type=click.Choice(["jpeg", "png"]), default="jpeg", show_default=True)
@click.option("--no-persistent-data", is_flag=True, help="Rebuild Cycles' scene data every frame.")
def render(count, out, seed, samples, resolution, frames, passes, shading, body_source,
           amass_files, background_dir, rgb_format, no_persistent_data) -> None:
    """Render COUNT clips into OUT, each with every ground-truth pass.

    A clip folder only appears once all its files are written; clips already in
    OUT are skipped, so re-running the same command resumes an interrupted dataset.
    Look at a clip with `synth preview OUT/clip_<seed>`.

    Example: `synth render --n 1 --out demo_out --frames 10`.
    """
    width, height = parse_resolution(resolution)
    options = PlanOptions(
        width=width, height=height, samples=samples, n_frames=frames, shading=shading,
        passes=tuple(p.strip() for p in passes.split(",") if p.strip()), body_source=body_source,
        motion_source="amass" if amass_files else "procedural",
        amass_files=tuple(str(p) for p in amass_files),
        background_kinds=() if background_dir else ("hdri", "photo"),
        background_dir=str(background_dir) if background_dir else None,
        persistent_data=not no_persistent_data, rgb_format=rgb_format)
    _require_bpy()
    out.mkdir(parents=True, exist_ok=True)
    seeds = [s for s in range(seed, seed + count) if not (out / clip_name(s)).is_dir()]
    console = Console(stderr=True)
    if len(seeds) < count:
        console.print(f"{count - len(seeds)} clip(s) already complete in {out}; skipping them.")
    plans = [sample_plan(s, options) for s in seeds]  # every plan is checked before rendering
    with _progress(console) as progress:
        renders_per_clip = frames * (2 if "rgb" in options.passes else 1)  # RGB + labels
        task = progress.add_task("rendering", total=len(plans) * renders_per_clip)
        for plan in plans:
            progress.update(task, description=clip_name(plan.seed))
            run_worker(plan, out / clip_name(plan.seed),
                       lambda event: progress.advance(task) if event["event"] == "render" else None)
    console.print(f"[green]{len(plans)} clip(s) rendered into {out}[/]")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


def _require_bpy() -> None:
    if find_spec("bpy") is None:
        raise RenderError("rendering needs Blender as a Python module: pip install -e '.[blender]' "
                          "(bpy 5.0.1, Python 3.11)")


def run_worker(plan: ScenePlan, clip_dir: Path, on_event=None) -> None:
    """Render one plan in a fresh Blender process; raise RenderError with its message on failure.

    ``on_event`` receives each progress event of the worker (``{"event": "render",
    "kind": "rgb" | "labels", "frame": i}``, ...)."""
    with tempfile.TemporaryDirectory(prefix="synth-plan-") as tmp:
        plan_path = Path(tmp) / "plan.json"
        plan_path.write_text(plan.to_json())
        command = [sys.executable, "-m", "blender_addon.worker", "--plan", str(plan_path), "--out", str(clip_dir)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=env, cwd=Path(__file__).resolve().parents[2])
        error, tail = None, []
        for line in process.stdout:
            if line.startswith(PROGRESS_PREFIX):
                event = json.loads(line[len(PROGRESS_PREFIX):])
                if on_event is not None:
                    on_event(event)
                if event["event"] == "error":
                    error = event["message"]
            else:
                tail = (tail + [line.rstrip()])[-20:]
        code = process.wait()
    if code != 0:
        detail = error or "\n".join(tail)
        raise RenderError(f"Blender worker failed on seed {plan.seed} (exit {code}): {detail}")

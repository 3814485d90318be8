"""`synth render`: sample scene plans from seeds and render them with headless Blender workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from synth_core.dataset.format import PARTIAL_SUFFIX
from synth_core.errors import PlanError, RenderError
from synth_core.scene.plan import PASSES, PlanOptions, ScenePlan, sample_plan

PROGRESS_PREFIX = "SYNTH "  # the worker's progress lines (blender_addon.worker)
WORK_SUFFIX = ".work"       # a clip's scratch folder, beside it: plan, texture, RGB frames
LOG_TAIL_LINES = 10         # of a worker's own output, shown when it fails without saying why


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
        passes=parse_passes(passes), body_source=body_source,
        motion_source="amass" if amass_files else "procedural",
        amass_files=tuple(str(p.expanduser().resolve()) for p in amass_files),
        background_kinds=() if background_dir else ("hdri", "photo"),
        background_dir=str(background_dir.expanduser().resolve()) if background_dir else None,
        persistent_data=not no_persistent_data, rgb_format=rgb_format)
    _require_bpy()
    # Absolute before anything crosses a process boundary: workers run in another folder.
    out, created = prepare_output(out)
    try:
        rendered = _render_all(out, seed, count, options)
    except BaseException:
        if created and not any(out.iterdir()):  # an input error: leave no empty OUT behind
            out.rmdir()
        raise
    Console(stderr=True).print(f"[green]{rendered} clip(s) rendered into {escape(str(out))}[/]")


def _render_all(out: Path, seed: int, count: int, options: PlanOptions) -> int:
    seeds = [s for s in range(seed, seed + count) if not (out / clip_name(s)).is_dir()]
    console = Console(stderr=True)
    if len(seeds) < count:
        console.print(f"{count - len(seeds)} clip(s) already complete in {escape(str(out))}; skipping them.")
    plans = [sample_plan(s, options) for s in seeds]  # every plan is checked before rendering
    with _progress(console) as progress:
        renders_per_clip = options.n_frames * (2 if "rgb" in options.passes else 1)  # RGB + labels
        task = progress.add_task("rendering", total=len(plans) * renders_per_clip)

        def on_event(event: dict) -> None:
            if event["event"] == "render":
                progress.advance(task)
            elif event["event"] == "start":  # a clip may be shorter (a short AMASS file)
                progress.update(task, total=progress.tasks[0].total - renders_per_clip + event["renders"])

        for plan in plans:
            progress.update(task, description=clip_name(plan.seed))
            run_worker(plan, out / clip_name(plan.seed), on_event)
    return len(plans)


def parse_passes(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise PlanError(f"--passes names no pass; give a comma-separated list of {', '.join(PASSES)}")
    return names


def prepare_output(out: Path) -> tuple[Path, bool]:
    """``out`` made absolute, created if needed and checked writable; and whether it was created.
    Raises RenderError naming the path and the reason (a file, read-only, no permission)."""
    out = out.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise RenderError(f"--out {out} is a file; give a folder (it is created if missing)")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # read-only file systems pass every other check
            pass
    except OSError as exc:
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise RenderError(f"cannot write into --out {out}: {exc.strerror or exc}") from None
    return out, created


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


def _require_bpy() -> None:
    if find_spec("bpy") is None:
        raise RenderError("rendering needs Blender as a Python module: pip install -e '.[blender]' "
                          "(bpy 5.0.1, Python 3.11)")


def run_worker(plan: ScenePlan, clip_dir: Path, on_event=None) -> None:
    """Render one plan in a fresh Blender process; raise RenderError with its message on failure.

    The worker's scratch files (plan, texture, RGB frames) live in ``<clip_dir>.work/`` beside
    the clip, never in /tmp: a killed run leaves nothing outside the dataset, and the next
    attempt at the same clip clears it. ``on_event`` receives each progress event of the
    worker (``{"event": "render", "kind": "rgb" | "labels", "frame": i}``, ...)."""
    clip_dir = Path(clip_dir).expanduser().resolve()
    work_dir = clip_dir.with_name(clip_dir.name + WORK_SUFFIX)
    shutil.rmtree(work_dir, ignore_errors=True)  # left by a killed attempt at this clip
    try:
        work_dir.mkdir(parents=True)
        plan_path = work_dir / "plan.json"
        plan_path.write_text(plan.to_json())
        code, error, tail = _run_worker_process(plan_path, clip_dir, work_dir, on_event)
    except OSError as exc:
        raise RenderError(f"cannot prepare seed {plan.seed} in {work_dir}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if code != 0:  # a killed worker cannot clean up after itself
        shutil.rmtree(clip_dir.with_name(clip_dir.name + PARTIAL_SUFFIX), ignore_errors=True)
    if code < 0:
        raise RenderError(f"Blender worker for seed {plan.seed} was {_signal_text(-code)}")
    if code != 0:
        detail = error or "its last output lines:\n" + "\n".join(tail)
        raise RenderError(f"Blender worker failed on seed {plan.seed} (exit code {code}): {detail}")


def _run_worker_process(plan_path: Path, clip_dir: Path, work_dir: Path, on_event):
    """Run ``blender_addon.worker``; returns (exit code, its error message or None, log tail)."""
    command = [sys.executable, "-P", "-m", "blender_addon.worker", "--plan", str(plan_path),
               "--out", str(clip_dir), "--work-dir", str(work_dir)]
    # TMPDIR: Blender's own temporary files (compiled OSL shaders) go into the work folder too.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _import_root_path(), "TMPDIR": str(work_dir)}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=env, cwd=work_dir)
    error, tail = None, []
    for line in process.stdout:
        if line.startswith(PROGRESS_PREFIX):
            event = json.loads(line[len(PROGRESS_PREFIX):])
            if on_event is not None:
                on_event(event)
            if event["event"] == "error":
                error = event["message"]
        else:
            tail = (tail + [line.rstrip()])[-LOG_TAIL_LINES:]
    return process.wait(), error, tail


def _import_root_path() -> str:
    """PYTHONPATH for the worker: the folder this process imports ``blender_addon`` from first,
    so the worker runs the same code (a checkout, an editable install or a wheel)."""
    root = str(Path(find_spec("blender_addon").origin).resolve().parents[1])
    return os.pathsep.join([root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])


def _signal_text(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown signal"
    hint = " (out of memory, or killed by a user or a scheduler)" if number == signal.SIGKILL else ""
    return f"killed by signal {number} ({name}){hint}"

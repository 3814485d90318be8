"""`synth render`: render a dataset of clips with persistent headless Blender workers.

Clip ``i`` has seed ``--seed + i`` and its plan is sampled from that seed alone by the worker
that renders it (:mod:`synth_cli.farm.workplan`), so the dataset is the same whatever the
workers, shards or interruptions. Completed clips are skipped: re-running resumes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tomllib
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from synth_cli.farm.local import LocalExecutor, WorkerSettings, clip_name, cores
from synth_cli.farm.progress import make_reporter
from synth_cli.farm.workers import WorkerProcess, check_device, render_job
from synth_cli.farm.workplan import UNITS, Shard, WorkPlan, shard_from_environment
from synth_core.dataset.format import process_tag
from synth_core.dataset.index import DatasetIndex
from synth_core.errors import PlanError, RenderError
from synth_core.scene.plan import (CAMERAS, ENGINES, MAX_OCCLUDERS, MOTION_SOURCES, OSL_DEVICES, PASSES, RENDER_DEVICES,
                                   SCENES, PlanOptions, ScenePlan, motion_file_frames, sample_plan)
from synth_core.textures import MAX_SIZE as TEXTURE_MAX_SIZE, MIN_SIZE as TEXTURE_MIN_SIZE


EXECUTORS = ("local", "slurm", "ray")


def parse_resolution(value: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise PlanError(f"--res must look like 320x240, got {value!r}") from None
    return width, height


def load_config_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--config job.toml``: every key is a flag of this command (``n = 1000``, ``res =
    "640x480"``, ``amass = ["a.npz"]``, ``no-persistent-data = true``); flags given on the
    command line win. Unknown keys are an error naming them."""
    if value is None:
        return None
    try:
        with open(value, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"cannot read {value}: {exc}", ctx, param) from None
    names = {option.lstrip("-").replace("-", "_"): p.name for p in ctx.command.params
             for option in p.opts if p.name not in ("config", "help")}
    unknown = sorted(key for key in data if key.replace("-", "_") not in names)
    if unknown:
        raise click.BadParameter(f"{value}: unknown key(s) {', '.join(unknown)}; keys are the flags of "
                                 f"`{ctx.command_path}` ({', '.join(sorted(names))})", ctx, param)
    ctx.default_map = {**(ctx.default_map or {}), **{names[key.replace("-", "_")]: v for key, v in data.items()}}
    return value


@click.command("render")
@click.option("--config", type=click.Path(exists=True, dir_okay=False), is_eager=True, expose_value=False,
              callback=load_config_file,
              help="A TOML file of flags (e.g. n = 1000, res = \"640x480\", workers = 2); flags given here win.")
@click.option("--n", "count", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many clips (or frames, with --unit frames) the dataset holds.")
@click.option("--unit", type=click.Choice(UNITS), default="clips", show_default=True,
              help="What --n counts; with 'frames', enough clips for that many frames.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Dataset folder; each clip becomes OUT/clip_<seed>/.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the first clip; clip i uses seed + i (same seed, same clip, anywhere).")
@click.option("--samples", type=int, default=16, show_default=True, help="Samples per pixel for RGB.")
@click.option("--res", "resolution", default="320x240", show_default=True, help="WIDTHxHEIGHT in pixels.")
@click.option("--frames", type=int, default=100, show_default=True, help="Frames per clip (30 fps).")
@click.option("--passes", default=",".join(PASSES), show_default=True,
              help="Comma-separated passes to write.")
@click.option("--shading", type=click.Choice(["osl", "nodes"]), default="osl", show_default=True,
              help="SH lighting as the OSL shader (SURREAL's) or the equivalent node group.")
@click.option("--engine", type=click.Choice(ENGINES), default="cycles", show_default=True,
              help="Cycles, or Eevee through OpenGL (needs --shading nodes; labels from AOVs).")
@click.option("--scene", type=click.Choice(SCENES), default="composite", show_default=True,
              help="composite: the body alone over a 2-D background (SURREAL's); grounded: feet on a "
                   "ground plane whose shadow (lit from the clip's SH light) darkens the background "
                   "(Cycles only; labels unchanged).")
@click.option("--body", "body_source", type=click.Choice(["default", "smpl"]), default="default",
              show_default=True, help="default = free body; smpl = your licensed files.")
@click.option("--motion", "motion_source", type=click.Choice(MOTION_SOURCES), default=None,
              help="procedural: the 11 built-in motions; amass / bvh: windows of the --amass / --bvh files; "
                   "prior: still or slowly changing poses from Chen et al.'s pose prior, learned from the "
                   "procedural motions and any --amass/--bvh files. [default: amass with --amass, bvh with "
                   "--bvh, else procedural]")
@click.option("--amass", "amass_files", multiple=True, type=click.Path(path_type=Path),
              help="AMASS .npz file(s) to take motion from (repeatable); default: procedural motion.")
@click.option("--bvh", "bvh_files", multiple=True, type=click.Path(path_type=Path),
              help="BVH file(s) to take motion from (repeatable), retargeted onto the body by joint names "
                   "(SMPL/Mixamo or CMU).")
@click.option("--prior-hold", "prior_hold_s", type=click.FloatRange(min=0.0), default=2.0, show_default=True,
              help="With --motion prior: seconds per key pose (0: one still pose per clip).")
@click.option("--camera", type=click.Choice(CAMERAS), default="static", show_default=True,
              help="static: SURREAL's placement; perturbed: Chen et al.'s Gaussian perturbations of azimuth, "
                   "elevation and in-plane roll (std 45, 15, 15 degrees) and a focal length of 35-85 mm, the "
                   "body still kept in view; moving: pans, tilts, zooms and dollies through the clip "
                   "(Doersch & Zisserman) over a background that moves with it as if at infinity, with "
                   "exact optical flow everywhere (composite scenes).")
@click.option("--occluders", type=click.IntRange(0, MAX_OCCLUDERS), default=0, show_default=True,
              help="Superpixel cards (cut from the free images, synth_core/data/occluders.npz) moved over "
                   "the person in each clip, and sometimes a few frames with the person totally hidden "
                   "(Doersch & Zisserman). Every pass follows: segmentation 25, the card's own depth, flow "
                   "and normals; joints behind a card are not visible.")
@click.option("--occluder-bank", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="With --occluders: a bank of your own (`synth occluders build --images DIR --out FILE`).")
@click.option("--background-dir", type=click.Path(path_type=Path),
              help="A folder of your own background images, used instead of the free ones.")
@click.option("--background-videos", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="With --camera moving: a folder of videos as backgrounds; the camera turns and zooms with "
                   "each video's camera (its exact track from `synth backgrounds video`, else estimated), so "
                   "the person moves with the background.")
@click.option("--texture-dir", type=click.Path(path_type=Path),
              help="A folder of square UV texture images (PNG/JPEG) for the body, used instead of "
                   "procedural clothing: e.g. SURREAL's textures with --body smpl, or `synth texture "
                   "transfer` output. Every file is checked before any worker starts.")
@click.option("--texture-size", type=click.IntRange(TEXTURE_MIN_SIZE, TEXTURE_MAX_SIZE), default=1024,
              show_default=True,
              help="Side in texels of each procedural clothing texture (painted per clip; --texture-dir "
                   "images keep their own size). 512 is plenty below ~640x480 and paints 5x faster: "
                   "one-frame clips render 1.7x faster, 5.8x with --shading nodes.")
@click.option("--rgb-format", type=click.Choice(["jpeg", "png"]), default="jpeg", show_default=True)
@click.option("--no-persistent-data", is_flag=True, help="Rebuild Cycles' scene data every frame.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Blender worker processes on this machine, each rendering many clips.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads per worker [default: the cores available / --workers].")
@click.option("--shard", default=None,
              help="Render only shard i/N of the clips (clip k belongs to shard k mod N); default: "
                   "from SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX + SYNTH_SHARD_COUNT, else all.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=None,
              help="Seconds one clip may take before its worker is killed and the clip retried.")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Extra attempts for a clip whose worker crashed, was killed or timed out.")
@click.option("--recycle", "recycle_clips", type=click.IntRange(min=1), default=50, show_default=True,
              help="Restart each worker after this many clips (bounds memory growth).")
@click.option("--max-worker-mb", type=click.FloatRange(min=100), default=None,
              help="Restart a worker once its resident memory passes this many MiB.")
@click.option("--blender", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Run workers inside this Blender binary instead of the bpy module of this Python.")
@click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True,
              help="local: workers on this machine; slurm: one job array through submitit (a task per "
                   "shard); ray: workers as actors of a Ray cluster.")
@click.option("--jobs", "n_jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --executor slurm: array tasks (shards), each running --workers workers.")
@click.option("--slurm", "slurm_pairs", multiple=True, metavar="KEY=VALUE",
              help="With --executor slurm: a submitit parameter (repeatable), e.g. timeout_min=600, "
                   "slurm_partition=gpu, cpus_per_task=8, mem_gb=32, gpus_per_node=1.")
@click.option("--address", default=None,
              help="With --executor ray: the cluster (host:6379, ray://host:10001, auto); default "
                   "$RAY_ADDRESS, else a private cluster on this machine (127.0.0.1 only).")
@click.option("--device", type=click.Choice(RENDER_DEVICES), default="cpu", show_default=True,
              help="Cycles device of every worker; checked before any work (OSL needs cpu or optix).")
@click.option("--plan", "plan_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Render exactly this scene plan (JSON, e.g. exported by the add-on) into OUT/clip_<seed>; "
                   "the plan fixes everything the sampling flags would choose.")
@click.pass_context
def render(ctx, count, unit, out, seed, samples, resolution, frames, passes, shading, body_source, motion_source,
           amass_files, bvh_files, prior_hold_s, camera, occluders, occluder_bank, background_dir, background_videos,
           texture_dir, texture_size, rgb_format, no_persistent_data, workers, threads, shard, timeout_s, retries, recycle_clips, max_worker_mb,
           blender, executor, n_jobs, slurm_pairs, address, device, engine, scene, plan_file) -> None:
    """Render a dataset of clips into OUT, each with every ground-truth pass.

    A clip folder only appears once all its files are written; clips already in OUT are
    skipped, so re-running the same command resumes an interrupted dataset. Failing clips
    are retried, then listed (exit code 1) while the others go on.
    Look at a clip with `synth preview OUT/clip_<seed>`.

    Example: `synth render --n 1 --out demo_out --frames 10`.
    """
    if plan_file is not None:
        return render_plan_file(ctx, plan_file, out, blender, threads, device, timeout_s)
    width, height = parse_resolution(resolution)
    options = PlanOptions(
        width=width, height=height, samples=samples, n_frames=frames, shading=shading, engine=engine,
        passes=parse_passes(passes), body_source=body_source,
        motion_source=motion_source or ("amass" if amass_files else "bvh" if bvh_files else "procedural"),
        amass_files=tuple(str(p.expanduser().resolve()) for p in amass_files),
        bvh_files=tuple(str(p.expanduser().resolve()) for p in bvh_files), prior_hold_s=prior_hold_s,
        camera=camera, occluders=occluders,
        occluder_bank=str(occluder_bank.expanduser().resolve()) if occluder_bank else None,
        background_kinds=() if background_dir else ("hdri", "photo"),
        background_dir=str(background_dir.expanduser().resolve()) if background_dir else None,
        background_videos=str(background_videos.expanduser().resolve()) if background_videos else None,
        texture_dir=str(texture_dir.expanduser().resolve()) if texture_dir else None,
        texture_size=texture_size,
        persistent_data=not no_persistent_data, rgb_format=rgb_format, scene=scene)
    slurm_parameters = _check_executor(executor, shard, n_jobs, slurm_pairs, address)
    shard = Shard.parse(shard) if shard else (shard_from_environment() or Shard())
    workplan = WorkPlan.of(seed, count, unit, frames)
    # On SLURM each task divides its own CPUs (the submitting node's count means nothing there).
    default_threads = None if executor == "slurm" else max(1, cores() // workers)
    settings = WorkerSettings(workers=workers, threads=threads or default_threads,
                              blender=str(Path(blender).resolve()) if blender else None, device=device,
                              timeout_s=timeout_s,
                              retries=retries, recycle_clips=recycle_clips, max_rss_mb=max_worker_mb)
    if blender is None:
        _require_bpy()
    if shading == "osl" and device not in OSL_DEVICES:
        raise RenderError(f"--device {device} cannot run OSL shaders (only {' and '.join(OSL_DEVICES)} can); "
                          "use --shading nodes, the same lighting as a node group")
    if device != "cpu":
        check_device(device, settings.blender)  # a missing GPU fails here, not in every worker
    if engine == "eevee":  # without OpenGL Blender would abort every worker: fail here instead
        try:
            check_device("eevee", settings.blender)
        except RenderError as exc:
            raise RenderError(f"--engine eevee: Blender cannot render with Eevee here (it needs OpenGL: "
                              f"a GPU driver or Mesa): {exc}") from exc
    sample_plan(seed, options)  # bad options or inputs fail here, before any folder or worker exists
    for source, files in (("amass", options.amass_files), ("bvh", options.bvh_files)):
        for path in files:  # every motion file, not only the first plan's
            motion_file_frames(source, path, options.fps)
    # Absolute before anything crosses a process boundary: workers run in another folder.
    out, created = prepare_output(out)
    console = Console(stderr=True)
    try:
        index = DatasetIndex(out)
        index.claim_config(dataset_config(seed, options))
        index.record_request(process_tag(), workplan.n_clips)  # what `synth status` counts as remaining
        if executor == "slurm":
            summary = _render_slurm(out, workplan, options, settings, n_jobs, slurm_parameters, console)
        else:
            summary = _render_shard(out, workplan, shard, options, settings, console, executor, address)
    except BaseException:
        if created and not any(out.iterdir()):  # nothing was made: leave no empty OUT behind
            out.rmdir()
        raise
    _report(console, out, summary)


# Flags whose choices a scene plan already holds: refused together with --plan.
PLAN_FIXES = ("count", "unit", "seed", "samples", "resolution", "frames", "passes", "shading", "engine", "body_source",
              "motion_source", "amass_files", "bvh_files", "prior_hold_s", "camera", "occluders", "occluder_bank",
              "background_dir", "background_videos", "texture_dir", "rgb_format", "no_persistent_data", "scene",
              "workers", "shard",
              "executor", "n_jobs", "slurm_pairs", "address")


def render_plan_file(ctx: click.Context, plan_file: Path, out: Path, blender, threads, device: str,
                     timeout_s) -> None:
    """`synth render --plan FILE --out OUT`: one clip, OUT/clip_<seed>, exactly as the plan says."""
    given = [name for name in PLAN_FIXES
             if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)]
    if given:
        flags = ", ".join("--" + next(p.opts[0] for p in ctx.command.params if p.name == n).lstrip("-")
                          for n in given)
        raise RenderError(f"--plan fixes what {flags} would choose: give the plan alone")
    try:
        plan = ScenePlan.from_json(plan_file.read_text())
    except OSError as exc:
        raise RenderError(f"cannot read plan file {plan_file}: {exc.strerror or exc}") from None
    except PlanError as exc:
        raise PlanError(f"{plan_file} is not a valid scene plan: {exc}") from None
    if threads or device != "cpu" or blender:
        raise RenderError("--plan renders with this Python's bpy on the CPU; --threads, --device and "
                          "--blender are for datasets")
    _require_bpy()
    out, _ = prepare_output(out)
    clip_dir = out / clip_name(plan.seed)
    if clip_dir.exists():
        raise RenderError(f"{clip_dir} already exists: nothing already rendered is overwritten")
    with Console(stderr=True).status(f"Rendering {plan_file.name} ({plan.motion['n_frames']} frames)..."):
        run_worker(plan, clip_dir, timeout_s=timeout_s)
    click.echo(str(clip_dir))


def _check_executor(executor: str, shard: str | None, n_jobs: int, slurm_pairs, address) -> dict:
    """Refuse inconsistent executor flags and a missing engine before any work."""
    if executor != "slurm" and (n_jobs != 1 or slurm_pairs):
        raise PlanError("--jobs and --slurm go with --executor slurm")
    if executor != "ray" and address:
        raise PlanError("--address goes with --executor ray")
    if executor == "slurm":
        from synth_cli.farm.slurm import parse_slurm_parameters, require_sbatch, require_submitit

        if shard:
            raise PlanError("--executor slurm makes its own shards (--jobs); leave out --shard")
        require_submitit()
        parameters = parse_slurm_parameters(slurm_pairs)
        require_sbatch()
        return parameters
    if executor == "ray":
        from synth_cli.farm.ray_cluster import import_ray

        import_ray()
    return {}


def _render_slurm(out: Path, workplan: WorkPlan, options: PlanOptions, settings: WorkerSettings, n_jobs: int,
                  slurm_parameters: dict, console: Console):
    from synth_cli.farm.slurm import submit_slurm, wait_for_shards

    jobs = submit_slurm(out, workplan.first_seed, workplan.n_clips, options.to_dict(), settings, n_jobs,
                        slurm_parameters)
    console.print(f"Submitted a SLURM array of {len(jobs)} task(s): {', '.join(str(j.job_id) for j in jobs[:4])}"
                  f"{' ...' if len(jobs) > 4 else ''}; logs in {escape(str(out / '.synth' / 'slurm'))}",
                  highlight=False)
    renders_per_frame = 2 if "rgb" in options.passes else 1
    remaining = [s for s in workplan.seeds() if not (out / clip_name(s)).is_dir()]
    with make_reporter(console, len(remaining), options.n_frames, renders_per_frame) as reporter:
        return wait_for_shards(jobs, out, workplan.first_seed, reporter)


def _render_shard(out: Path, workplan: WorkPlan, shard: Shard, options: PlanOptions, settings: WorkerSettings,
                  console: Console, executor: str = "local", address: str | None = None):
    existing = {entry.name for entry in os.scandir(out)}
    seeds = [s for s in workplan.seeds(shard) if clip_name(s) not in existing]
    owned = len(workplan.seeds(shard))
    where = f" (shard {shard})" if shard.count > 1 else ""
    if len(seeds) < owned:
        console.print(f"{owned - len(seeds)} of {owned} clip(s){where} already complete in "
                      f"{escape(str(out))}; skipping them.", highlight=False)
    renders_per_frame = 2 if "rgb" in options.passes else 1  # RGB + labels
    with make_reporter(console, len(seeds), options.n_frames, renders_per_frame) as reporter:
        if executor == "ray":
            from synth_cli.farm.ray_cluster import RayExecutor

            return RayExecutor(out, options.to_dict(), settings, reporter, address=address).run(seeds)
        return LocalExecutor(out, options.to_dict(), settings, reporter).run(seeds)


def _report(console: Console, out: Path, summary) -> None:
    job_ids = getattr(summary, "job_ids", None)
    if summary.interrupted and job_ids:
        console.print(f"[yellow]Stopped waiting; the SLURM array keeps running[/] (jobs {', '.join(job_ids)}). "
                      f"Follow it with `synth status {escape(str(out))}`; stop it with scancel.", highlight=False)
        sys.exit(130)
    if summary.interrupted:
        console.print(f"[yellow]Interrupted after {len(summary.rendered)} clip(s); re-run the same "
                      "command to resume.[/]")
        sys.exit(130)
    if summary.stopped_by:
        console.print(f"[red]Stopped: the output cannot be written[/] ({escape(summary.stopped_by)}). "
                      f"The {len(summary.rendered)} clip(s) completed in this run and all earlier ones are "
                      "complete and valid; free space and re-run the same command to resume.", highlight=False)
        sys.exit(1)
    console.print(f"[green]{len(summary.rendered)} clip(s) rendered into {escape(str(out))}[/]")
    failed_shards = getattr(summary, "failed_shards", {})
    for shard_index, reason in sorted(failed_shards.items()):
        console.print(f"[red]SLURM task {shard_index} failed:[/] {escape(reason)}", highlight=False)
    if summary.failed:
        console.print(f"[red]{len(summary.failed)} clip(s) failed[/] (recorded in "
                      f"{escape(str(out / '.synth' / 'failed'))}):", highlight=False)
        for failed_seed, reason in sorted(summary.failed.items()):
            console.print(f"  {clip_name(failed_seed)}: {escape(reason)}", highlight=False)
    if summary.failed or failed_shards:
        sys.exit(1)


def dataset_config(first_seed: int, options: PlanOptions) -> dict:
    """What makes a dataset itself (identity: same seeds and options, same clips) and where it
    came from (provenance: versions, asset checksums, the command)."""
    from synth_core.assets import load_manifest

    versions = {name: _version(name) for name in ("synth-humans", "bpy", "numpy")}
    assets = {asset.id: asset.sha256 for asset in load_manifest() if asset.sha256}
    return {"identity": {"first_seed": first_seed, "options": identity_options(options)},
            "provenance": {"versions": versions, "assets": assets, "created": time.time(),
                           "command": sys.argv}}


# Options added after datasets were rendered without them, with the value those datasets
# used: left out of the identity at that value, so such a dataset still resumes.
OPTIONS_ADDED_LATER = {"scene": "composite", "texture_dir": None, "bvh_files": [], "prior_hold_s": 2.0,
                       "occluders": 0, "occluder_bank": None, "camera": "static", "background_videos": None}


def identity_options(options: PlanOptions) -> dict:
    """The options that make a dataset, as recorded in its config (see OPTIONS_ADDED_LATER)."""
    return {key: value for key, value in options.to_dict().items()
            if key not in OPTIONS_ADDED_LATER or value != OPTIONS_ADDED_LATER[key]}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


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


def _require_bpy() -> None:
    if find_spec("bpy") is None:
        raise RenderError("rendering needs Blender as a Python module: pip install -e '.[blender]' "
                          "(bpy 5.0.1, Python 3.11), or a Blender binary with --blender PATH")


def run_worker(plan: ScenePlan, clip_dir: Path, on_event=None, timeout_s: float | None = None) -> None:
    """Render one plan into ``clip_dir`` with a Blender worker started for it; raise
    RenderError with the worker's message on failure. ``on_event`` receives each progress
    event (``{"event": "render", "kind": "rgb" | "labels", "frame": i}``, ...)."""
    clip_dir = Path(clip_dir).expanduser().resolve()
    clip_dir.parent.mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess("worker", clip_dir.with_name(f".{clip_dir.name}.work-{process_tag()}"))
    try:
        result = render_job(worker, clip_dir, {"plan": plan.to_dict()}, on_event, timeout_s)
    finally:
        worker.stop()
    if not result.ok:
        tail = "" if result.kind not in ("crash",) or not result.log_tail else \
            "; its last output lines:\n" + "\n".join(result.log_tail)
        raise RenderError(f"Blender worker failed on seed {plan.seed}: {result.message}{tail}")

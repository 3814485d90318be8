"""Headless worker: one scene plan in, one complete clip folder out.

    python -m blender_addon.worker --plan PLAN.json --out CLIP_DIR

Everything that can fail on bad input (body file, motion, texture, background) is loaded and
checked before Blender builds anything. Each frame is rendered twice: once with the plan's
samples for antialiased RGB (composited over the background here), once point-sampled at
pixel centres for exact labels (depth, parts, normals, flow). The clip is written by
:class:`synth_core.dataset.ClipWriter`, which only renames it into place when complete.

Progress goes to stdout as lines ``SYNTH {"event": ..., ...}`` for the CLI to parse.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from synth_core.errors import SynthError
from synth_core.scene import camera as cam
from synth_core.scene.clip import ClipGeometry, body_model_of, evaluate_clip
from synth_core.scene.plan import ScenePlan, validate_plan

PROGRESS_PREFIX = "SYNTH "
UNTEXTURED_ALBEDO_SRGB = (186, 150, 130)


def emit(event: str, **fields) -> None:
    print(PROGRESS_PREFIX + json.dumps({"event": event, **fields}), flush=True)


def prepare_inputs(plan: ScenePlan, work_dir: Path):
    """Load and check every input of the plan; returns (geometry, texture path, background)."""
    from synth_core.backgrounds import load_background

    validate_plan(plan)
    geometry = evaluate_clip(plan)
    texture_path = write_texture(plan, work_dir)
    background = load_background(plan.background, plan.render["height"], plan.render["width"])
    return geometry, texture_path, background


def write_texture(plan: ScenePlan, work_dir: Path) -> Path:
    """The plan's texture as an image file Blender can load."""
    from PIL import Image

    from synth_core.textures import load_texture_image, make_texture

    texture = plan.texture
    if texture.get("kind") == "file":
        image = load_texture_image(texture["path"])
    elif body_model_of(plan).data.vt is None:
        # SMPL's official files carry no UVs (SURREAL ships them separately): one flat colour.
        image = np.full((8, 8, 3), UNTEXTURED_ALBEDO_SRGB, dtype=np.uint8)
        emit("warning", message="the body model has no UVs (vt/ft): rendering it untextured")
    else:
        image = make_texture(body_model_of(plan), texture["spec"], size=int(texture.get("size", 1024)))
    path = work_dir / "texture.png"
    Image.fromarray(image).save(path)
    return path


def texture_id_of(plan: ScenePlan) -> str:
    from synth_core.textures import texture_id

    texture = plan.texture
    return f"file:{Path(texture['path']).name}" if texture.get("kind") == "file" else texture_id(texture["spec"])


def render_clip(plan: ScenePlan, out_dir: Path, work_dir: Path, threads: int | None = None,
                device: str = "cpu") -> Path:
    from blender_addon.render.devices import enable_device
    from blender_addon.scene import build_scene
    from synth_core.dataset import ClipWriter

    geometry, texture_path, background = prepare_inputs(plan, work_dir)
    built = build_scene(plan, geometry, texture_path)
    enable_device(built.scene, device)  # after building: a fresh scene resets the preferences
    if threads:  # how many cores this worker may use; the pixels do not depend on it
        built.scene.render.threads_mode, built.scene.render.threads = "FIXED", int(threads)
        os.environ.setdefault("LP_NUM_THREADS", str(threads))  # Mesa's llvmpipe (Eevee), read at its start
    r = plan.render
    n_frames = geometry.rendered.stop - geometry.rendered.start
    with ClipWriter(out_dir, r["height"], r["width"], n_frames, tuple(r["passes"]), rgb_format=r["rgb_format"]) as writer:
        # On any error the writer deletes its partial folder: no half-written clip is left.
        write_frames(plan, built, geometry, background, writer, work_dir)
    emit("done", out=str(out_dir), frames=n_frames, rss_mb=resident_memory_mb())
    return out_dir


def resident_memory_mb() -> float:
    """This process's resident memory (what the executor watches to recycle a worker)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_frames(plan: ScenePlan, built, geometry: ClipGeometry, background: np.ndarray, writer,
                 work_dir: Path) -> None:
    """Render every frame (all RGB, then all labels), write it, then the clip's annotations."""
    from blender_addon.render.passes import labels_from_channels, premultiplied_rgba
    from synth_core.imaging import composite_over, linear_to_srgb_uint8

    scene, rt = built.scene, plan.extrinsics
    passes = tuple(plan.render["passes"])
    frames = range(geometry.rendered.start, geometry.rendered.stop)
    emit("start", frames=len(frames), renders=len(frames) * (2 if "rgb" in passes else 1))
    if "rgb" in passes:  # all RGB first: switching OSL <-> SVM per frame costs a recompile
        for index, frame in enumerate(frames):
            scene.frame_set(frame)
            foreground, alpha = premultiplied_rgba(_render(scene, "rgb", plan, work_dir))
            rgb = linear_to_srgb_uint8(composite_over(foreground, alpha, background))
            np.save(work_dir / f"rgb_{index:06d}.npy", rgb)  # on disk: clips can be long and large
            emit("render", kind="rgb", frame=index)
    joints_world, depths = [], []
    for index, frame in enumerate(frames):
        scene.frame_set(frame)
        joints_world.append(armature_joints(built.armature))
        labels = labels_from_channels(_render(scene, "labels", plan, work_dir), rt[:, :3])
        depths.append(labels["depth"])
        arrays = {name: labels[name] for name in passes if name in labels}
        if "rgb" in passes:
            arrays["rgb"] = np.load(work_dir / f"rgb_{index:06d}.npy")
        writer.write_frame(index, **arrays)
        emit("render", kind="labels", frame=index)
    annotations = build_annotations(plan, geometry, np.array(joints_world), np.array(depths))
    writer.finish(clip_meta(plan), annotations)


def clip_meta(plan: ScenePlan) -> dict:
    """What the clip's meta.json records beside the plan: ids, camera, versions."""
    import bpy

    from synth_core.backgrounds import background_id
    from synth_core.scene.clip import motion_edges

    k, rt = plan.intrinsics, plan.extrinsics
    return {
        "seed": plan.seed, "plan": plan.to_dict(), "fps": plan.motion["fps"],
        "texture_id": texture_id_of(plan), "background_id": background_id(plan.background),
        "versions": {"synth": _version(), "blender": bpy.app.version_string},
        "camera": {"K": k.tolist(), "Rt": rt.tolist(), "location": cam.camera_location(rt).tolist()},
        "body": {"source": plan.body["source"], "gender": plan.body["gender"]},
        "motion": {"source": plan.motion["source"], "name": _motion_name(plan),
                   "start": plan.motion["start"], "frames": plan.motion["n_frames"],
                   # a short AMASS file gives fewer frames than asked for
                   "requested_frames": plan.motion.get("requested_frames", plan.motion["n_frames"]),
                   **motion_edges(plan)},
    }


def _render(scene, kind: str, plan: ScenePlan, work_dir: Path) -> dict:
    import bpy

    from blender_addon.render.passes import read_multilayer_exr
    from blender_addon.scene import set_sampling

    set_sampling(scene, kind, plan)
    path = work_dir / f"{kind}.exr"
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return read_multilayer_exr(path)


def armature_joints(armature) -> np.ndarray:
    """World positions of the 24 joints as Blender posed them (bone heads), 24 x 3."""
    from synth_core.body.parts import JOINT_NAMES

    matrix = np.array(armature.matrix_world)
    heads = np.array([list(armature.pose.bones[name].head) for name in JOINT_NAMES])
    return cam.transform_points(matrix, heads)


def joint_visibility(uv: np.ndarray, z: np.ndarray, depth: np.ndarray, margin: float) -> np.ndarray:
    """A joint is visible when it projects inside the image and the rendered surface at its
    pixel is not nearer than the joint by more than ``margin`` metres (background counts as
    not occluding). uv: ... x 2, z: ..., depth: H x W (0 = background)."""
    height, width = depth.shape
    pixel = np.rint(uv).astype(np.int64)
    inside = (z > 0) & (pixel[..., 0] >= 0) & (pixel[..., 0] < width) & (pixel[..., 1] >= 0) & (pixel[..., 1] < height)
    surface = depth[np.clip(pixel[..., 1], 0, height - 1), np.clip(pixel[..., 0], 0, width - 1)]
    return inside & ((surface == 0) | (surface >= z - margin))


def build_annotations(plan: ScenePlan, geometry: ClipGeometry, joints_world: np.ndarray,
                      depths: np.ndarray) -> dict[str, np.ndarray]:
    k, rt = plan.intrinsics, plan.extrinsics
    uv, z = cam.project(k, rt, joints_world)
    visible = np.array([joint_visibility(uv[t], z[t], depths[t], plan.render["visibility_margin_m"])
                        for t in range(len(depths))])
    rendered = geometry.rendered
    return {
        "joints2d": uv, "joints3d_world": joints_world,
        "joints3d_camera": cam.world_to_camera(rt, joints_world), "joints_visible": visible,
        "pose": geometry.pose[rendered], "transl": geometry.transl[rendered], "betas": geometry.betas,
        "body_to_world": geometry.body_to_world, "camera_K": k, "camera_Rt": rt,
        "sh": np.asarray(plan.lighting["sh"], dtype=np.float64),
        "yaw": np.float64(plan.placement["yaw"]), "frame_indices": geometry.motion_frames[rendered],
    }


def _motion_name(plan: ScenePlan) -> str:
    motion = plan.motion
    return motion["params"]["kind"] if motion["source"] == "procedural" else Path(motion["path"]).stem


def _version() -> str:
    try:
        return metadata.version("synth-humans")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, help="scene plan JSON file (one clip, then exit)")
    parser.add_argument("--out", type=Path, help="clip folder to create (with --plan)")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="existing folder for scratch files (default: a temporary folder)")
    parser.add_argument("--serve", action="store_true",
                        help="render jobs read from standard input, one JSON object a line, until it ends")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for Cycles (default: all)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, optix, hip, metal or oneapi")
    args = parser.parse_args(argv)
    if args.serve:
        return serve(sys.stdin, args.threads, args.device)
    if args.plan is None or args.out is None:
        parser.error("give --plan and --out, or --serve")
    try:
        plan = ScenePlan.from_json(args.plan.read_text())
        if args.work_dir is not None:  # owned and removed by the caller (synth render)
            render_clip(plan, args.out, args.work_dir, args.threads, args.device)
        else:
            with tempfile.TemporaryDirectory(prefix="synth-worker-") as work_dir:
                render_clip(plan, args.out, Path(work_dir), args.threads, args.device)
    except (SynthError, OSError) as exc:
        emit("error", message=str(exc), kind=type(exc).__name__)
        return 1
    return 0


def serve(lines, threads: int | None, device: str = "cpu") -> int:
    """A long-lived worker: each input line is a job ``{"out": clip folder, "work_dir": folder,
    "plan": {...}}`` or, to sample the plan here, ``{"seed": s, "options": {...}}``
    (:class:`~synth_core.scene.plan.PlanOptions` as a dict). Each job ends with a ``done`` or an
    ``error`` event. Bad input fails only its job; an unexpected exception ends the process
    (exit 1), so the executor starts a clean one."""
    import traceback

    emit("ready", pid=os.getpid())
    for line in lines:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            tempfile.tempdir = job["work_dir"]  # Python's temporary files too (compiled OSL shaders)
            render_clip(job_plan(job), Path(job["out"]), Path(job["work_dir"]), threads, device)
        except (SynthError, OSError) as exc:
            emit("error", message=str(exc), kind=type(exc).__name__, rss_mb=resident_memory_mb())
        except Exception as exc:  # a bug, or Blender in a bad state: do not render on in it
            traceback.print_exc()
            emit("error", message=f"{type(exc).__name__}: {exc}", kind="crash")
            return 1
    return 0


def job_plan(job: dict) -> ScenePlan:
    from synth_core.scene.plan import PlanOptions, sample_plan

    if "plan" in job:
        return ScenePlan.from_dict(job["plan"])
    return sample_plan(int(job["seed"]), PlanOptions.from_dict(job["options"]))


if __name__ == "__main__":
    # Inside a Blender binary (blender -b --python worker.py -- ARGS) our arguments follow "--".
    sys.exit(main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else None))

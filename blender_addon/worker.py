"""Headless worker: one scene plan in, one complete clip folder out.

    python -m blender_addon.worker --plan PLAN.json --out CLIP_DIR

Everything that can fail on bad input (body file, motion, texture, background) is loaded and
checked before Blender builds anything. The scene has no animation: each frame the numpy
model's posed vertices are written into the mesh, and only the body's box of the frame is
rendered, twice: once with the plan's samples for antialiased RGB (composited over the
background here), once point-sampled at pixel centres for exact labels (depth, parts, normals,
flow). Renders reach Python through uncompressed EXR files in RAM (/dev/shm) where there is
one. The clip is written by :class:`synth_core.dataset.ClipWriter`, which only renames it into
place when complete.

Progress goes to stdout as lines ``SYNTH {"event": ..., ...}`` for the CLI to parse; ``done``
carries ``timings``, seconds spent per stage of the clip (see :class:`Timings`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np

from synth_core.errors import RenderError, SynthError
from synth_core.scene import camera as cam
from synth_core.scene.clip import ClipGeometry, body_model_of, evaluate_clip
from synth_core.scene.plan import ScenePlan, validate_plan

PROGRESS_PREFIX = "SYNTH "
UNTEXTURED_ALBEDO_SRGB = (186, 150, 130)
RAM_FOLDER = Path("/dev/shm")
EXR_FOLDER_PREFIX = f"synth-exr-{socket.gethostname()}-"
# Bytes of one label EXR per pixel (Combined, depth, index, four AOVs: ~23 float channels),
# rounded up; the RAM folder is used only with room for two of them and this to spare.
EXR_BYTES_PER_PIXEL = 100
RAM_SPARE_BYTES = 256 * 2**20


def emit(event: str, **fields) -> None:
    print(PROGRESS_PREFIX + json.dumps({"event": event, **fields}), flush=True)


def prepare_inputs(plan: ScenePlan, work_dir: Path):
    """Load and check every input of the plan; returns (geometry, texture path, backdrop)."""
    from synth_core.backgrounds import ClipBackdrop

    validate_plan(plan)
    geometry = evaluate_clip(plan)
    if plan.render.get("scene", "composite") == "grounded":
        from blender_addon.scene.ground import check_camera_above_ground

        check_camera_above_ground(plan, geometry)
    texture_path = write_texture(plan, work_dir)
    return geometry, texture_path, ClipBackdrop(plan)


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
    Image.fromarray(image).save(path, compress_level=1)   # read once, by Blender: fast beats small
    return path


def texture_id_of(plan: ScenePlan) -> str:
    from synth_core.textures import texture_id

    texture = plan.texture
    return f"file:{Path(texture['path']).name}" if texture.get("kind") == "file" else texture_id(texture["spec"])


def render_clip(plan: ScenePlan, out_dir: Path, work_dir: Path, threads: int | None = None,
                device: str = "cpu", timings: "Timings | None" = None, previous=None):
    """Render the plan's clip into ``out_dir``; returns the scene, for the next clip to update
    in place (``previous``: the scene of this worker's last clip, or None to build one)."""
    return run_to_end(clip_steps(plan, out_dir, work_dir, threads, device, timings, previous))


def clip_steps(plan: ScenePlan, out_dir: Path, work_dir: Path, threads: int | None = None,
               device: str = "cpu", timings: "Timings | None" = None, previous=None):
    """:func:`render_clip` one step at a time, for a caller that must stay responsive (the
    add-on's modal operator): yields ``(renders done, renders in all)`` once the scene is built
    and the clip folder started, then after each frame (:func:`frame_steps`); returns the
    scene. Closing it early (``steps.close()``) ends the clip as an error does: no partial
    folder is left."""
    from synth_core.dataset import ClipWriter

    timings = timings or Timings()
    built, geometry, background = prepare_scene(plan, work_dir, threads, device, timings, previous)
    r = plan.render
    n_frames = geometry.rendered.stop - geometry.rendered.start
    with exr_folder(work_dir, r["height"] * r["width"]) as exr_dir, \
            ClipWriter(out_dir, r["height"], r["width"], n_frames, tuple(r["passes"]), rgb_format=r["rgb_format"]) as writer:
        # On any error the writer deletes its partial folder: no half-written clip is left.
        renderer = BoxRenderer(built, plan, exr_dir, timings)
        yield from frame_steps(plan, built, geometry, background, writer, renderer, work_dir)
    emit("done", out=str(out_dir), frames=n_frames, rss_mb=resident_memory_mb(), timings=timings.as_dict())
    return built


def run_to_end(steps):
    """Run a generator of steps to its end; returns what it returns."""
    while True:
        try:
            next(steps)
        except StopIteration as end:
            return end.value


def prepare_scene(plan: ScenePlan, work_dir: Path, threads: int | None, device: str, timings: "Timings",
                  previous=None):
    """The plan's inputs loaded and checked, and its scene (``previous`` updated in place when
    it fits, else a fresh build) ready to render: (scene, geometry, background)."""
    from blender_addon.render.devices import enable_device
    from blender_addon.scene import scene_for

    with timings.measure("inputs"):
        geometry, texture_path, background = prepare_inputs(plan, work_dir)
    with timings.measure("build"):
        built = scene_for(plan, geometry, texture_path, previous)
        enable_device(built.scene, device)  # after building: a fresh scene resets the preferences
    if threads:  # how many cores this worker may use; the pixels do not depend on it
        built.scene.render.threads_mode, built.scene.render.threads = "FIXED", int(threads)
        os.environ.setdefault("LP_NUM_THREADS", str(threads))  # Mesa's llvmpipe (Eevee), read at its start
    return built, geometry, background


def render_frame(plan: ScenePlan, index: int, work_dir: Path, device: str = "cpu", previous=None):
    """Clip frame ``index`` (0-based) of every pass of the plan, rendered as :func:`render_clip`
    renders it but written nowhere: (scene, {pass: array as the clip stores it})."""
    n_frames = int(plan.motion["n_frames"])
    if not 0 <= index < n_frames:
        raise RenderError(f"frame {index} is outside the clip's frames 0..{n_frames - 1}")
    timings = Timings()
    built, geometry, background = prepare_scene(plan, work_dir, None, device, timings, previous)
    passes = tuple(plan.render["passes"])
    with exr_folder(work_dir, plan.render["height"] * plan.render["width"]) as exr_dir:
        renderer = BoxRenderer(built, plan, exr_dir, timings)
        box = renderer.pose(geometry.vertices_world, geometry.rendered.start + index)
        arrays = {}
        if "rgb" in passes:
            arrays["rgb"] = renderer.rgb(box, background.linear(index), background.srgb(index))
        arrays.update(label_passes(renderer.labels(box, background, index), passes))
    return built, arrays


def label_passes(labels: dict[str, np.ndarray], passes) -> dict[str, np.ndarray]:
    """The label arrays of a render that the plan's passes ask for."""
    return {name: labels[name] for name in passes if name in labels}


class Timings:
    """Seconds per stage, summed over a clip: ``plan`` (sampling it in the worker), ``inputs``
    (motion, posed body, texture, background) and ``build`` (the Blender scene) once per clip; per frame
    ``pose`` (vertices into the mesh, the box), ``render_rgb`` and ``render_labels`` (Blender
    rendering the box), ``exr_write`` and ``exr_read`` (moving the pixels to numpy),
    ``convert`` (labels, compositing, sRGB) and ``write`` (ClipWriter: quantise, compress,
    write files)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def measure(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def as_dict(self) -> dict[str, float]:
        return {stage: round(seconds, 4) for stage, seconds in self.seconds.items()}


@contextmanager
def exr_folder(work_dir: Path, pixels: int):
    """A folder for the renders' EXR files, removed afterwards: in RAM (/dev/shm) when it is
    there with room for them, else in ``work_dir``. A killed worker's RAM folder is removed by
    the next worker started on this host (:func:`remove_stale_exr_folders`)."""
    try:
        room = RAM_FOLDER.is_dir() and os.access(RAM_FOLDER, os.W_OK) and \
            shutil.disk_usage(RAM_FOLDER).free > 2 * pixels * EXR_BYTES_PER_PIXEL + RAM_SPARE_BYTES
    except OSError:
        room = False
    if room:
        folder = Path(tempfile.mkdtemp(prefix=f"{EXR_FOLDER_PREFIX}{os.getpid()}-", dir=RAM_FOLDER))
    else:
        folder = Path(tempfile.mkdtemp(prefix="exr-", dir=work_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_exr_folders() -> None:
    """Remove the RAM folders of this host's workers that no longer run (killed mid-clip)."""
    from synth_core.dataset.format import remove_stale

    remove_stale(RAM_FOLDER, f"{EXR_FOLDER_PREFIX}*")


def resident_memory_mb() -> float:
    """This process's resident memory (what the executor watches to recycle a worker)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):  # not Linux: the peak is the best we have
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def frame_steps(plan: ScenePlan, built, geometry: ClipGeometry, background: "ClipBackdrop", writer,
                renderer: "BoxRenderer", work_dir: Path):
    """Render and write every frame, then the clip's annotations; yields ``(renders done,
    renders in all)`` before the first render, then after each frame's last render (a step ends
    with no render half done: each starts by posing the body). Cycles with node shading:
    each frame is posed once and rendered RGB then labels. Cycles with OSL: all RGB frames
    first, then all labels (labels need SVM, and switching between OSL and SVM recompiles the
    shaders). Eevee: all RGB, then all labels too (switching its sample count per frame
    measured no faster)."""
    passes = tuple(plan.render["passes"])
    frames = range(geometry.rendered.start, geometry.rendered.stop)
    with_rgb = "rgb" in passes
    interleaved = with_rgb and plan.render.get("engine", "cycles") == "cycles" and plan.render["shading"] != "osl"
    occluders = None
    if plan.occluders is not None:
        from synth_core.occluders import apply_occluders, load_occluder_bank

        occluders = load_occluder_bank(plan.occluders.get("bank"))
    renders = len(frames) * (2 if with_rgb else 1)
    emit("start", frames=len(frames), renders=renders)
    done = 0
    yield done, renders
    if with_rgb and not interleaved:
        for index, frame in enumerate(frames):
            box = renderer.pose(geometry.vertices_world, frame)
            rgb = renderer.rgb(box, background.linear(index), background.srgb(index))
            np.save(work_dir / f"rgb_{index:06d}.npy", rgb)  # on disk: clips can be long and large
            emit("render", kind="rgb", frame=index)
            done += 1
            yield done, renders
    depths = []
    for index, frame in enumerate(frames):
        box = renderer.pose(geometry.vertices_world, frame)
        arrays = {}
        if interleaved:
            arrays["rgb"] = renderer.rgb(box, background.linear(index), background.srgb(index))
            emit("render", kind="rgb", frame=index)
            done += 1  # no step ends here: the labels need the body as posed for this frame
        elif with_rgb:
            arrays["rgb"] = np.load(work_dir / f"rgb_{index:06d}.npy")
        labels = renderer.labels(box, background, index)
        if occluders is not None:  # drawn into the RGB and every label, depth first (visibility)
            frame_arrays = {**labels, **({"rgb": arrays["rgb"]} if "rgb" in arrays else {})}
            apply_occluders(frame_arrays, plan.occluders, occluders, index, background.srgb(index))
            arrays.update((name, frame_arrays[name]) for name in arrays)
        depths.append(labels["depth"])
        arrays.update(label_passes(labels, passes))
        with renderer.timings.measure("write"):
            writer.write_frame(index, **arrays)
        emit("render", kind="labels", frame=index)
        done += 1
        yield done, renders
    # The joints of the numpy model that posed the rendered mesh.
    annotations = build_annotations(plan, geometry, geometry.joints_world[geometry.rendered], np.array(depths))
    writer.finish(clip_meta(plan), annotations)


class BoxRenderer:
    """Poses the body for a frame and renders the pixels that can show it (its box), RGB or
    labels, through an EXR file in ``exr_dir``; returns full frames. Cycles renders a box
    exactly as that part of the full frame; Eevee does not (its crop moves RGB pixels by up to
    half their range), so Eevee renders whole frames. A grounded scene's RGB is the whole
    frame too (the shadow reaches past the body's box, and its soft contact shadow fades out
    far beyond any box); its labels are the body's box, rendered without the ground plane."""

    def __init__(self, built, plan: ScenePlan, exr_dir: Path, timings: Timings) -> None:
        self.built, self.scene, self.plan, self.exr_dir, self.timings = built, built.scene, plan, exr_dir, timings
        self.height, self.width = plan.render["height"], plan.render["width"]
        self.ks, self.rts = plan.cameras()  # per padded frame
        self.frame = None
        self.crops = plan.render.get("engine", "cycles") == "cycles"
        self.grounded = plan.render.get("scene", "composite") == "grounded"

    def pose(self, vertices_world: np.ndarray, frame: int):
        """Put the mesh (and a moving camera) in padded frame ``frame``; returns the box that can
        show the body."""
        from blender_addon.render.passes import body_box
        from blender_addon.scene import place_camera
        from blender_addon.scene.body import set_posed_vertices

        with self.timings.measure("pose"):
            set_posed_vertices(self.built.mesh, vertices_world, frame)
            if self.plan.moving_camera:
                lens = self.ks[frame][0, 0] * self.plan.camera["sensor_width_mm"] / self.width
                place_camera(self.built.camera, self.plan, self.rts[frame], lens)
            self.frame = frame
            if self.crops:
                box = body_box(*cam.project(self.ks[frame], self.rts[frame], vertices_world[frame]), self.height,
                               self.width)
            else:
                box = (0, self.width, 0, self.height)
        return box

    def rgb(self, box, background: np.ndarray, background_srgb: np.ndarray) -> np.ndarray:
        """The frame's sRGB image: the body's box composited over the background (in linear
        light), the background alone elsewhere (no colour reaches past the box). A grounded
        scene renders the whole frame: its shadow darkens the background through the alpha."""
        from blender_addon.render.passes import SEGMENTATION_CHANNELS, despeckle_shadow, premultiplied_rgba
        from synth_core.imaging import composite_over, linear_to_srgb_uint8

        if self.grounded:
            box = (0, self.width, 0, self.height)
        channels = self._render("rgb", box)
        foreground, alpha = premultiplied_rgba(channels)
        if self.grounded:
            with self.timings.measure("convert"):
                alpha = despeckle_shadow(alpha, channels[SEGMENTATION_CHANNELS[0]])
        with self.timings.measure("convert"):
            x0, x1, y0, y1 = box
            rgb = background_srgb.copy()
            rgb[y0:y1, x0:x1] = linear_to_srgb_uint8(composite_over(foreground, alpha, background[y0:y1, x0:x1]))
        return rgb

    def labels(self, box, backdrop, index: int) -> dict[str, np.ndarray]:
        """The posed frame's labels; under a moving camera the background's flow is the
        backdrop's (its plate moves as if at infinity), the body's comes from each frame's camera."""
        from blender_addon.render.passes import labels_from_channels, paste

        channels = self._render("labels", box)
        f = self.frame
        cameras = {"here": (self.ks[f], self.rts[f]), "next": (self.ks[f + 1], self.rts[f + 1]),
                   "previous": (self.ks[f - 1], self.rts[f - 1])}
        with self.timings.measure("convert"):
            labels = paste(labels_from_channels(channels, cameras), box, self.height, self.width)
            for direction in ("forward", "backward"):
                flow = backdrop.flow(index, direction)
                if flow is not None:
                    background = labels["segmentation"] == 0
                    labels[f"flow_{direction}"][background] = flow[background]
            return labels

    def _render(self, kind: str, box) -> dict:
        import bpy

        from blender_addon.render.passes import read_multilayer_exr
        from blender_addon.scene import set_output_format, set_render_box, set_sampling
        from blender_addon.scene.ground import show_ground

        set_render_box(self.scene, box, self.height, self.width)
        set_sampling(self.scene, kind, self.plan)
        # A grounded RGB render keeps its Material Index pass: where the body is (despeckle_shadow).
        set_output_format(self.scene, "labels" if self.grounded else kind)
        show_ground(self.scene, kind == "rgb")
        with self.timings.measure(f"render_{kind}"):
            bpy.ops.render.render()
        path = self.exr_dir / f"{kind}.exr"
        with self.timings.measure("exr_write"):
            try:
                bpy.data.images["Render Result"].save_render(str(path), scene=self.scene)
            except RuntimeError as exc:  # Blender's message names the file and the reason
                raise RenderError(f"cannot save the {kind} render: {exc}") from exc
        with self.timings.measure("exr_read"):
            channels = read_multilayer_exr(path)
        x0, x1, y0, y1 = box
        size = next(iter(channels.values())).shape[:2]
        if size != (y1 - y0, x1 - x0):
            raise RenderError(f"Blender rendered {size[1]}x{size[0]} pixels for a box of "
                              f"{x1 - x0}x{y1 - y0} at ({x0}, {y0})")
        return channels


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
        # a moving camera: its reference (the middle frame) and rates; annotations hold every frame's
        "camera": {"K": k.tolist(), "Rt": rt.tolist(), "location": cam.camera_location(rt).tolist(),
                   **({"motion": plan.camera["motion"]} if "motion" in plan.camera else {}),
                   **({"track": "video"} if "track" in plan.camera else {})},
        # the background's optical flow: none (static camera), exact (a panorama, a photo or a
        # video with its camera track), or estimated (a video whose track was estimated)
        "background_flow": _background_flow(plan),
        "body": {"source": plan.body["source"], "gender": plan.body["gender"]},
        "motion": {"source": plan.motion["source"], "name": _motion_name(plan),
                   "start": plan.motion["start"], "frames": plan.motion["n_frames"],
                   # a short AMASS file gives fewer frames than asked for
                   "requested_frames": plan.motion.get("requested_frames", plan.motion["n_frames"]),
                   **motion_edges(plan)},
    }


def _background_flow(plan: ScenePlan) -> str:
    if not plan.moving_camera:
        return "none"
    return "exact" if plan.camera.get("track", {}).get("exact", True) else "estimated"


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
    ks, rts = (cameras[geometry.rendered] for cameras in plan.cameras())
    camera_points = np.array([cam.world_to_camera(rt, joints) for rt, joints in zip(rts, joints_world)])
    uv, z = (np.array(values) for values in zip(*(cam.project(k, rt, joints)
                                                 for k, rt, joints in zip(ks, rts, joints_world))))
    visible = np.array([joint_visibility(uv[t], z[t], depths[t], plan.render["visibility_margin_m"])
                        for t in range(len(depths))])
    occlusion = {}
    if plan.occluders is not None:  # a totally occluded frame shows no joint (its person is gone)
        from synth_core.occluders import totally_occluded

        occlusion = {"totally_occluded": totally_occluded(plan.occluders, len(depths))}
        visible[occlusion["totally_occluded"]] = False
    rendered = geometry.rendered
    return {**occlusion,
        "joints2d": uv, "joints3d_world": joints_world,
        "joints3d_camera": camera_points, "joints_visible": visible,
        "pose": geometry.pose[rendered], "transl": geometry.transl[rendered], "betas": geometry.betas,
        "body_to_world": geometry.body_to_world,
        # one camera, or one per frame (T x 3 x 3, T x 3 x 4) when it moves
        "camera_K": ks if plan.moving_camera else ks[0], "camera_Rt": rts if plan.moving_camera else rts[0],
        "sh": np.asarray(plan.lighting["sh"], dtype=np.float64),
        "yaw": np.float64(plan.placement["yaw"]), "frame_indices": geometry.motion_frames[rendered],
    }


def _motion_name(plan: ScenePlan) -> str:
    motion = plan.motion
    if motion["source"] == "procedural":
        return motion["params"]["kind"]
    return "prior" if motion["source"] == "prior" else Path(motion["path"]).stem


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
    from blender_addon import use_blender_datafiles

    use_blender_datafiles()  # inside a Blender binary its HDRIs are not in the bpy package
    remove_stale_exr_folders()
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
    scene = None  # the last clip's, updated in place for the next
    for line in lines:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
            tempfile.tempdir = job["work_dir"]  # Python's temporary files too (compiled OSL shaders)
            timings = Timings()
            with timings.measure("plan"):
                plan = job_plan(job)
            scene = render_clip(plan, Path(job["out"]), Path(job["work_dir"]), threads, device, timings, scene)
        except (SynthError, OSError) as exc:
            scene = None  # whatever state a failed clip left it in, the next one starts afresh
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

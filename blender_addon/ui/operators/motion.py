"""The Motion panel's operators and live updates: the procedural motion's settings, an AMASS
file and its window, "Randomise", and scrubbing (the timeline poses the body).

A plan's motion is ``{"source": "procedural", "params", "start": 0, "n_frames", "fps"}`` or
``{"source": "amass", "path", "start", "n_frames", "fps", "requested_frames", "available_frames"}``
(as :func:`synth_core.scene.plan.sample_plan` writes them). BVH files are not read yet (issue 12).
"""

from dataclasses import replace
from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from synth_core.errors import MotionError, SynthError
from synth_core.scene.clip import PAD

from .common import clip_frame, current_plan, live_inputs
from .edit import live_edit, report_edit, seeded_edit, slider_value

AMASS_SUFFIX = ".npz"


def requested_frames(plan) -> int:
    """The clip length asked for (an AMASS file may have given fewer)."""
    return int(plan.motion.get("requested_frames", plan.motion["n_frames"]))


def procedural_motion_of(group, plan) -> dict:
    """The procedural motion of the panel's settings (the plan's own values where a slider
    holds them rounded)."""
    old = plan.motion["params"] if plan.motion["source"] == "procedural" else {}
    params = {"kind": group.kind, "mirror": bool(group.mirror)}
    for name, default in (("speed", 1.0), ("amplitude", 1.0), ("phase", 0.0)):
        params[name] = slider_value(old.get(name, default), getattr(group, name))
    return {"source": "procedural", "params": params, "start": 0, "n_frames": requested_frames(plan),
            "fps": plan.motion["fps"]}


def amass_motion(path: str, fps: float, requested: int, start: int | None = None) -> dict:
    """The AMASS motion of file ``path``: ``requested`` frames (fewer if the file is short)
    from ``start`` (None: its first window), with a real frame before and after
    (MotionError names a file or window that cannot give one)."""
    from synth_core.motion import load_amass

    available = load_amass(path, target_fps=fps).n_frames
    n_frames = min(requested, available - 2 * PAD)
    if n_frames < 1:
        raise MotionError(f"{path}: AMASS file has {available} frame(s) at the clip's frame rate; "
                          f"a clip needs at least {1 + 2 * PAD} (one before and one after each rendered frame)")
    start = PAD if start is None else int(start)
    last = available - n_frames - PAD
    if not PAD <= start <= last:
        raise MotionError(f"start frame {start} is outside {PAD}..{last}: the {n_frames}-frame clip needs a "
                          f"real frame before and after it in the file's {available} frames")
    return {"source": "amass", "path": path, "start": start, "n_frames": n_frames, "fps": fps,
            "requested_frames": requested, "available_frames": available}


def motion_changed(context) -> None:
    group = context.scene.synth.motion

    def edit(plan):
        if group.source == "procedural":
            return replace(plan, motion=procedural_motion_of(group, plan))
        path = plan.motion["path"] if plan.motion["source"] == "amass" else group.amass_path
        if not path:
            raise MotionError("no AMASS file yet: load an AMASS .npz with 'Load AMASS'")
        return replace(plan, motion=amass_motion(path, plan.motion["fps"], requested_frames(plan), group.start))

    live_edit(context, "motion", edit)


class SYNTH_OT_load_amass(bpy.types.Operator, ImportHelper):
    """Load an AMASS motion (.npz: SMPL, SMPL-H or SMPL-X poses) as the body's motion, from its
    first frames. BVH files are not supported yet"""

    bl_idname = "synth.load_amass"
    bl_label = "Load AMASS"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = AMASS_SUFFIX
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))

        def edit(plan):
            if path.suffix.lower() != AMASS_SUFFIX:
                raise MotionError(f"{path.name} is not an AMASS motion file (expected .npz"
                                  + ("; BVH is not supported yet" if path.suffix.lower() == ".bvh" else "") + ")")
            return replace(plan, motion=amass_motion(str(path.resolve()), plan.motion["fps"], requested_frames(plan)))

        return report_edit(self, context, "motion", edit)


class SYNTH_OT_randomize_motion(bpy.types.Operator):
    """A random motion from the motion seed: new procedural parameters as Sample Scene draws
    them, or (AMASS) a new window of the file"""

    bl_idname = "synth.randomize_motion"
    bl_label = "Randomise Motion"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from synth_core.motion import sample_procedural_params
        from synth_core.scene.plan import _amass_window

        def edit(plan, rng):
            m = plan.motion
            if m["source"] == "procedural":
                return replace(plan, motion={**m, "params": sample_procedural_params(rng)})
            available = amass_motion(m["path"], m["fps"], requested_frames(plan))["available_frames"]
            n_frames, start = _amass_window(rng, available, requested_frames(plan), m["path"])
            return replace(plan, motion={**m, "n_frames": n_frames, "start": start})

        return seeded_edit(self, context, "motion", "motion_seed", edit)


@bpy.app.handlers.persistent
def pose_at_frame(scene, *_) -> None:
    """frame_change_post: the built body shows the timeline's clip frame (scrubbing), posed
    from the plan's cached geometry as the renderer poses it."""
    from blender_addon.scene import BODY_NAME
    from blender_addon.scene.body import set_posed_vertices

    settings = getattr(scene, "synth", None)
    mesh = bpy.data.objects.get(BODY_NAME)
    if settings is None or not settings.plan_json or mesh is None or mesh.name not in scene.objects:
        return
    if bpy.app.is_job_running("RENDER"):
        return  # a render reads the mesh
    try:
        plan = current_plan(settings)
        geometry, _ = live_inputs(plan)
    except SynthError as exc:  # e.g. a moved motion file: the timeline keeps going
        print(f"synth: cannot pose the body at frame {scene.frame_current}: {exc}")
        return
    if len(mesh.data.vertices) == geometry.vertices_world.shape[1]:
        set_posed_vertices(mesh, geometry.vertices_world, PAD + clip_frame(scene, plan))


classes = (SYNTH_OT_load_amass, SYNTH_OT_randomize_motion)

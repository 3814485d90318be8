"""The Motion panel's operators and live updates: the procedural motion's settings, an AMASS or
BVH file and its window, the pose prior's key poses, "Randomise", and scrubbing (the timeline
poses the body).

A plan's motion is ``{"source": "procedural", "params", "start": 0, "n_frames", "fps"}``,
``{"source": "amass" | "bvh", "path", "start", "n_frames", "fps", "requested_frames",
"available_frames"}`` or ``{"source": "prior", "keys", "hold_s", "start": 0, "n_frames", "fps"}``
(as :func:`synth_core.scene.plan.sample_plan` writes them).
"""

from dataclasses import replace
from pathlib import Path

import bpy
import numpy as np
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from synth_core.errors import MotionError, SynthError
from synth_core.scene.clip import PAD

from .common import clip_frame, current_plan, live_inputs
from .edit import live_edit, report_edit, seeded_edit, slider_value

FILE_SUFFIXES = {"amass": ".npz", "bvh": ".bvh"}


def requested_frames(plan) -> int:
    """The clip length asked for (a motion file may have given fewer)."""
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


def motion_changed(context) -> None:
    group = context.scene.synth.motion

    def edit(plan):
        from synth_core.scene.plan import file_motion

        if group.source == "procedural":
            return replace(plan, motion=procedural_motion_of(group, plan))
        if group.source == "prior":
            if plan.motion["source"] == "prior" and np.float32(plan.motion["hold_s"]) == np.float32(group.hold_s):
                return plan
            return replace(plan, motion=_prior_motion(plan, group.hold_s, np.random.default_rng(group.motion_seed)))
        path = plan.motion["path"] if plan.motion["source"] == group.source else group.file_path
        if not path or Path(path).suffix.lower() != FILE_SUFFIXES[group.source]:
            raise MotionError(f"no {group.source.upper()} file yet: load one with 'Load Motion File'")
        return replace(plan, motion=file_motion(group.source, path, plan.motion["fps"], requested_frames(plan),
                                                group.start))

    live_edit(context, "motion", edit)


def _prior_motion(plan, hold_s: float, rng) -> dict:
    from synth_core.scene.plan import prior_motion

    return prior_motion(rng, requested_frames(plan), plan.motion["fps"], float(hold_s))


class SYNTH_OT_load_motion(bpy.types.Operator, ImportHelper):
    """Load a motion file as the body's motion, from its first frames: AMASS (.npz: SMPL, SMPL-H or
    SMPL-X poses) or BVH (.bvh: SMPL/Mixamo or CMU joint names, retargeted onto the body)"""

    bl_idname = "synth.load_motion"
    bl_label = "Load Motion File"
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: StringProperty(default="*.npz;*.bvh", options={"HIDDEN"})

    def execute(self, context):
        from synth_core.scene.plan import file_motion

        path = Path(bpy.path.abspath(self.filepath))

        def edit(plan):
            source = {suffix: name for name, suffix in FILE_SUFFIXES.items()}.get(path.suffix.lower())
            if source is None:
                raise MotionError(f"{path.name} is not a motion file (expected an AMASS .npz or a .bvh)")
            return replace(plan, motion=file_motion(source, str(path.resolve()), plan.motion["fps"],
                                                    requested_frames(plan)))

        return report_edit(self, context, "motion", edit)


class SYNTH_OT_randomize_motion(bpy.types.Operator):
    """A random motion from the motion seed: new procedural parameters as Sample Scene draws
    them, a new window of the AMASS or BVH file, or new key poses of the pose prior"""

    bl_idname = "synth.randomize_motion"
    bl_label = "Randomise Motion"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from synth_core.motion import sample_procedural_params
        from synth_core.scene.plan import file_motion

        def edit(plan, rng):
            m = plan.motion
            if m["source"] == "procedural":
                return replace(plan, motion={**m, "params": sample_procedural_params(rng)})
            if m["source"] == "prior":
                return replace(plan, motion=_prior_motion(plan, m["hold_s"], rng))
            return replace(plan, motion=file_motion(m["source"], m["path"], m["fps"], requested_frames(plan), rng=rng))

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


classes = (SYNTH_OT_load_motion, SYNTH_OT_randomize_motion)

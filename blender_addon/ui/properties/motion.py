"""Motion settings (``scene.synth.motion``): the source (a built-in procedural motion, an AMASS
or BVH file, or the pose prior), the procedural motion's kind and parameters (the ranges
``procedural_motion`` accepts), the file window's start frame, the prior's seconds per key
pose, and the seed of "Randomise". Live: an edit makes a new plan and applies it in place (only
the body's vertices and the camera move)."""

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from synth_core.motion.procedural import AMPLITUDE_RANGE, PROCEDURAL_KINDS, SPEED_RANGE
from synth_core.scene.plan import MOTION_SOURCES

MAX_SEED = 2**31 - 1
SOURCE_LABELS = {"procedural": ("Procedural", "A built-in motion generated in SMPL pose space"),
                 "amass": ("AMASS", "A motion from an AMASS .npz file (load one below)"),
                 "bvh": ("BVH", "A motion from a BVH file, retargeted onto the body (load one below)"),
                 "prior": ("Prior", "Still or slowly changing poses of Chen et al.'s pose prior, "
                                    "learned from the procedural motions")}


def _changed(group, context) -> None:
    from ..operators import motion  # late: the operators import this module

    motion.motion_changed(context)


class MotionSettings(bpy.types.PropertyGroup):
    source: EnumProperty(name="Motion", items=[(s, *SOURCE_LABELS[s]) for s in MOTION_SOURCES],
                         default="procedural", update=_changed)
    kind: EnumProperty(name="Kind", description="The built-in procedural motion",
                       items=[(k, k.replace("_", " ").capitalize(), "") for k in PROCEDURAL_KINDS],
                       default="walk", update=_changed)
    speed: FloatProperty(name="Speed", description="Cadence multiplier", default=1.0,
                         min=SPEED_RANGE[0], max=SPEED_RANGE[1], update=_changed)
    amplitude: FloatProperty(name="Amplitude", description="Excursion multiplier around a relaxed stance",
                             default=1.0, min=AMPLITUDE_RANGE[0], max=AMPLITUDE_RANGE[1], update=_changed)
    phase: FloatProperty(name="Phase", description="Where in the cycle the clip starts (cycles)",
                         default=0.0, soft_min=0.0, soft_max=1.0, update=_changed)
    mirror: BoolProperty(name="Mirror", description="Swap left and right", default=False, update=_changed)
    file_path: StringProperty(name="Motion file", default="", subtype="FILE_PATH", options={"HIDDEN"})
    start: IntProperty(name="Start frame", description="AMASS/BVH: the clip's first frame in the file (at the "
                       "clip's frame rate; one real frame stays before it and after the clip's end)",
                       default=1, min=0, update=_changed)
    hold_s: FloatProperty(name="Seconds per pose", description="Prior: a new key pose every this many seconds, "
                          "slerped between (0: one still pose)", default=2.0, min=0.0, soft_max=10.0,
                          subtype="TIME_ABSOLUTE", update=_changed)
    available: IntProperty(name="Frames in file", default=0, min=0, options={"HIDDEN"})
    motion_seed: IntProperty(name="Motion seed", description="Seed of the next 'Randomise Motion'",
                             default=0, min=0, max=MAX_SEED)
    error: StringProperty(name="Error", description="Why the last edit was refused", default="",
                          options={"HIDDEN"})


def show(group, plan) -> None:
    """Put ``plan``'s motion values on the group (the other source's settings stay, for
    switching back)."""
    motion = plan.motion
    group.source = motion["source"]
    if motion["source"] == "procedural":
        params = motion["params"]
        group.kind = params["kind"]
        group.speed, group.amplitude = params.get("speed", 1.0), params.get("amplitude", 1.0)
        group.phase, group.mirror = params.get("phase", 0.0), params.get("mirror", False)
    elif motion["source"] == "prior":
        group.hold_s = motion["hold_s"]
    else:
        group.file_path, group.start = motion["path"], int(motion["start"])
        group.available = int(motion.get("available_frames", 0))


SETTINGS = MotionSettings
classes = (MotionSettings,)

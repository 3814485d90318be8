"""The add-on's settings on each scene (``scene.synth``): what ``sample_plan`` is given, the
passes to write, the current plan (JSON) and its SH lighting for the Look panel.

Defaults come from :class:`~synth_core.scene.plan.PlanOptions` and ranges from the limits in
:mod:`synth_core.scene.plan`, so the panels offer exactly what a plan accepts.
"""


import bpy
from bpy.props import BoolProperty, EnumProperty, FloatVectorProperty, IntProperty, StringProperty

from synth_core.scene.plan import MAX_RESOLUTION, MAX_SAMPLES, PASSES, SCENES, SHADINGS, PlanOptions

DEFAULTS = PlanOptions()
# validate_render_options' smallest width and height, PlanOptions' longest clip (literals there).
MIN_RESOLUTION = 16
MAX_FRAMES = 100_000
MAX_SEED = 2**31 - 1  # Blender's IntProperty is a signed 32-bit integer
SH_SIZE = 9
SH_LABELS = ("L00", "L1-1", "L10", "L11", "L2-2", "L2-1", "L20", "L21", "L22")  # SURREAL's order
SHADING_LABELS = {"osl": ("OSL", "SURREAL's sh.osl shader (Cycles on the CPU or OptiX)"),
                  "nodes": ("Nodes", "The same lighting as a node group (any device, Eevee)")}
SCENE_LABELS = {"composite": ("Composite", "The body alone, composited over a 2-D background (SURREAL)"),
                "grounded": ("Grounded", "A shadow-catcher ground plane under the feet, lit from the SH")}


def pass_property(name: str) -> str:
    """The property that says whether pass ``name`` is written."""
    return f"pass_{name}"


def _sh_changed(settings, context) -> None:
    from . import operators  # late: operators import this module

    operators.apply_sh_from_settings(settings)


class SynthSettings(bpy.types.PropertyGroup):
    seed: IntProperty(name="Seed", description="The clip's seed: every random choice of its plan comes from it",
                      default=0, min=0, max=MAX_SEED)
    width: IntProperty(name="Width", default=DEFAULTS.width, min=MIN_RESOLUTION, max=MAX_RESOLUTION, subtype="PIXEL")
    height: IntProperty(name="Height", default=DEFAULTS.height, min=MIN_RESOLUTION, max=MAX_RESOLUTION,
                        subtype="PIXEL")
    samples: IntProperty(name="Samples", description="Cycles samples per pixel of the RGB pass",
                         default=DEFAULTS.samples, min=1, max=MAX_SAMPLES)
    frames: IntProperty(name="Frames", description="Frames in the clip", default=DEFAULTS.n_frames,
                        min=1, max=MAX_FRAMES)
    shading: EnumProperty(name="Shading", items=[(s, *SHADING_LABELS[s]) for s in SHADINGS],
                          default=DEFAULTS.shading)
    scene_kind: EnumProperty(name="Scene", items=[(s, *SCENE_LABELS[s]) for s in SCENES],
                             default=DEFAULTS.scene)
    plan_json: StringProperty(name="Plan", description="The current scene plan (JSON)", default="",
                              options={"HIDDEN"})
    sh: FloatVectorProperty(name="SH lighting", description="Spherical-harmonics lighting (SURREAL's order)",
                            size=SH_SIZE, default=(0.0,) * SH_SIZE, soft_min=-1.5, soft_max=1.5,
                            update=_sh_changed)
    sh_seed: IntProperty(name="SH seed", description="Seed of the next 'Sample like SURREAL'",
                         default=0, min=0, max=MAX_SEED)


for _name in PASSES:  # one switch per pass of the dataset format, on as in PlanOptions
    SynthSettings.__annotations__[pass_property(_name)] = BoolProperty(
        name=_name.replace("_", " ").capitalize(), default=_name in DEFAULTS.passes)


def plan_options(settings) -> PlanOptions:
    """PlanOptions of the panels' settings (PlanError names what a plan cannot take)."""
    from dataclasses import replace

    passes = tuple(name for name in PASSES if getattr(settings, pass_property(name)))
    return replace(DEFAULTS, width=settings.width, height=settings.height, samples=settings.samples,
                   n_frames=settings.frames, shading=settings.shading, scene=settings.scene_kind, passes=passes)


def snapshot(settings) -> dict:
    """The settings as plain values (building a scene reads factory settings, which drops them)."""
    values = {}
    for name in settings.bl_rna.properties.keys():
        if name not in ("rna_type", "name"):
            value = getattr(settings, name)
            values[name] = tuple(value) if name == "sh" else value  # not a view into the old scene
    return values


def restore(settings, values: dict) -> None:
    for name, value in values.items():
        setattr(settings, name, value)


classes = (SynthSettings,)


def register_scene_pointer() -> None:
    bpy.types.Scene.synth = bpy.props.PointerProperty(type=SynthSettings)


def unregister_scene_pointer() -> None:
    del bpy.types.Scene.synth

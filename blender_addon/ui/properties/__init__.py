"""The add-on's settings on each scene (``scene.synth``): the clip's seed and render options
(what ``sample_plan`` is given), the passes to write, the current plan (JSON), and one group per
panel topic (``scene.synth.body``, ``.motion``, ``.look``, ``.camera``: modules of their own).

Defaults come from :class:`~synth_core.scene.plan.PlanOptions` and ranges from the limits in
:mod:`synth_core.scene.plan`, so the panels offer exactly what a plan accepts. Each topic module
has ``show(group, plan)``, which puts a plan's values on its group (:func:`show_plan`).
"""

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from synth_core.scene.plan import MAX_RESOLUTION, MAX_SAMPLES, PASSES, SCENES, SHADINGS, PlanOptions

from . import body, camera, look, motion

DEFAULTS = PlanOptions()
# validate_render_options' smallest width and height, PlanOptions' longest clip (literals there).
MIN_RESOLUTION = 16
MAX_FRAMES = 100_000
MAX_SEED = 2**31 - 1  # Blender's IntProperty is a signed 32-bit integer
SHADING_LABELS = {"osl": ("OSL", "SURREAL's sh.osl shader (Cycles on the CPU or OptiX)"),
                  "nodes": ("Nodes", "The same lighting as a node group (any device, Eevee)")}
SCENE_LABELS = {"composite": ("Composite", "The body alone, composited over a 2-D background (SURREAL)"),
                "grounded": ("Grounded", "A shadow-catcher ground plane under the feet, lit from the SH")}
# The topic groups: attribute of scene.synth -> module (its settings class, show()).
TOPICS = {"body": body, "motion": motion, "look": look, "camera": camera}


def pass_property(name: str) -> str:
    """The property that says whether pass ``name`` is written."""
    return f"pass_{name}"


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


for _name in PASSES:  # one switch per pass of the dataset format, on as in PlanOptions
    SynthSettings.__annotations__[pass_property(_name)] = BoolProperty(
        name=_name.replace("_", " ").capitalize(), default=_name in DEFAULTS.passes)
for _topic, _module in TOPICS.items():
    SynthSettings.__annotations__[_topic] = PointerProperty(type=_module.SETTINGS)


def plan_options(settings) -> PlanOptions:
    """PlanOptions of the panels' settings (PlanError names what a plan cannot take)."""
    from dataclasses import replace

    passes = tuple(name for name in PASSES if getattr(settings, pass_property(name)))
    return replace(DEFAULTS, width=settings.width, height=settings.height, samples=settings.samples,
                   n_frames=settings.frames, shading=settings.shading, scene=settings.scene_kind, passes=passes)


def show_plan(settings, plan) -> None:
    """Put ``plan``'s values on the panels: seed, render options, passes and every topic's."""
    r = plan.render
    settings.seed, settings.width, settings.height, settings.samples = plan.seed, r["width"], r["height"], r["samples"]
    settings.frames = plan.motion.get("requested_frames", plan.motion["n_frames"])
    settings.shading, settings.scene_kind = r["shading"], r.get("scene", "composite")
    for name in PASSES:
        setattr(settings, pass_property(name), name in r["passes"])
    for topic, module in TOPICS.items():
        module.show(getattr(settings, topic), plan)


def snapshot(settings) -> dict:
    """The settings as plain values, topic groups as nested dicts (building a scene reads the
    factory start-up file, which drops them)."""
    values = {}
    for prop in settings.bl_rna.properties:
        name = prop.identifier
        if name in ("rna_type", "name"):
            continue
        value = getattr(settings, name)
        if prop.type == "POINTER":
            values[name] = snapshot(value)
        elif getattr(prop, "is_array", False):
            values[name] = tuple(value)  # not a view into the old scene
        else:
            values[name] = value
    return values


def restore(settings, values: dict) -> None:
    for name, value in values.items():
        if isinstance(value, dict):
            restore(getattr(settings, name), value)
        else:
            setattr(settings, name, value)


# Registration order: the topic groups before the group that points at them.
classes = tuple(cls for module in TOPICS.values() for cls in module.classes) + (SynthSettings,)


def register_scene_pointer() -> None:
    bpy.types.Scene.synth = bpy.props.PointerProperty(type=SynthSettings)


def unregister_scene_pointer() -> None:
    del bpy.types.Scene.synth

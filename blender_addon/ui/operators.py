"""The add-on's operators. None builds a scene its own way: scenes come from
:mod:`blender_addon.scene` (``build_scene``) with a plan from ``sample_plan`` or a plan file,
and clips are rendered by the headless worker's own :func:`blender_addon.worker.render_clip`.

Building a scene reads Blender's factory settings (a fresh, empty file), which drops the
scene's ``synth`` settings: every operator that builds carries them over (:func:`rebuilt`).
"""


import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import bpy
import numpy as np
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from synth_core.errors import PlanError, SynthError
from synth_core.scene.plan import PASSES, ScenePlan, validate_plan

from .properties import pass_property, plan_options, restore, snapshot

PLAN_FILTER = "*.json"


def current_plan(settings) -> ScenePlan | None:
    return ScenePlan.from_json(settings.plan_json) if settings.plan_json else None


def plan_to_write(settings) -> ScenePlan:
    """The current plan with the Ground truth panel's passes: what Export writes and Render
    clip renders."""
    passes = [name for name in PASSES if getattr(settings, pass_property(name))]
    if not passes:
        raise PlanError("no pass chosen: switch on at least one pass in the Ground truth panel")
    plan = current_plan(settings)
    plan = replace(plan, render={**plan.render, "passes": passes})
    validate_plan(plan)
    return plan


def store_plan(settings, plan: ScenePlan) -> None:
    """Make ``plan`` the scene's: its JSON, and its seed, render options, passes and SH on the
    panels (an imported plan shows what it renders)."""
    settings.plan_json = plan.to_json()
    r = plan.render
    settings.seed, settings.width, settings.height, settings.samples = plan.seed, r["width"], r["height"], r["samples"]
    settings.frames = plan.motion.get("requested_frames", plan.motion["n_frames"])
    settings.shading, settings.scene_kind = r["shading"], r.get("scene", "composite")
    for name in PASSES:
        setattr(settings, pass_property(name), name in r["passes"])
    settings.sh = plan.lighting["sh"]


@contextmanager
def rebuilt(context):
    """Run a scene build; the new scene gets the old one's ``synth`` settings."""
    values = snapshot(context.scene.synth)
    try:
        yield
    finally:  # a failed build may have replaced the scene too
        restore(bpy.context.scene.synth, values)


def build_plan(context, plan: ScenePlan) -> None:
    """Build ``plan``'s scene as the worker does: its inputs evaluated by the worker's
    prepare_inputs, the scene by blender_addon.scene.build_scene."""
    from blender_addon.scene import build_scene
    from blender_addon.worker import prepare_inputs

    with tempfile.TemporaryDirectory(prefix="synth-addon-") as work_dir:
        geometry, texture_path, _ = prepare_inputs(plan, Path(work_dir))
        with rebuilt(context):
            build_scene(plan, geometry, texture_path)
        for image in bpy.data.images:  # Blender reads images lazily: keep the texture in the file
            if image.filepath and Path(bpy.path.abspath(image.filepath)).parent == Path(work_dir):
                image.pack()
    store_plan(bpy.context.scene.synth, plan)


def body_materials():
    """The built body's materials (those with the SH node)."""
    return [m for m in bpy.data.materials if m.node_tree is not None and "SH" in m.node_tree.nodes]


def apply_sh_from_settings(settings) -> None:
    """The sliders' SH into the plan (where they changed it) and the body's materials."""
    from blender_addon.scene.materials import set_sh

    plan = current_plan(settings)
    if plan is None:
        return
    sh = [float(value) for value in settings.sh]
    # Sliders hold 32-bit floats: only an edit, not the plan's own values read back, changes the plan.
    if not np.array_equal(np.float32(plan.lighting["sh"]), np.float32(sh)):
        plan = replace(plan, lighting={**plan.lighting, "sh": sh})
        settings.plan_json = plan.to_json()
    for material in body_materials():
        set_sh(material, plan.lighting["sh"])


class SYNTH_OT_sample_scene(bpy.types.Operator):
    """Sample the plan of the scene's seed with the panels' options and build it"""

    bl_idname = "synth.sample_scene"
    bl_label = "Sample Scene"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from synth_core.scene.plan import sample_plan

        settings = context.scene.synth
        try:
            plan = sample_plan(settings.seed, plan_options(settings))
            build_plan(context, plan)
        except SynthError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Built the scene of seed {plan.seed}")
        return {"FINISHED"}


class SYNTH_OT_export_plan(bpy.types.Operator, ExportHelper):
    """Write the current scene plan as JSON (`synth render --plan FILE` renders it)"""

    bl_idname = "synth.export_plan"
    bl_label = "Export Plan"
    filename_ext = ".json"
    filter_glob: StringProperty(default=PLAN_FILTER, options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return bool(context.scene.synth.plan_json)

    def execute(self, context):
        from synth_core.mesh_io import _atomic_write

        try:
            plan = plan_to_write(context.scene.synth)
            _atomic_write(Path(self.filepath), (plan.to_json() + "\n").encode())
        except (SynthError, OSError) as exc:
            self.report({"ERROR"}, f"cannot export the plan to {self.filepath}: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {self.filepath}")
        return {"FINISHED"}


class SYNTH_OT_import_plan(bpy.types.Operator, ImportHelper):
    """Read a scene plan (JSON) and build its scene"""

    bl_idname = "synth.import_plan"
    bl_label = "Import Plan"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".json"
    filter_glob: StringProperty(default=PLAN_FILTER, options={"HIDDEN"})

    def execute(self, context):
        path = Path(self.filepath)
        try:
            plan = ScenePlan.from_json(path.read_text())
        except (SynthError, OSError, UnicodeDecodeError) as exc:
            self.report({"ERROR"}, f"{path.name} is not a scene plan: {exc}")
            return {"CANCELLED"}
        try:
            build_plan(context, plan)
        except SynthError as exc:
            self.report({"ERROR"}, f"cannot build the plan in {path.name}: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Built the plan in {path.name}")
        return {"FINISHED"}


class SYNTH_OT_sample_sh(bpy.types.Operator):
    """Sample SH lighting as SURREAL does, into the Look panel and the body's materials"""

    bl_idname = "synth.sample_sh"
    bl_label = "Sample like SURREAL"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from synth_core.scene.lighting import sample_sh

        settings = context.scene.synth
        sh = sample_sh(np.random.default_rng(settings.sh_seed))
        settings.sh = sh.tolist()  # the update writes them into the plan and the materials
        settings.sh_seed = (settings.sh_seed + 1) % (2**31 - 1)  # the next press, another light
        return {"FINISHED"}


class SYNTH_OT_render_clip(bpy.types.Operator):
    """Render the current plan into a clip folder (dataset format v1), as the CLI's worker does"""

    bl_idname = "synth.render_clip"
    bl_label = "Render Clip"
    bl_options = {"REGISTER"}
    directory: StringProperty(name="Folder", description="Folder to create the clip folder in",
                              subtype="DIR_PATH")

    @classmethod
    def poll(cls, context):
        return bool(context.scene.synth.plan_json)

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        from blender_addon.worker import render_clip

        settings = context.scene.synth
        if not self.directory:
            self.report({"ERROR"}, "choose a folder to render the clip into")
            return {"CANCELLED"}
        try:
            plan = plan_to_write(settings)
            out = Path(bpy.path.abspath(self.directory)) / f"clip_{plan.seed:08d}"
            with tempfile.TemporaryDirectory(prefix="synth-addon-render-") as work_dir, rebuilt(context):
                render_clip(plan, out, Path(work_dir))
            store_plan(bpy.context.scene.synth, plan)  # with its passes: an export renders the same
        except (SynthError, OSError) as exc:
            self.report({"ERROR"}, f"cannot render the clip: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Rendered {out}")
        return {"FINISHED"}


classes = (SYNTH_OT_sample_scene, SYNTH_OT_export_plan, SYNTH_OT_import_plan, SYNTH_OT_sample_sh,
           SYNTH_OT_render_clip)

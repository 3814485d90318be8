"""The Ground truth panel's operators: render the current plan into a clip folder."""

import tempfile
from pathlib import Path

import bpy
from bpy.props import StringProperty

from synth_core.errors import SynthError

from .common import plan_to_write, rebuilt, store_plan


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


classes = (SYNTH_OT_render_clip,)

"""The Scene panel's operator: sample the plan of a seed and build it."""

import bpy

from synth_core.errors import SynthError

from ..properties import plan_options
from .common import build_plan, confirm_new_file


class SYNTH_OT_sample_scene(bpy.types.Operator):
    """Sample the plan of the scene's seed with the panels' options and build it"""

    bl_idname = "synth.sample_scene"
    bl_label = "Sample Scene"
    bl_options = {"REGISTER", "UNDO"}

    def invoke(self, context, event):
        return confirm_new_file(self, context, event)

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


classes = (SYNTH_OT_sample_scene,)

"""The Plan panel: export the current scene plan (JSON), import a plan."""

import bpy

from .base import SynthPanel


class VIEW3D_PT_synth_plan(SynthPanel, bpy.types.Panel):
    bl_label = "Plan"

    def draw(self, context):
        layout = self.layout
        if not context.scene.synth.plan_json:
            layout.label(text="No plan yet: sample a scene or import a plan", icon="INFO")
        row = layout.row(align=True)
        row.operator("synth.export_plan", icon="EXPORT")
        row.operator("synth.import_plan", icon="IMPORT")

"""Sidebar panels of the 3D viewport (N panel, tab "Synth"): Scene, Look, Ground truth, Plan."""

from __future__ import annotations

import bpy

from synth_core.scene.plan import PASSES

from .properties import SH_LABELS, pass_property


class SynthPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Synth"


class VIEW3D_PT_synth_scene(SynthPanel, bpy.types.Panel):
    bl_label = "Scene"

    def draw(self, context):
        layout, settings = self.layout, context.scene.synth
        layout.prop(settings, "seed")
        column = layout.column(align=True)
        column.prop(settings, "width")
        column.prop(settings, "height")
        layout.prop(settings, "samples")
        layout.prop(settings, "frames")
        layout.prop(settings, "shading")
        layout.prop(settings, "scene_kind")
        layout.operator("synth.sample_scene", icon="FILE_REFRESH")


class VIEW3D_PT_synth_look(SynthPanel, bpy.types.Panel):
    bl_label = "Look"

    def draw(self, context):
        layout, settings = self.layout, context.scene.synth
        box = layout.box()
        box.label(text="SH lighting")
        column = box.column(align=True)
        for index, label in enumerate(SH_LABELS):
            column.prop(settings, "sh", index=index, text=label, slider=True)
        row = layout.row(align=True)
        row.operator("synth.sample_sh", icon="LIGHT_SUN")
        row.prop(settings, "sh_seed", text="")


class VIEW3D_PT_synth_ground_truth(SynthPanel, bpy.types.Panel):
    bl_label = "Ground truth"

    def draw(self, context):
        layout, settings = self.layout, context.scene.synth
        column = layout.column(heading="Passes")
        for name in PASSES:
            column.prop(settings, pass_property(name))
        layout.operator("synth.render_clip", icon="RENDER_ANIMATION")


class VIEW3D_PT_synth_plan(SynthPanel, bpy.types.Panel):
    bl_label = "Plan"

    def draw(self, context):
        layout = self.layout
        if not context.scene.synth.plan_json:
            layout.label(text="No plan yet: sample a scene or import a plan", icon="INFO")
        row = layout.row(align=True)
        row.operator("synth.export_plan", icon="EXPORT")
        row.operator("synth.import_plan", icon="IMPORT")


classes = (VIEW3D_PT_synth_scene, VIEW3D_PT_synth_look, VIEW3D_PT_synth_ground_truth, VIEW3D_PT_synth_plan)

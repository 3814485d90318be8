"""The Scene panel: seed, render options, scene kind; sample a scene."""

import bpy

from .base import SynthPanel


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

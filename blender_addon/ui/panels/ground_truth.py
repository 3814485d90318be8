"""The Ground truth panel: which passes to write; render the clip."""

import bpy

from synth_core.scene.plan import PASSES

from ..properties import pass_property
from .base import SynthPanel


class VIEW3D_PT_synth_ground_truth(SynthPanel, bpy.types.Panel):
    bl_label = "Ground truth"

    def draw(self, context):
        layout, settings = self.layout, context.scene.synth
        column = layout.column(heading="Passes")
        for name in PASSES:
            column.prop(settings, pass_property(name))
        layout.operator("synth.render_clip", icon="RENDER_ANIMATION")

"""The Ground truth panel: which passes to write; render the timeline's frame (every pass side by
side in an Image Editor) or the clip, and the clip render's progress while it runs."""

import bpy

from synth_core.scene.plan import PASSES

from ..operators.ground_truth import ClipProgress
from ..properties import pass_property
from .base import SynthPanel


class VIEW3D_PT_synth_ground_truth(SynthPanel, bpy.types.Panel):
    bl_label = "Ground truth"

    def draw(self, context):
        layout, settings = self.layout, context.scene.synth
        column = layout.column(heading="Passes")
        for name in PASSES:
            column.prop(settings, pass_property(name))
        row = layout.row(align=True)
        row.operator("synth.render_frame", icon="RENDER_STILL")
        row.operator("synth.render_clip", icon="RENDER_ANIMATION")
        if ClipProgress.out is not None:
            layout.progress(factor=ClipProgress.done / max(ClipProgress.total, 1), type="BAR",
                            text=ClipProgress.text())
            layout.label(text="Esc cancels the render", icon="CANCEL")

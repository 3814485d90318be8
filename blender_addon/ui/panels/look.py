"""The Look panel: SH lighting with 9 sliders and "sample like SURREAL"."""

import bpy

from ..properties.look import SH_LABELS
from .base import SynthPanel


class VIEW3D_PT_synth_look(SynthPanel, bpy.types.Panel):
    bl_label = "Look"

    def draw(self, context):
        layout, look = self.layout, context.scene.synth.look
        box = layout.box()
        box.label(text="SH lighting")
        column = box.column(align=True)
        for index, label in enumerate(SH_LABELS):
            column.prop(look, "sh", index=index, text=label, slider=True)
        row = layout.row(align=True)
        row.operator("synth.sample_sh", icon="LIGHT_SUN")
        row.prop(look, "sh_seed", text="")

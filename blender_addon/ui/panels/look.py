"""The Look panel: texture (an image file, or randomise a procedural one), background (a pool
image or HDRI, a file, or randomise; shown behind the camera view), SH lighting with 9 sliders
and "sample like SURREAL"."""

import bpy

from synth_core.errors import SynthError

from ..operators.common import current_plan
from ..operators.look import background_summary, texture_summary
from ..properties.look import SH_LABELS
from .base import SynthPanel, randomise_row


def shown_plan(settings):
    """The scene's plan, or None when there is none (or it does not parse: draw() must not fail)."""
    try:
        return current_plan(settings)
    except SynthError:
        return None


class VIEW3D_PT_synth_look(SynthPanel, bpy.types.Panel):
    bl_label = "Look"

    def draw(self, context):
        layout, look = self.layout, context.scene.synth.look
        plan = shown_plan(context.scene.synth)
        if look.error:
            layout.label(text=look.error, icon="ERROR")

        box = layout.box()
        box.label(text="Texture")
        box.label(text=texture_summary(plan), icon="TEXTURE")
        box.operator("synth.load_texture", icon="FILEBROWSER")
        randomise_row(box, "synth.randomize_texture", look, "texture_seed")

        box = layout.box()
        box.label(text="Background (camera view)")
        box.label(text=background_summary(plan), icon="IMAGE_BACKGROUND")
        box.prop(look, "background")
        box.operator("synth.load_background", icon="FILEBROWSER")
        randomise_row(box, "synth.randomize_background", look, "background_seed")

        box = layout.box()
        box.label(text="SH lighting")
        column = box.column(align=True)
        for index, label in enumerate(SH_LABELS):
            column.prop(look, "sh", index=index, text=label, slider=True)
        row = box.row(align=True)
        row.operator("synth.sample_sh", icon="LIGHT_SUN")
        row.prop(look, "sh_seed", text="")

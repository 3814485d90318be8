"""The Body panel: the body model (default body, installed SMPL, an SMPL file), gender, shape
sliders, phenotype sliders (default body), randomise shape, snap to ground, pose correctives."""

import bpy

from synth_core.body.catalog import GENDERS

from ..operators.body import body_summary
from .base import SynthPanel, randomise_row


class VIEW3D_PT_synth_body(SynthPanel, bpy.types.Panel):
    bl_label = "Body"

    def draw(self, context):
        layout, body = self.layout, context.scene.synth.body
        layout.label(text=body_summary(body), icon="OUTLINER_OB_ARMATURE")
        row = layout.row(align=True)
        for source, text in (("default", "Default"), ("smpl", "Installed SMPL")):
            row.operator("synth.use_body", text=text, depress=body.source == source and not body.model_path
                         ).source = source
        layout.operator("synth.load_body_model", icon="FILEBROWSER")
        row = layout.row(align=True)
        for gender in GENDERS:
            row.operator("synth.set_body_gender", text=gender.capitalize(),
                         depress=body.gender == gender).gender = gender
        if body.error:
            layout.label(text=body.error, icon="ERROR")

        box = layout.box()
        box.label(text="Shape")
        column = box.column(align=True)
        for index in range(body.n_betas):
            column.prop(body, "betas", index=index, text=f"Beta {index}", slider=True)
        randomise_row(box, "synth.randomize_shape", body, "shape_seed")

        box = layout.box()
        box.label(text="Phenotype (default body)")
        column = box.column(align=True)
        column.active = body.source == "default"
        for name in ("height", "weight", "muscle", "age", "proportions"):
            column.prop(body, name, slider=True)

        layout.prop(body, "pose_correctives")
        layout.operator("synth.snap_to_ground", icon="TRIA_DOWN_BAR")

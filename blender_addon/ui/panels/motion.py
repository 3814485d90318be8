"""The Motion panel: a built-in procedural motion or an AMASS file, randomise, and the clip
frame the body shows (the timeline)."""

from pathlib import Path

import bpy

from .base import SynthPanel


class VIEW3D_PT_synth_motion(SynthPanel, bpy.types.Panel):
    bl_label = "Motion"

    def draw(self, context):
        layout, motion = self.layout, context.scene.synth.motion
        layout.prop(motion, "source", expand=True)
        if motion.error:
            layout.label(text=motion.error, icon="ERROR")

        box = layout.box()
        box.active = motion.source == "procedural"
        box.prop(motion, "kind")
        column = box.column(align=True)
        for name in ("speed", "amplitude", "phase"):
            column.prop(motion, name, slider=name != "phase")
        box.prop(motion, "mirror")

        box = layout.box()
        box.active = motion.source == "amass"
        box.operator("synth.load_amass", icon="FILEBROWSER")  # .npz; BVH not yet (issue 12)
        if motion.amass_path:
            box.label(text=f"{Path(motion.amass_path).name}: {motion.available} frames")
        box.prop(motion, "start")

        row = layout.row(align=True)
        row.operator("synth.randomize_motion", icon="FILE_REFRESH")
        row.prop(motion, "motion_seed", text="")
        # Scrubbing: the timeline poses the body at that clip frame (frames 0..T-1).
        layout.prop(context.scene, "frame_current", text="Clip frame")

"""The Motion panel: a built-in procedural motion, an AMASS or BVH file, or the pose prior;
randomise; and the clip frame the body shows (the timeline)."""

from pathlib import Path

import bpy

from .base import SynthPanel, randomise_row


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
        box.active = motion.source in ("amass", "bvh")
        box.operator("synth.load_motion", icon="FILEBROWSER")  # AMASS .npz or .bvh
        if motion.file_path:
            box.label(text=f"{Path(motion.file_path).name}: {motion.available} frames")
        box.prop(motion, "start")

        box = layout.box()
        box.active = motion.source == "prior"
        box.prop(motion, "hold_s")

        randomise_row(layout, "synth.randomize_motion", motion, "motion_seed")
        # Scrubbing: the timeline poses the body at that clip frame (frames 0..T-1).
        layout.prop(context.scene, "frame_current", text="Clip frame")

"""The Camera panel: SURREAL placement; distance, yaw and elevation around the target and
in-plane roll (live: only the camera moves)."""

import bpy

from .base import SynthPanel


class VIEW3D_PT_synth_camera(SynthPanel, bpy.types.Panel):
    bl_label = "Camera"

    def draw(self, context):
        layout, camera = self.layout, context.scene.synth.camera
        layout.operator("synth.place_camera_surreal", icon="VIEW_CAMERA")
        if camera.error:
            layout.label(text=camera.error, icon="ERROR")
        column = layout.column(align=True)
        for name in ("distance", "yaw", "elevation", "roll"):
            column.prop(camera, name)

"""Camera settings (``scene.synth.camera``)."""

import bpy


class CameraSettings(bpy.types.PropertyGroup):
    pass


def show(group, plan) -> None:
    """Put ``plan``'s camera values on the group."""


SETTINGS = CameraSettings
classes = (CameraSettings,)

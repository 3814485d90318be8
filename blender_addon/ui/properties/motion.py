"""Motion settings (``scene.synth.motion``)."""

import bpy


class MotionSettings(bpy.types.PropertyGroup):
    pass


def show(group, plan) -> None:
    """Put ``plan``'s motion values on the group."""


SETTINGS = MotionSettings
classes = (MotionSettings,)

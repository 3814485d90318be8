"""Body settings (``scene.synth.body``)."""

import bpy


class BodySettings(bpy.types.PropertyGroup):
    pass


def show(group, plan) -> None:
    """Put ``plan``'s body values on the group."""


SETTINGS = BodySettings
classes = (BodySettings,)

"""Blender add-on: everything that touches bpy (scene building, shaders, passes, artist UI).

Scaffold: scene building and rendering arrive with the rendering issue. The add-on
follows Blender's own add-on layout: operators, properties and panels in separate
modules, and one ``classes`` tuple registered here.
"""

classes: tuple = ()


def register() -> None:
    import bpy

    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    import bpy

    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)

"""Blender add-on: everything that touches bpy.

- :mod:`.scene`: the one place a scene plan becomes a Blender scene (``build_scene``, ``scene_for``);
- :mod:`.render`: passes, EXR read-back and render devices;
- :mod:`.worker`: the headless worker (``python -m blender_addon.worker``) the CLI renders with;
- :mod:`.ui`: the artist UI (settings, operators, 3D-viewport sidebar panels, tab "Synth"),
  which builds scenes only through :mod:`.scene` and renders only through :mod:`.worker`.

``register()`` registers the UI (Blender's add-on layout: properties, operators and panels in
modules of their own, one ``classes`` tuple: ``blender_addon.ui.classes``). The worker never
imports :mod:`.ui`.
"""


def register() -> None:
    from . import ui

    use_blender_datafiles()
    ui.register()


def use_blender_datafiles() -> None:
    """Tell synth_core where this Blender keeps its data files (the HDRIs): inside a Blender
    binary they are not in the ``bpy`` package (:func:`synth_core.assets.use_blender_datafiles`)."""
    import bpy

    from synth_core import assets

    assets.use_blender_datafiles(bpy.utils.system_resource("DATAFILES"))


def unregister() -> None:
    from . import ui

    ui.unregister()

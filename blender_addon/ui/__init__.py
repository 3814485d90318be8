"""The artist UI: settings on the scene (:mod:`.properties`), operators (:mod:`.operators`) and
3D-viewport sidebar panels (:mod:`.panels`), each a package with one module per panel topic
(scene, body, motion, look, camera, ground truth, plan). Imported by ``blender_addon.register()`` only:
the headless worker never imports it, and it builds scenes only through
:mod:`blender_addon.scene` and renders only through :mod:`blender_addon.worker`.
"""

from __future__ import annotations

from . import operators, panels, properties

# Registration order: the property group first (the Scene pointer needs it), panels last.
classes = properties.classes + operators.classes + panels.classes


def register() -> None:
    import bpy

    for cls in classes:
        bpy.utils.register_class(cls)
    properties.register_scene_pointer()
    bpy.app.handlers.save_pre.append(operators.common.pack_session_images)
    bpy.app.handlers.frame_change_post.append(operators.motion.pose_at_frame)  # scrubbing poses the body


def unregister() -> None:
    import bpy

    if operators.motion.pose_at_frame in bpy.app.handlers.frame_change_post:
        bpy.app.handlers.frame_change_post.remove(operators.motion.pose_at_frame)
    if operators.common.pack_session_images in bpy.app.handlers.save_pre:
        bpy.app.handlers.save_pre.remove(operators.common.pack_session_images)
    properties.unregister_scene_pointer()
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)

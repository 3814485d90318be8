"""What every operator shares: the scene's current plan (``scene.synth.plan_json``, the one
source of truth: panels show it, operators edit it), building it, and carrying the settings
over a build.

No operator builds a scene its own way: scenes come from :mod:`blender_addon.scene`
(``build_scene``) with the worker's own ``prepare_inputs``, and clips are rendered by the
headless worker's :func:`blender_addon.worker.render_clip`. Building a scene reads Blender's
factory start-up file (a fresh, empty file), which drops the scene's ``synth`` settings: every
operator that builds carries them over (:func:`rebuilt`).
"""

import json
import tempfile
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import bpy

from synth_core.errors import PlanError
from synth_core.scene.plan import PASSES, ScenePlan, modified_ns, validate_plan

from ..properties import pass_property, restore, show_plan, snapshot


def current_plan(settings) -> ScenePlan | None:
    return ScenePlan.from_json(settings.plan_json) if settings.plan_json else None


def plan_to_write(settings) -> ScenePlan:
    """The current plan with the Ground truth panel's passes: what Export writes and Render
    clip renders."""
    passes = [name for name in PASSES if getattr(settings, pass_property(name))]
    if not passes:
        raise PlanError("no pass chosen: switch on at least one pass in the Ground truth panel")
    plan = current_plan(settings)
    plan = replace(plan, render={**plan.render, "passes": passes})
    validate_plan(plan)
    return plan


NEW_FILE_TITLE = "Start a new Blender file?"
NEW_FILE_MESSAGE = "Building a scene starts a new file, as the renderer's worker does: unsaved changes are lost"

_showing = False


def confirm_new_file(operator, context, event):
    """An operator's invoke() for operators that build: ask first when the open file has unsaved
    changes (building reads the factory start-up file, like File > New)."""
    if bpy.data.is_dirty:
        return context.window_manager.invoke_confirm(operator, event, title=NEW_FILE_TITLE,
                                                      message=NEW_FILE_MESSAGE, icon="WARNING")
    return operator.execute(context)


def showing_plan() -> bool:
    """True while :func:`store_plan` puts a plan on the panels: settings' update callbacks
    return at once then (the plan is not being edited)."""
    return _showing


def store_plan(settings, plan: ScenePlan) -> None:
    """Make ``plan`` the scene's: its JSON, and its values on every panel (an imported plan
    shows what it renders)."""
    global _showing
    settings.plan_json = plan.to_json()
    before, _showing = _showing, True
    try:
        show_plan(settings, plan)
    finally:
        _showing = before


def clip_frame(scene, plan: ScenePlan) -> int:
    """The clip frame (0-based, rendered frames) the timeline is at: a build sets the scene's
    frame range to the clip's frames 0..T-1."""
    return min(max(scene.frame_current, 0), int(plan.motion["n_frames"]) - 1)


def apply_plan(context, plan: ScenePlan) -> None:
    """Make ``plan``, an edit of the scene's plan, the scene's, as the worker turns one clip's
    scene into the next (:func:`blender_addon.scene.scene_for`): in place when the body model,
    shading, engine and scene kind are unchanged (live: shape, pose, texture, lighting, camera,
    ground), else a fresh build. The body then shows the timeline's frame."""
    from blender_addon.scene import built_scene_in, scene_for
    from blender_addon.scene.body import set_posed_vertices
    from synth_core.scene.clip import PAD

    settings = context.scene.synth
    validate_plan(plan)
    geometry, texture_path = live_inputs(plan)
    old = current_plan(settings)
    previous = built_scene_in(context.scene, old) if old is not None else None
    with rebuilt(context):  # a fresh build replaces the scene
        built = scene_for(plan, geometry, texture_path, previous)
    store_plan(bpy.context.scene.synth, plan)
    set_posed_vertices(built.mesh, geometry.vertices_world, PAD + clip_frame(bpy.context.scene, plan))


def live_inputs(plan: ScenePlan):
    """(geometry, texture path) of a plan, as the worker's prepare_inputs makes them, remembered
    for the last plans: dragging a slider edits one part of the plan at a time."""
    body_motion = json.dumps([plan.body, plan.motion, plan.placement], sort_keys=True)
    geometry = _remembered(_geometries, 2, body_motion, lambda: _geometry(plan))
    if plan.render.get("scene", "composite") == "grounded":
        from blender_addon.scene.ground import check_camera_above_ground

        check_camera_above_ground(plan, geometry)
    # The texture depends on the body model (its UVs), not on its shape or pose: shape sliders reuse it.
    model = {key: value for key, value in plan.body.items() if key not in ("betas", "pose_correctives")}
    texture_key = json.dumps([plan.texture, model, modified_ns(plan.texture.get("path"))], sort_keys=True)
    return geometry, _remembered(_textures, 8, texture_key, lambda: _texture(plan))


# Made once per key (what they depend on), for the last few keys (lru_cache would key on the whole plan).
_geometries: dict = {}
_textures: dict = {}


def _remembered(cache: dict, size: int, key: str, make):
    if key in cache:
        cache[key] = cache.pop(key)  # the most recent last
    else:
        cache[key] = make()
        while len(cache) > size:
            cache.pop(next(iter(cache)))
    return cache[key]


def _geometry(plan: ScenePlan):
    from synth_core.scene.clip import evaluate_clip

    return evaluate_clip(plan)


def _texture(plan: ScenePlan) -> Path:
    from blender_addon.worker import write_texture

    folder = Path(tempfile.mkdtemp(prefix="texture-", dir=session_folder()))
    return write_texture(plan, folder)


@lru_cache(maxsize=1)
def session_folder() -> Path:
    """Where this Blender session keeps the textures it made (Blender's own temporary folder,
    removed when Blender quits); saving the file packs them (:func:`pack_session_images`)."""
    return Path(tempfile.mkdtemp(prefix="synth-addon-", dir=bpy.app.tempdir or None))


@bpy.app.handlers.persistent
def pack_session_images(*_) -> None:
    """Before a save: pack the images made in this session into the file (they live in a
    temporary folder). Live edits keep them unpacked: a packed image reloads its packed bytes."""
    folder = session_folder()
    for image in bpy.data.images:
        if image.filepath and not image.packed_file and folder in Path(bpy.path.abspath(image.filepath)).parents:
            image.pack()


@contextmanager
def rebuilt(context):
    """Run a scene build; the new scene gets the old one's ``synth`` settings."""
    values = snapshot(context.scene.synth)
    try:
        yield
    finally:  # a failed build may have replaced the scene too
        global _showing
        before, _showing = _showing, True  # settings' update callbacks wait: nothing is edited
        try:
            restore(bpy.context.scene.synth, values)
        finally:
            _showing = before


def build_plan(context, plan: ScenePlan) -> None:
    """Build ``plan``'s scene afresh as the worker does (its inputs as the worker's
    prepare_inputs makes them, the scene by blender_addon.scene.build_scene)."""
    from blender_addon.scene import build_scene

    validate_plan(plan)
    geometry, texture_path = live_inputs(plan)
    with rebuilt(context):
        build_scene(plan, geometry, texture_path)
    store_plan(bpy.context.scene.synth, plan)


def body_materials():
    """The built body's materials (those with the SH node)."""
    return [m for m in bpy.data.materials if m.node_tree is not None and "SH" in m.node_tree.nodes]

"""What every operator shares: the scene's current plan (``scene.synth.plan_json``, the one
source of truth: panels show it, operators edit it), building it, and carrying the settings
over a build.

No operator builds a scene its own way: scenes come from :mod:`blender_addon.scene`
(``build_scene``) with the worker's own ``prepare_inputs``, and clips are rendered by the
headless worker's :func:`blender_addon.worker.render_clip`. Building a scene reads Blender's
factory start-up file (a fresh, empty file), which drops the scene's ``synth`` settings: every
operator that builds carries them over (:func:`rebuilt`).
"""

import tempfile
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import bpy

from synth_core.errors import PlanError
from synth_core.scene.plan import PASSES, ScenePlan, validate_plan

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


def store_plan(settings, plan: ScenePlan) -> None:
    """Make ``plan`` the scene's: its JSON, and its values on every panel (an imported plan
    shows what it renders)."""
    settings.plan_json = plan.to_json()
    show_plan(settings, plan)


@contextmanager
def rebuilt(context):
    """Run a scene build; the new scene gets the old one's ``synth`` settings."""
    values = snapshot(context.scene.synth)
    try:
        yield
    finally:  # a failed build may have replaced the scene too
        restore(bpy.context.scene.synth, values)


def build_plan(context, plan: ScenePlan) -> None:
    """Build ``plan``'s scene as the worker does: its inputs evaluated by the worker's
    prepare_inputs, the scene by blender_addon.scene.build_scene."""
    from blender_addon.scene import build_scene
    from blender_addon.worker import prepare_inputs

    with tempfile.TemporaryDirectory(prefix="synth-addon-") as work_dir:
        geometry, texture_path, _ = prepare_inputs(plan, Path(work_dir))
        with rebuilt(context):
            build_scene(plan, geometry, texture_path)
        for image in bpy.data.images:  # Blender reads images lazily: keep the texture in the file
            if image.filepath and Path(bpy.path.abspath(image.filepath)).parent == Path(work_dir):
                image.pack()
    store_plan(bpy.context.scene.synth, plan)


def body_materials():
    """The built body's materials (those with the SH node)."""
    return [m for m in bpy.data.materials if m.node_tree is not None and "SH" in m.node_tree.nodes]

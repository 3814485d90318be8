"""Editing the scene's plan from the Body and Motion panels: every edit is a function
plan -> new plan, applied through :func:`.common.apply_plan`, with the camera following the
body (:func:`synth_core.scene.plan.follow_body`: it moves as the body's mean pelvis moved, so
the artist's framing, distance and angles are kept).

Operators report bad input; live sliders cannot report, so a refused slider edit puts the
plan's values back on the panels and its message in the topic group's ``error``, which the
panel draws.
"""

from __future__ import annotations

from typing import Callable

import bpy
import numpy as np

from synth_core.errors import PlanError, SynthError
from synth_core.scene.plan import ScenePlan, follow_body

from .common import apply_plan, current_plan, showing_plan, store_plan

Edit = Callable[[ScenePlan], ScenePlan]


def apply_edit(context, edit: Edit, follow: bool = True) -> ScenePlan:
    """Make ``edit(plan)`` the scene's plan (SynthError on bad input: nothing changes then)."""
    plan = current_plan(context.scene.synth)
    if plan is None:
        raise PlanError("no plan yet: sample a scene or import a plan first")
    edited = edit(plan)
    if edited != plan:
        apply_plan(context, follow_body(plan, edited) if follow else edited)
    return edited


def live_edit(context, topic: str, edit: Edit) -> None:
    """A slider's update: apply ``edit`` in place, or show why not (``scene.synth.<topic>.error``)."""
    from blender_addon.scene import built_scene_in

    if showing_plan():
        return
    settings = context.scene.synth
    plan = current_plan(settings)
    if plan is None:
        return  # nothing built yet: the next Sample Scene or import shows its own values
    try:
        if built_scene_in(context.scene, plan) is None:  # an update must not build a new file
            raise PlanError("the scene has no built body: press Sample Scene or import a plan")
        apply_edit(context, edit)
    except SynthError as exc:
        store_plan(settings, plan)  # the plan's values back on the sliders
        getattr(settings, topic).error = str(exc)
        return
    getattr(bpy.context.scene.synth, topic).error = ""


def report_edit(operator, context, topic: str, edit: Edit, follow: bool = True) -> set:
    """An operator's execute(): apply ``edit``, reporting bad input (the plan stays as it was)."""
    try:
        apply_edit(context, edit, follow)
    except SynthError as exc:
        operator.report({"ERROR"}, str(exc))
        return {"CANCELLED"}
    getattr(bpy.context.scene.synth, topic).error = ""
    return {"FINISHED"}


def seeded_edit(operator, context, topic: str, seed_name: str, edit, follow: bool = True) -> set:
    """A Randomise operator's execute(): apply ``edit(plan, rng)``, ``rng`` seeded by the topic's
    setting ``seed_name``, which then moves on (the next press draws another)."""
    seed = getattr(getattr(context.scene.synth, topic), seed_name)
    result = report_edit(operator, context, topic, lambda plan: edit(plan, np.random.default_rng(seed)), follow)
    if result == {"FINISHED"}:
        setattr(getattr(bpy.context.scene.synth, topic), seed_name, (seed + 1) % (2**31 - 1))
    return result


def slider_value(plan_value: float, slider) -> float:
    """The slider's value, or the plan's where the slider only holds it rounded to float32 (an
    edit of another slider must not round this one's plan value)."""
    return float(plan_value) if np.float32(plan_value) == np.float32(slider) else float(slider)

"""The Camera panel's operators and live updates: distance, yaw, elevation and in-plane roll
(sliders; only the camera moves), and SURREAL placement (the plan's own sampling rule).

Every edit is a new plan camera applied by :mod:`.edit`; a grounded scene refuses a camera at
or below its ground (:func:`blender_addon.scene.ground.check_camera_above_ground`)."""

from dataclasses import replace

import bpy

from ..properties.camera import camera_angles, camera_offset
from .edit import live_edit, report_edit, slider_value


def camera_with(plan, distance: float, yaw: float, elevation: float, roll: float):
    """``plan`` with its camera at ``distance``, ``yaw`` and ``elevation`` around its target and
    turned by ``roll`` (radians); the lens and target stay. Unchanged angles keep the plan's
    location exactly (no round trip through the angles)."""
    camera = dict(plan.camera)
    if (distance, yaw, elevation) != camera_angles(plan.camera):
        camera["location"] = (camera_offset(distance, yaw, elevation) + camera["target"]).tolist()
        camera["distance"] = float(distance)
    if roll:
        camera["roll"] = float(roll)
    else:
        camera.pop("roll", None)  # absent means 0: plans stay as sample_plan writes them
    return replace(plan, camera=camera)


def camera_changed(context) -> None:
    group = context.scene.synth.camera

    def edit(plan):
        # A slider holds a float32: where it only holds the plan's value rounded, keep the plan's.
        angles = [slider_value(value, getattr(group, name))
                  for value, name in zip(camera_angles(plan.camera), ("distance", "yaw", "elevation"))]
        return camera_with(plan, *angles, slider_value(plan.camera.get("roll", 0.0), group.roll))

    live_edit(context, "camera", edit)


def surreal_options(plan):
    """The PlanOptions Sample Scene uses (the add-on's defaults), with the plan's resolution and
    lens: the placement frames the body as sampling would for this image."""
    from synth_core.scene.plan import PlanOptions

    r, c = plan.render, plan.camera
    return replace(PlanOptions(), width=r["width"], height=r["height"], lens_mm=c["lens_mm"],
                   sensor_width_mm=c["sensor_width_mm"])


class SYNTH_OT_place_camera_surreal(bpy.types.Operator):
    """Place the camera as sampling does for the scene's seed (SURREAL's rule: about 8 m in front of
    the mean pelvis, moved back just enough to see the whole body), around the body as it is now"""

    bl_idname = "synth.place_camera_surreal"
    bl_label = "SURREAL Placement"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return bool(context.scene.synth.plan_json)

    def execute(self, context):
        from synth_core.scene.plan import surreal_camera

        def edit(plan):
            return replace(plan, camera=surreal_camera(plan, surreal_options(plan)))

        return report_edit(self, context, "camera", edit, follow=False)


classes = (SYNTH_OT_place_camera_surreal,)

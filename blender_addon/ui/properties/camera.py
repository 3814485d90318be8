"""Camera settings (``scene.synth.camera``): distance, yaw and elevation of the camera around its
target, and in-plane roll, all live (an edit moves only the camera: :mod:`..operators.camera`).

They are another view of the plan's camera: distance, yaw and elevation of ``location`` seen
from ``target`` (:func:`camera_angles`), roll its ``roll``. Yaw is the azimuth about world Z,
0 with the camera on the world -Y side of its target (where SURREAL's camera starts), growing
counter-clockwise seen from above; elevation is the angle above the target's horizontal plane
(positive: looking down).
"""

import math

import bpy
import numpy as np
from bpy.props import FloatProperty, StringProperty

DISTANCE_SOFT_RANGE = (1.0, 20.0)   # metres: the slider's drag range
DISTANCE_HARD_RANGE = (0.1, 1000.0)  # typed values (and imported plans) may go further
ELEVATION_SOFT_RANGE = (math.radians(-60.0), math.radians(80.0))
ELEVATION_LIMIT = math.radians(89.0)  # straight above or below the target, look_at has no "up"


def _changed(group, context) -> None:
    from ..operators import camera  # late: the operators import this module

    camera.camera_changed(context)


def camera_angles(camera: dict) -> tuple[float, float, float]:
    """(distance m, yaw rad, elevation rad) of a plan's camera location seen from its target."""
    offset = np.asarray(camera["location"], dtype=np.float64) - np.asarray(camera["target"], dtype=np.float64)
    distance = float(np.linalg.norm(offset))
    yaw = math.atan2(offset[0], -offset[1])
    elevation = math.asin(max(-1.0, min(1.0, offset[2] / distance)))
    return distance, yaw, elevation


def camera_offset(distance: float, yaw: float, elevation: float) -> np.ndarray:
    """The camera's location minus its target for these angles (the inverse of camera_angles)."""
    return distance * np.array([math.sin(yaw) * math.cos(elevation), -math.cos(yaw) * math.cos(elevation),
                                math.sin(elevation)])


class CameraSettings(bpy.types.PropertyGroup):
    distance: FloatProperty(name="Distance", description="From the camera to its target (the body's mean pelvis)",
                            default=8.0, min=DISTANCE_HARD_RANGE[0], max=DISTANCE_HARD_RANGE[1],
                            soft_min=DISTANCE_SOFT_RANGE[0], soft_max=DISTANCE_SOFT_RANGE[1], unit="LENGTH",
                            update=_changed)
    yaw: FloatProperty(name="Yaw", description="Azimuth of the camera around its target about world Z "
                       "(0: on the world -Y side, counter-clockwise seen from above)",
                       default=0.0, min=-2 * math.pi, max=2 * math.pi, soft_min=-math.pi, soft_max=math.pi,
                       subtype="ANGLE", update=_changed)
    elevation: FloatProperty(name="Elevation", description="Angle of the camera above its target's horizontal "
                             "plane (positive: looking down)", default=0.0, min=-ELEVATION_LIMIT,
                             max=ELEVATION_LIMIT, soft_min=ELEVATION_SOFT_RANGE[0],
                             soft_max=ELEVATION_SOFT_RANGE[1], subtype="ANGLE", update=_changed)
    roll: FloatProperty(name="Roll", description="In-plane roll about the viewing axis (positive: the scene "
                        "turns counter-clockwise in the image)", default=0.0, min=-2 * math.pi, max=2 * math.pi,
                        soft_min=-math.pi, soft_max=math.pi, subtype="ANGLE", update=_changed)
    error: StringProperty(name="Error", description="Why the last edit was refused", default="",
                          options={"HIDDEN"})


def show(group, plan) -> None:
    """Put ``plan``'s camera values on the group."""
    group.distance, group.yaw, group.elevation = camera_angles(plan.camera)
    group.roll = float(plan.camera.get("roll", 0.0))


SETTINGS = CameraSettings
classes = (CameraSettings,)

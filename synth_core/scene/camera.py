"""Pinhole camera and world conventions shared by the sampler, the renderer and the readers.

World: Blender's, right-handed, Z up, metres. The body model's own frame is Y up (SMPL); it is
placed in the world by :func:`body_to_world`, a rotation of +90 degrees about X (model Y -> world
Z, model +Z (the body's front) -> world -Y) followed by the clip's yaw about world Z.

Camera in annotations: OpenCV. ``R|t`` maps world to camera coordinates (x right, y down,
z forward); pixel coordinates are 0-based with the centre of pixel (0, 0) at (0, 0), so the
principal point of an image W x H pixels wide is ((W - 1) / 2, (H - 1) / 2).
"""

from __future__ import annotations

import numpy as np

# Blender's camera looks down its local -Z with +Y up; OpenCV's looks down +Z with +Y down.
BLENDER_TO_OPENCV_CAMERA = np.diag([1.0, -1.0, -1.0])


def intrinsics(lens_mm: float, sensor_width_mm: float, width: int, height: int) -> np.ndarray:
    """K (3 x 3) of a camera whose sensor width spans the image width (Blender's
    ``sensor_fit = 'HORIZONTAL'``), square pixels."""
    focal_px = lens_mm / sensor_width_mm * width
    return np.array([[focal_px, 0.0, (width - 1) / 2.0],
                     [0.0, focal_px, (height - 1) / 2.0],
                     [0.0, 0.0, 1.0]])


def look_at(location, target, up=(0.0, 0.0, 1.0), roll: float = 0.0) -> np.ndarray:
    """World -> camera ``R|t`` (3 x 4, OpenCV axes) of a camera at ``location`` looking at
    ``target`` with world ``up`` appearing up in the image, then turned by ``roll`` radians about
    its viewing axis (in-plane roll): right-handed about the forward axis, so a positive roll
    turns the camera's right (x) axis towards its down (y) axis and the scene appears turned
    counter-clockwise in the image. Roll 0 is exactly the unrolled camera."""
    location = np.asarray(location, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - location
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    if roll:
        c, s = np.cos(roll), np.sin(roll)
        right, down = c * right + s * down, c * down - s * right
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    return np.concatenate([rotation, (-rotation @ location)[:, None]], axis=1)


def camera_location(rt: np.ndarray) -> np.ndarray:
    """Centre of projection in world coordinates of a world -> camera ``R|t``."""
    return -rt[:, :3].T @ rt[:, 3]


def world_to_camera(rt: np.ndarray, points: np.ndarray) -> np.ndarray:
    """... x 3 world points -> ... x 3 camera points (OpenCV axes)."""
    return points @ rt[:, :3].T + rt[:, 3]


def project(k: np.ndarray, rt: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """... x 3 world points -> (... x 2 pixel coordinates, ... camera z in metres)."""
    cam = world_to_camera(rt, points)
    z = cam[..., 2]
    uv = cam[..., :2] / z[..., None] * np.diag(k)[:2] + k[:2, 2]
    return uv, z


def blender_camera_matrix(rt: np.ndarray) -> np.ndarray:
    """4 x 4 ``matrix_world`` of a Blender camera object equal to the OpenCV camera ``R|t``."""
    matrix = np.eye(4)
    matrix[:3, :3] = rt[:, :3].T @ BLENDER_TO_OPENCV_CAMERA
    matrix[:3, 3] = camera_location(rt)
    return matrix


def body_to_world(yaw: float) -> np.ndarray:
    """4 x 4 transform from the body model's Y-up frame to the Z-up world, turned by ``yaw``
    radians about world Z (yaw 0: the body faces world -Y)."""
    c, s = np.cos(yaw), np.sin(yaw)
    yaw_rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    y_up_to_z_up = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    matrix = np.eye(4)
    matrix[:3, :3] = yaw_rotation @ y_up_to_z_up
    return matrix


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4 x 4 rigid transform to ... x 3 points."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def move_to_contain(k: np.ndarray, rt: np.ndarray, width: int, height: int, centres: np.ndarray,
                    radii: np.ndarray) -> np.ndarray:
    """The smallest move of a camera, orientation kept, that shows every sphere whole.

    Returns the move in camera axes (right, down, forward) with forward <= 0: the camera only
    steps back, and steps aside only as far as needed. "Shown" means inside the rectangle of
    pixel centres, [0, W - 1] x [0, H - 1]. centres: N x 3 world, radii: N metres.

    Each image edge is a plane through the centre of projection, e.g. u = W - 1 is
    x = s z with s = (W - 1 - cx) / fx; a sphere is inside when its centre lies at least its
    radius within every such plane. A move d of the camera shifts the centres by -d, so each
    edge gives one linear inequality in d; a pair of opposite edges fixes the least step back
    that fits both, then the side step nearest 0 that fits both.
    """
    points = world_to_camera(rt, np.asarray(centres, dtype=np.float64))
    radii = np.asarray(radii, dtype=np.float64)
    (fx, fy), (cx, cy) = np.diag(k)[:2], k[:2, 2]
    edges = ((points[:, 0], cx / fx, (width - 1 - cx) / fx), (points[:, 1], cy / fy, (height - 1 - cy) / fy))
    needs = [_edge_needs(along, points[:, 2], radii, low, high) for along, low, high in edges]
    back = max(0.0, *((need_low + need_high) / (low + high)
                      for (need_low, need_high), (_, low, high) in zip(needs, edges)))
    aside = [float(np.clip(0.0, need_high - high * back, low * back - need_low))
             for (need_low, need_high), (_, low, high) in zip(needs, edges)]
    return np.array([aside[0], aside[1], -back])


def _edge_needs(along: np.ndarray, depth: np.ndarray, radii: np.ndarray, low: float, high: float):
    """For one image axis with edges along/depth = -low and +high: the largest left-hand side
    each edge demands of a move (a, -b) aside and back, as ``-a + low b >= need_low`` and
    ``a + high b >= need_high``."""
    need_low = np.max(-along - low * depth + radii * np.hypot(1.0, low))
    need_high = np.max(along - high * depth + radii * np.hypot(1.0, high))
    return float(need_low), float(need_high)


# ----------------------------------------------------------------------------- a moving camera

# A moving camera (Doersch & Zisserman's camera motion) is a reference camera and constant rates:
# pan (degrees/s about world Z through the camera centre, positive turning left seen from
# above), tilt (degrees/s about the camera's own x axis, positive looking up), zoom (the focal
# length's logarithm per second, positive zooming in) and dolly (metres/s along the reference
# viewing direction, positive moving forward). Time is measured from the reference instant.
CAMERA_MOTION_FIELDS = ("pan_deg_s", "tilt_deg_s", "zoom_per_s", "dolly_m_s")


def moved_camera(rt: np.ndarray, lens_mm: float, motion: dict, seconds: float) -> tuple[np.ndarray, float]:
    """(world -> camera ``R|t``, lens mm) of the reference camera ``rt`` / ``lens_mm`` after
    ``seconds`` of ``motion`` (:data:`CAMERA_MOTION_FIELDS`)."""
    rotation, centre = rt[:, :3], camera_location(rt)
    pan, tilt = np.radians(motion["pan_deg_s"] * seconds), np.radians(motion["tilt_deg_s"] * seconds)
    c, s = np.cos(pan), np.sin(pan)
    pan_world = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])  # turns the camera about world Z
    c, s = np.cos(tilt), np.sin(tilt)
    tilt_camera = np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])  # its forward axis turns up (-y)
    moved = tilt_camera @ rotation @ pan_world.T
    centre = centre + rotation[2] * motion["dolly_m_s"] * seconds
    lens = float(lens_mm * np.exp(motion["zoom_per_s"] * seconds))
    return np.concatenate([moved, (-moved @ centre)[:, None]], axis=1), lens


def pixel_grid(height: int, width: int) -> np.ndarray:
    """Homogeneous pixel-centre coordinates, height x width x 3 (x, y, 1)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def infinite_homography(k0: np.ndarray, rt0: np.ndarray, k1: np.ndarray, rt1: np.ndarray) -> np.ndarray:
    """3 x 3 map of camera 0's pixels to camera 1's for points at infinity (directions): the
    background plate's motion. ``K1 R1 R0^T K0^-1``; the cameras' translation plays no part."""
    return k1 @ rt1[:, :3] @ rt0[:, :3].T @ np.linalg.inv(k0)


def homography_flow(homography: np.ndarray, height: int, width: int) -> np.ndarray:
    """float32 height x width x 2: where each pixel centre goes under ``homography``, minus
    where it is."""
    grid = pixel_grid(height, width)
    moved = grid @ homography.T
    return (moved[..., :2] / moved[..., 2:] - grid[..., :2]).astype(np.float32)

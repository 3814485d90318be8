"""Rotation helpers for motion: Euler angles, quaternions, slerp, continuous axis-angle.

Conventions: rotation matrices act on column vectors (``v' = R @ v``). Quaternions are
``(w, x, y, z)``. An Euler ``order`` such as ``"XYZ"`` is *intrinsic*: ``R = R_X(a) @ R_Y(b)
@ R_Z(c)`` with ``angles[..., i]`` the angle about axis ``order[i]`` (equivalently: rotate
the vector about the fixed Z first, then Y, then X). Angles are radians unless a name
says ``_deg``.
"""

from __future__ import annotations

import numpy as np

from synth_core.body.lbs import axis_angle_to_matrix

_AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}


def _check_order(order: str) -> tuple[int, int, int]:
    if len(order) != 3 or set(order) != {"X", "Y", "Z"}:
        raise ValueError(f"Euler order must be a permutation of 'XYZ', got {order!r}")
    return tuple(_AXIS_INDEX[axis] for axis in order)  # type: ignore[return-value]


def axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
    """Rotation about one coordinate axis ('X', 'Y' or 'Z'). angle: ... -> ... x 3 x 3."""
    angle = np.asarray(angle, dtype=np.float64)
    vector = np.zeros(angle.shape + (3,))
    vector[..., _AXIS_INDEX[axis]] = angle
    return axis_angle_to_matrix(vector)


def euler_to_matrix(angles: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles (... x 3, radians, ``angles[..., i]`` about ``order[i]``) -> ... x 3 x 3."""
    _check_order(order)
    angles = np.asarray(angles, dtype=np.float64)
    result = axis_rotation(order[0], angles[..., 0])
    for i in (1, 2):
        result = result @ axis_rotation(order[i], angles[..., i])
    return result


def matrix_to_euler(matrix: np.ndarray, order: str) -> np.ndarray:
    """Inverse of :func:`euler_to_matrix`: ... x 3 x 3 -> ... x 3 radians.

    The middle angle lies in [-pi/2, pi/2], the others in (-pi, pi]; the decomposition is
    unique while the middle angle stays away from +-pi/2 (gimbal lock).
    """
    i, j, k = _check_order(order)
    matrix = np.asarray(matrix, dtype=np.float64)
    sign = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    middle = np.arcsin(np.clip(sign * matrix[..., i, k], -1.0, 1.0))
    first = np.arctan2(-sign * matrix[..., j, k], matrix[..., k, k])
    last = np.arctan2(-sign * matrix[..., i, j], matrix[..., i, i])
    return np.stack([first, middle, last], axis=-1)


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """... x 3 x 3 -> ... x 4 unit quaternions (w, x, y, z); stable at every angle (Shepperd)."""
    m = np.asarray(matrix, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    squares = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                        1 - m00 + m11 - m22, 1 - m00 - m11 + m22], axis=-1)  # 4w^2, 4x^2, 4y^2, 4z^2
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s10, s02, s21 = m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2]
    candidates = np.stack([
        np.stack([squares[..., 0], d21, d02, d10], axis=-1),
        np.stack([d21, squares[..., 1], s10, s02], axis=-1),
        np.stack([d02, s10, squares[..., 2], s21], axis=-1),
        np.stack([d10, s02, s21, squares[..., 3]], axis=-1),
    ], axis=-2)  # ... x 4 (which pivot) x 4
    pivot = np.argmax(squares, axis=-1)
    chosen = np.take_along_axis(candidates, pivot[..., None, None], axis=-2)[..., 0, :]
    quaternion = chosen / (2.0 * np.sqrt(np.take_along_axis(squares, pivot[..., None], axis=-1)))
    return quaternion / np.linalg.norm(quaternion, axis=-1, keepdims=True)


def quaternion_to_matrix(quaternion: np.ndarray) -> np.ndarray:
    """... x 4 (w, x, y, z), any norm > 0 -> ... x 3 x 3."""
    q = np.asarray(quaternion, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]
    return np.stack(rows, axis=-1).reshape(q.shape[:-1] + (3, 3))


def axis_angle_to_quaternion(axis_angle: np.ndarray) -> np.ndarray:
    """... x 3 -> ... x 4 (w, x, y, z)."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    # sin(angle / 2) / angle -> 1/2 as angle -> 0.
    scale = np.where(angle < 1e-8, 0.5 - angle ** 2 / 48.0, np.sin(angle / 2) / np.where(angle < 1e-8, 1.0, angle))
    return np.concatenate([np.cos(angle / 2), axis_angle * scale], axis=-1)


def quaternion_to_axis_angle(quaternion: np.ndarray) -> np.ndarray:
    """... x 4 -> ... x 3 with angle in [0, pi]."""
    q = np.asarray(quaternion, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    q = np.where(q[..., :1] < 0, -q, q)
    vector_norm = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(vector_norm, q[..., :1])
    small = vector_norm < 1e-8
    scale = np.where(small, 2.0 / np.maximum(q[..., :1], 1e-12), angle / np.where(small, 1.0, vector_norm))
    return q[..., 1:] * scale


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """... x 3 x 3 -> ... x 3, stable up to and including angle pi."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def slerp(q0: np.ndarray, q1: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation along the shorter arc. q0, q1: ... x 4; fraction: ... ."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    fraction = np.asarray(fraction, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_theta = np.sin(theta)
    near = sin_theta < 1e-9  # (almost) the same rotation: linear blend is exact enough
    safe = np.where(near, 1.0, sin_theta)
    w0 = np.where(near, 1.0 - fraction, np.sin((1.0 - fraction) * theta) / safe)
    w1 = np.where(near, fraction, np.sin(fraction * theta) / safe)
    result = w0 * q0 + w1 * q1
    return result / np.linalg.norm(result, axis=-1, keepdims=True)


def unwrap_axis_angle(axis_angle: np.ndarray) -> np.ndarray:
    """Make a time series of axis-angle vectors (T x ... x 3) continuous.

    Every rotation ``n * theta`` is also ``n * (theta + 2 pi k)``; frame by frame this picks
    the representative closest to the previous frame's, so a root turning past 180 degrees
    keeps growing instead of flipping sign. Norms may then exceed pi (Rodrigues does not care).
    """
    result = np.array(axis_angle, dtype=np.float64, copy=True)
    for t in range(1, result.shape[0]):
        current = result[t]
        angle = np.linalg.norm(current, axis=-1, keepdims=True)
        axis = current / np.where(angle < 1e-12, 1.0, angle)
        along = np.sum(result[t - 1] * axis, axis=-1, keepdims=True)
        turns = np.round((along - angle) / (2 * np.pi))
        result[t] = np.where(angle < 1e-12, current, axis * (angle + 2 * np.pi * turns))
    return result


def geodesic_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (radians) of the rotation taking ``a`` to ``b``; both ... x 3 x 3."""
    relative = np.swapaxes(a, -1, -2) @ b
    cos = (np.trace(relative, axis1=-2, axis2=-1) - 1.0) / 2.0
    return np.arccos(np.clip(cos, -1.0, 1.0))

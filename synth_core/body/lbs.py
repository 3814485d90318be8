"""Linear blend skinning in numpy: pure functions, batch first.

Shapes use B = batch, V = vertices, J = joints (24 for SMPL), K = shape coefficients,
P = 9 * (J - 1) pose-corrective coefficients. The maths follows SMPL (Loper et al. 2015)
and is numerically the same as the `smplx` package's ``lbs``.
"""

from __future__ import annotations

import numpy as np


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """Rodrigues' formula. axis_angle: ... x 3 (radians) -> ... x 3 x 3."""
    axis_angle = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(axis_angle, axis=-1, keepdims=True)
    # Below ~1e-8 rad the rotation is the identity to double precision; avoid 0/0.
    safe = np.where(angle < 1e-12, 1.0, angle)
    axis = axis_angle / safe
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zeros = np.zeros_like(x)
    skew = np.stack([zeros, -z, y, z, zeros, -x, -y, x, zeros], axis=-1)
    skew = skew.reshape(axis_angle.shape[:-1] + (3, 3))
    sin = np.sin(angle)[..., None]
    cos = np.cos(angle)[..., None]
    eye = np.broadcast_to(np.eye(3), skew.shape)
    return eye + sin * skew + (1.0 - cos) * (skew @ skew)


def blend_shapes(coefficients: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Vertex offsets. coefficients: B x K, directions: V x 3 x K -> B x V x 3."""
    flat = directions.reshape(-1, directions.shape[-1])  # 3V x K, one BLAS matmul
    return (coefficients @ flat.T).reshape(coefficients.shape[0], -1, 3)


def regress_joints(regressor: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Joints from vertices. regressor: J x V, vertices: B x V x 3 -> B x J x 3."""
    return np.matmul(regressor, vertices)


def rigid_transforms(
    rotations: np.ndarray, rest_joints: np.ndarray, parents: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics.

    rotations: B x J x 3 x 3 local joint rotations; rest_joints: B x J x 3; parents: J
    (parents[0] = -1, every parent index smaller than its child's).

    Returns ``(world, skinning)``, both B x J x 4 x 4: ``world[j]`` is the posed frame of
    joint j (rotation accumulated down the chain, translation = posed joint position);
    ``skinning[j] = world[j] @ translate(-rest_joints[j])`` maps a rest-pose point to its
    posed position if it moved rigidly with joint j.
    """
    batch, num_joints = rotations.shape[:2]
    offsets = rest_joints.copy()
    offsets[:, 1:] -= rest_joints[:, parents[1:]]
    local = np.zeros((batch, num_joints, 4, 4))
    local[:, :, :3, :3] = rotations
    local[:, :, :3, 3] = offsets
    local[:, :, 3, 3] = 1.0

    world = np.empty_like(local)
    world[:, 0] = local[:, 0]
    for j in range(1, num_joints):
        world[:, j] = world[:, parents[j]] @ local[:, j]

    skinning = world.copy()
    skinning[:, :, :3, 3] -= np.einsum("bjrc,bjc->bjr", world[:, :, :3, :3], rest_joints)
    return world, skinning


def skin_vertices(
    vertices: np.ndarray, weights: np.ndarray, skinning: np.ndarray
) -> np.ndarray:
    """Blend per-joint transforms. vertices: B x V x 3, weights: V x J, skinning: B x J x 4 x 4."""
    batch, num_joints = skinning.shape[:2]
    blended = np.matmul(weights, skinning[:, :, :3, :].reshape(batch, num_joints, 12))  # B x V x 12
    blended = blended.reshape(batch, -1, 3, 4)
    return np.einsum("bvrc,bvc->bvr", blended[..., :3], vertices) + blended[..., 3]


def pose_features(rotations: np.ndarray) -> np.ndarray:
    """SMPL pose-corrective features: (R_j - I) flattened for joints 1..J-1. B x J x 3 x 3 -> B x P."""
    batch = rotations.shape[0]
    return (rotations[:, 1:] - np.eye(3)).reshape(batch, -1)

"""The SMPL-format body model: a small class with a batched numpy forward().

Conventions (SMPL's): Y up, the rest body faces +Z with arms horizontal along +-X (its
left hand at +X), metres. ``pose`` is 24 x 3 axis-angle, joint order
:data:`~synth_core.body.parts.JOINT_NAMES`, each rotation local to its parent joint; the
root's rotation is about the root joint. ``transl`` is added to every output point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth_core.body import lbs
from synth_core.body.model_file import BodyModelData, load_model_file
from synth_core.body.parts import NUM_JOINTS, vertex_part_labels
from synth_core.errors import BodyInputError


@dataclass(frozen=True, eq=False)
class BodyOutput:
    """Result of :meth:`BodyModel.forward` (all arrays batch first, float64, metres)."""

    vertices: np.ndarray            # B x V x 3 posed vertices (+ transl)
    joints: np.ndarray              # B x 24 x 3 posed joints (+ transl)
    joint_transforms: np.ndarray    # B x 24 x 4 x 4 world frame of each joint (+ transl);
    #                                 drives an armature: rotation = global joint rotation
    skinning_transforms: np.ndarray  # B x 24 x 4 x 4 rest point -> posed point (+ transl)
    rest_joints: np.ndarray         # B x 24 x 3 joints of the shaped body before posing
    shaped_vertices: np.ndarray     # B x V x 3 shaped body before posing (no pose correctives)


class BodyModel:
    """An SMPL-format body: shape (betas) + pose (axis-angle) + translation -> mesh and joints.

    >>> model = BodyModel.from_file("model.npz")          # doctest: +SKIP
    >>> out = model(betas=np.zeros(10), pose=np.zeros((24, 3)))   # doctest: +SKIP
    >>> out.vertices.shape                                # doctest: +SKIP
    (1, V, 3)
    """

    def __init__(self, data: BodyModelData) -> None:
        self.data = data
        self.faces = data.faces
        self.parents = data.parents
        self.part_labels = vertex_part_labels(data.weights)  # V, 1..24
        self._posedirs_flat = data.posedirs.reshape(-1, data.posedirs.shape[2])  # 3V x P
        self._has_pose_correctives = bool(np.any(data.posedirs))

    @classmethod
    def from_file(cls, path: str | Path) -> "BodyModel":
        return cls(load_model_file(path))

    @property
    def num_betas(self) -> int:
        return self.data.num_betas

    @property
    def num_vertices(self) -> int:
        return self.data.num_vertices

    def __call__(self, betas=None, pose=None, transl=None) -> BodyOutput:
        return self.forward(betas, pose, transl)

    def forward(self, betas=None, pose=None, transl=None) -> BodyOutput:
        """Pose and shape the body.

        betas: K' or B x K' with K' <= :attr:`num_betas` (missing ones are 0).
        pose: 72, 24 x 3, B x 72 or B x 24 x 3 axis-angle radians (default: rest pose).
        transl: 3 or B x 3 metres. Inputs with batch 1 broadcast to the largest batch.
        """
        betas, pose, transl = self._check_inputs(betas, pose, transl)
        data = self.data
        batch = betas.shape[0]

        shaped = data.v_template[None] + lbs.blend_shapes(betas, data.shapedirs)
        rest_joints = lbs.regress_joints(data.J_regressor, shaped)
        rotations = lbs.axis_angle_to_matrix(pose)  # B x 24 x 3 x 3
        posed_rest = shaped
        if self._has_pose_correctives:
            offsets = lbs.pose_features(rotations) @ self._posedirs_flat.T
            posed_rest = shaped + offsets.reshape(batch, -1, 3)
        world, skinning = lbs.rigid_transforms(rotations, rest_joints, data.parents)
        vertices = lbs.skin_vertices(posed_rest, data.weights, skinning)

        world[:, :, :3, 3] += transl[:, None]
        skinning[:, :, :3, 3] += transl[:, None]
        return BodyOutput(
            vertices=vertices + transl[:, None],
            joints=world[:, :, :3, 3].copy(),
            joint_transforms=world,
            skinning_transforms=skinning,
            rest_joints=rest_joints,
            shaped_vertices=shaped,
        )

    def _check_inputs(self, betas, pose, transl):
        betas = _as_float_array(np.zeros(self.num_betas) if betas is None else betas, "betas")
        if betas.ndim == 1:
            betas = betas[None]
        if betas.ndim != 2:
            raise BodyInputError(f"betas must be K or B x K, got shape {betas.shape}")
        if betas.shape[1] > self.num_betas:
            raise BodyInputError(f"betas has {betas.shape[1]} coefficients but the model "
                                 f"({self.data.source}) supports at most {self.num_betas}")
        betas = np.pad(betas, ((0, 0), (0, self.num_betas - betas.shape[1])))

        pose = _as_float_array(np.zeros((NUM_JOINTS, 3)) if pose is None else pose, "pose")
        if pose.shape in ((NUM_JOINTS * 3,), (NUM_JOINTS, 3)):
            pose = pose.reshape(1, NUM_JOINTS, 3)
        elif pose.ndim == 2 and pose.shape[1] == NUM_JOINTS * 3:
            pose = pose.reshape(-1, NUM_JOINTS, 3)
        elif not (pose.ndim == 3 and pose.shape[1:] == (NUM_JOINTS, 3)):
            raise BodyInputError(f"pose must be 72, 24 x 3, B x 72 or B x 24 x 3 axis-angle, got shape {pose.shape}")

        transl = _as_float_array(np.zeros(3) if transl is None else transl, "transl")
        if transl.ndim == 1:
            transl = transl[None]
        if transl.ndim != 2 or transl.shape[1] != 3:
            raise BodyInputError(f"transl must be 3 or B x 3, got shape {transl.shape}")

        batch = max(betas.shape[0], pose.shape[0], transl.shape[0])
        for name, value in (("betas", betas), ("pose", pose), ("transl", transl)):
            if value.shape[0] not in (1, batch):
                raise BodyInputError(f"{name} has batch size {value.shape[0]}, expected 1 or {batch}")
        return (np.broadcast_to(betas, (batch,) + betas.shape[1:]),
                np.broadcast_to(pose, (batch,) + pose.shape[1:]),
                np.broadcast_to(transl, (batch, 3)))


def _as_float_array(value, name: str) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BodyInputError(f"{name} must be numeric ({exc})") from exc
    if not np.all(np.isfinite(array)):
        raise BodyInputError(f"{name} contains NaN or infinite values")
    return array

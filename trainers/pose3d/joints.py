"""Joint sets the 3D pose networks predict or take as input, each mapped from SMPL's 24 joints
(synth_core.body.parts.JOINT_NAMES, the order of annotations.npz's joints3d_camera).

A set's ``from_smpl`` is a K x 24 matrix whose rows sum to 1: joint k of the set is
``from_smpl[k] @ joints24``. Every joint of the sets below is ONE SMPL joint (a one-hot row); the
matrix form lets a set define a joint as a mean of SMPL joints (e.g. a mid-hip) and keeps the
mapping linear (it commutes with rotations and translations), so it applies equally to 3D camera
coordinates and to 2D image positions.

"smpl24": SMPL's 24 joints as they are (identity), SMPL's kinematic tree.

"chen17": Chen et al. (2016, seed 000 section 5) regress "the 15 ground truth 3D joint positions
(in camera coordinates)" with "the sum of skeleton lengths ... equal to a constant", but do not
list the 15; they compare on Human3.6M, whose common evaluation skeleton has 17 joints. This set
is that Human3.6M skeleton, in its order and with its names, each joint from one SMPL joint:

    index  name            SMPL joint (index)     parent
    0      pelvis          pelvis (0)             -
    1      right_hip       right_hip (2)          pelvis
    2      right_knee      right_knee (5)         right_hip
    3      right_ankle     right_ankle (8)        right_knee
    4      left_hip        left_hip (1)           pelvis
    5      left_knee       left_knee (4)          left_hip
    6      left_ankle      left_ankle (7)         left_knee
    7      spine           spine2 (6)             pelvis
    8      thorax          spine3 (9)             spine
    9      neck            neck (12)              thorax
    10     head            head (15)              neck
    11     left_shoulder   left_shoulder (16)     thorax
    12     left_elbow      left_elbow (18)        left_shoulder
    13     left_wrist      left_wrist (20)        left_elbow
    14     right_shoulder  right_shoulder (17)    thorax
    15     right_elbow     right_elbow (19)       right_shoulder
    16     right_wrist     right_wrist (21)       right_elbow

Head: Human3.6M's 17th joint is the top of the head, which SMPL's joints do not give: SMPL's
"head" joint is the head's pivot (about the level of the ears), and where the skull's top lies
depends on the head's own rotation, which joint positions do not encode (an extrapolation along
neck -> head would move with the neck, not the head). So "head" here IS SMPL's head joint, and
the set has no head top. "chen15" is the 15-joint set of the paper's count: chen17 without spine
and thorax (pelvis, neck, head and the 12 limb joints; shoulders hang from the neck).

"dz12": the 12 COCO-style body keypoints Doersch & Zisserman (2019) draw as heatmaps, in COCO's
order (keypoints 5..16, so a detector's output maps by name): left/right shoulder, elbow, wrist,
hip, knee, ankle, each from the SMPL joint of that name. The set has no joint between the hips,
so its tree is rooted at the left hip: right_hip and left_shoulder hang from left_hip,
right_shoulder from right_hip, the limbs from their hip or shoulder. Its "root-relative" form is
relative to the left hip; it is meant as a 2D input set (heatmaps), not a 3D output.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from synth_core.body.parts import JOINT_NAMES, SMPL_PARENTS
from synth_core.errors import TrainingError

N_SMPL = len(JOINT_NAMES)


@dataclasses.dataclass(frozen=True, eq=False)
class JointSet:
    """K joints: names, the parent of each (-1 for the root), the root's index and the K x 24
    weights that make each joint from SMPL's 24 (rows sum to 1)."""
    name: str
    names: tuple[str, ...]
    parents: tuple[int, ...]
    root: int
    from_smpl: np.ndarray

    def __post_init__(self) -> None:
        K = len(self.names)
        if len(self.parents) != K or self.from_smpl.shape != (K, N_SMPL) or self.parents[self.root] != -1:
            raise TrainingError(f"joint set {self.name}: {K} names, {len(self.parents)} parents, "
                                f"weights {self.from_smpl.shape}, root {self.root}")
        if not np.allclose(self.from_smpl.sum(axis=1), 1.0):
            raise TrainingError(f"joint set {self.name}: the weights of each joint must sum to 1")
        self.from_smpl.setflags(write=False)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """(parent, child) of every bone."""
        return [(parent, child) for child, parent in enumerate(self.parents) if parent >= 0]

    def index(self, name: str) -> int:
        return self.names.index(name)


def _from_smpl_names(name: str, rows: list[tuple[str, str, str | None]]) -> JointSet:
    """A set whose joints are single SMPL joints: rows of (name, SMPL joint, parent name)."""
    names = tuple(row[0] for row in rows)
    weights = np.zeros((len(rows), N_SMPL))
    for k, (_, smpl, _) in enumerate(rows):
        weights[k, JOINT_NAMES.index(smpl)] = 1.0
    parents = tuple(-1 if parent is None else names.index(parent) for _, _, parent in rows)
    return JointSet(name, names, parents, parents.index(-1), weights)


_CHEN17 = [
    ("pelvis", "pelvis", None), ("right_hip", "right_hip", "pelvis"),
    ("right_knee", "right_knee", "right_hip"), ("right_ankle", "right_ankle", "right_knee"),
    ("left_hip", "left_hip", "pelvis"), ("left_knee", "left_knee", "left_hip"),
    ("left_ankle", "left_ankle", "left_knee"), ("spine", "spine2", "pelvis"), ("thorax", "spine3", "spine"),
    ("neck", "neck", "thorax"), ("head", "head", "neck"),
    ("left_shoulder", "left_shoulder", "thorax"), ("left_elbow", "left_elbow", "left_shoulder"),
    ("left_wrist", "left_wrist", "left_elbow"), ("right_shoulder", "right_shoulder", "thorax"),
    ("right_elbow", "right_elbow", "right_shoulder"), ("right_wrist", "right_wrist", "right_elbow"),
]
_NECK_PARENTED = {"neck": "pelvis", "left_shoulder": "neck", "right_shoulder": "neck"}
_CHEN15 = [(name, smpl, _NECK_PARENTED.get(name, parent))
           for name, smpl, parent in _CHEN17 if name not in ("spine", "thorax")]
_DZ12 = [
    ("left_shoulder", "left_shoulder", "left_hip"), ("right_shoulder", "right_shoulder", "right_hip"),
    ("left_elbow", "left_elbow", "left_shoulder"), ("right_elbow", "right_elbow", "right_shoulder"),
    ("left_wrist", "left_wrist", "left_elbow"), ("right_wrist", "right_wrist", "right_elbow"),
    ("left_hip", "left_hip", None), ("right_hip", "right_hip", "left_hip"),
    ("left_knee", "left_knee", "left_hip"), ("right_knee", "right_knee", "right_hip"),
    ("left_ankle", "left_ankle", "left_knee"), ("right_ankle", "right_ankle", "right_knee"),
]

JOINT_SETS: dict[str, JointSet] = {
    "smpl24": JointSet("smpl24", JOINT_NAMES, SMPL_PARENTS, 0, np.eye(N_SMPL)),
    "chen17": _from_smpl_names("chen17", _CHEN17),
    "chen15": _from_smpl_names("chen15", _CHEN15),
    "dz12": _from_smpl_names("dz12", _DZ12),
}


def get_joint_set(name: str | JointSet) -> JointSet:
    """The set called ``name`` (a JointSet is returned as it is)."""
    if isinstance(name, JointSet):
        return name
    if name not in JOINT_SETS:
        raise TrainingError(f"unknown joint set {name!r}; known sets: {', '.join(JOINT_SETS)}")
    return JOINT_SETS[name]


joint_set = get_joint_set  # the name the design uses; parameters below are called joint_set too


def mirror_pairs(joint_set: str | JointSet) -> list[int]:
    """For each joint, the index of its mirror image (left_x <-> right_x; itself otherwise)."""
    names = get_joint_set(joint_set).names
    swapped = [n.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_") for n in names]
    return [names.index(n) if n in names else k for k, n in enumerate(swapped)]


def _is_torch(values) -> bool:
    return hasattr(values, "detach")  # without importing torch for numpy callers


def _check_count(joints, expected: int, what: str) -> None:
    if joints.ndim < 2 or joints.shape[-2] != expected:
        got = joints.shape[-2] if joints.ndim >= 2 else "no joint axis"
        raise TrainingError(f"mismatched joint sets: {what} has {expected} joints, the array of shape "
                            f"{tuple(joints.shape)} has {got}")


def to_joint_set(joints24, joint_set: str | JointSet):
    """(..., 24, D) SMPL joints -> (..., K, D) joints of the set; numpy arrays or torch tensors
    (the result keeps the input's type, dtype and device). D is 2 or 3 (any works)."""
    target = get_joint_set(joint_set)
    _check_count(joints24, N_SMPL, "SMPL's joint set (the input of to_joint_set)")
    if _is_torch(joints24):
        import torch

        # a writable copy: torch warns on read-only numpy memory
        weights = torch.from_numpy(np.array(target.from_smpl)).to(joints24.device, joints24.dtype)
        return torch.einsum("kj,...jd->...kd", weights, joints24)
    joints24 = np.asarray(joints24)
    dtype = joints24.dtype if np.issubdtype(joints24.dtype, np.floating) else np.float64
    return np.einsum("kj,...jd->...kd", target.from_smpl.astype(dtype), joints24)


def root_relative(joints, joint_set: str | JointSet):
    """(..., K, D) joints of the set minus its root joint (numpy or torch)."""
    target = get_joint_set(joint_set)
    _check_count(joints, len(target), f"joint set {target.name}")
    return joints - joints[..., target.root:target.root + 1, :]


ARM_WORDS = ("collar", "shoulder", "elbow", "wrist", "hand")


def sizing_bones(joint_set: str | JointSet) -> list[tuple[int, int]]:
    """(parent, child) of the bones that size a skeleton without its left and right being told
    apart: the spine and head chain and each leg below the hip. Left out: the bones from the
    midline to a side or across (pelvis-hip, thorax-shoulder, spine-collar, hip-hip), whose length
    in an image shrinks to nothing when a 2D estimate puts both sides between the two (a person
    whose front is not told from their back), and the arms, the least certain limbs."""
    target = get_joint_set(joint_set)
    side = [name.split("_")[0] if name.startswith(("left_", "right_")) else None for name in target.names]
    bones = [(p, c) for p, c in target.edges
             if side[c] == side[p] and not any(word in target.names[c] for word in ARM_WORDS)]
    if not bones:
        raise TrainingError(f"joint set {target.name} has no spine or leg bones to size a skeleton by")
    return bones


def bone_lengths_sum(joints, joint_set: str | JointSet, bones: list[tuple[int, int]] | None = None):
    """(...) sum of the lengths of the set's bones, or of ``bones`` ((parent, child) pairs), for
    numpy arrays or torch tensors."""
    target = get_joint_set(joint_set)
    _check_count(joints, len(target), f"joint set {target.name}")
    bones = target.edges if bones is None else bones
    parents = [p for p, _ in bones]
    children = [c for _, c in bones]
    bones = joints[..., children, :] - joints[..., parents, :]
    if _is_torch(joints):
        return bones.norm(dim=-1).sum(dim=-1)
    return np.linalg.norm(bones, axis=-1).sum(axis=-1)


def normalise_bones(joints, joint_set: str | JointSet, total_length: float = 1.0,
                    bones: list[tuple[int, int]] | None = None):
    """Root-relative joints scaled so that the set's bone lengths (or those of ``bones``) sum to
    ``total_length`` (Chen et al.'s normalisation: "the sum of skeleton lengths is equal to a
    constant"), per skeleton, for (..., K, D) numpy arrays or torch tensors. A skeleton of zero
    size stays at zero."""
    relative = root_relative(joints, joint_set)
    total = bone_lengths_sum(relative, joint_set, bones)
    if _is_torch(joints):
        return relative * (total_length / total.clamp_min(1e-12))[..., None, None]
    return relative * (total_length / np.maximum(total, 1e-12))[..., None, None]

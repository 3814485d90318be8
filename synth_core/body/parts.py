"""The 24 SMPL joints, the 24 SURREAL body parts and the 14 training classes.

Part ``k`` (1..24, the material ``pass_index`` in the renderer, 0 = background) is the
region skinned mainly to SMPL joint ``k - 1``, so the part order is SMPL's joint order
under SURREAL's names.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)

# Parent of each joint in the SMPL kinematic tree (-1 for the root).
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

NUM_JOINTS = len(JOINT_NAMES)

# SURREAL's names for parts 1..24 (index 0 of this tuple is part 1).
PART_NAMES: tuple[str, ...] = (
    "hips", "leftUpLeg", "rightUpLeg", "spine", "leftLeg", "rightLeg", "spine1",
    "leftFoot", "rightFoot", "spine2", "leftToeBase", "rightToeBase", "neck",
    "leftShoulder", "rightShoulder", "head", "leftArm", "rightArm", "leftForeArm",
    "rightForeArm", "leftHand", "rightHand", "leftHandIndex1", "rightHandIndex1",
)

CLASS14_NAMES: tuple[str, ...] = (
    "background", "head", "torso",
    "right_upper_arm", "right_forearm", "right_hand",
    "left_upper_arm", "left_forearm", "left_hand",
    "right_thigh", "right_shin", "right_foot",
    "left_thigh", "left_shin", "left_foot",
)

# Segmentation id of an occluder's pixels (synth_core.occluders): not the person.
OCCLUDER_ID = 25

# PART_TO_CLASS14[k] is the training class of part k (index 0 = background -> 0; the occluder,
# OCCLUDER_ID, hides the person: background too).
PART_TO_CLASS14: np.ndarray = np.array(
    [0, 2, 12, 9, 2, 13, 10, 2, 14, 11, 2, 14, 11, 2, 2, 2, 1, 6, 3, 7, 4, 8, 5, 8, 5, 0],
    dtype=np.uint8,
)


def parts_to_classes14(segmentation: np.ndarray) -> np.ndarray:
    """Map a part image (0..24, or OCCLUDER_ID; any shape, integer) to the 0..14 training classes."""
    segmentation = np.asarray(segmentation)
    if segmentation.size and (segmentation.min() < 0 or segmentation.max() > OCCLUDER_ID):
        raise ValueError(
            f"part labels must lie in 0..{NUM_JOINTS} (or {OCCLUDER_ID}, an occluder), "
            f"got {segmentation.min()}..{segmentation.max()}"
        )
    return PART_TO_CLASS14[segmentation]


def person_mask(segmentation: np.ndarray) -> np.ndarray:
    """The pixels of the person (parts 1..24): not background, not an occluder."""
    return (segmentation > 0) & (segmentation <= NUM_JOINTS)


def vertex_part_labels(weights: np.ndarray) -> np.ndarray:
    """Part label (1..24) of each vertex: the joint with the largest skinning weight, plus one.

    weights: V x 24 skinning weights. Returns a V array of uint8.
    """
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[1] != NUM_JOINTS:
        raise ValueError(f"weights must be V x {NUM_JOINTS}, got shape {weights.shape}")
    return (np.argmax(weights, axis=1) + 1).astype(np.uint8)


def part_palette() -> np.ndarray:
    """26 x 3 uint8 colours for background (black), parts 1..24 (left/right distinct) and the
    occluder id 25 (mid grey)."""
    hues = (np.arange(NUM_JOINTS) * 0.618033988749895) % 1.0
    saturation = np.where(np.arange(NUM_JOINTS) % 2 == 0, 0.75, 0.55)
    value = np.where(np.arange(NUM_JOINTS) % 3 == 0, 0.95, 0.8)
    sector = np.floor(hues * 6).astype(int) % 6
    f = hues * 6 - np.floor(hues * 6)
    p, q, t = value * (1 - saturation), value * (1 - f * saturation), value * (1 - (1 - f) * saturation)
    table = np.stack([
        np.choose(sector, [value, q, p, p, t, value]),
        np.choose(sector, [t, value, value, q, p, p]),
        np.choose(sector, [p, p, t, value, value, q]),
    ], axis=1)
    return np.vstack([[0, 0, 0], np.round(table * 255), [128, 128, 128]]).astype(np.uint8)


def face_part_labels(faces: np.ndarray, vertex_labels: np.ndarray) -> np.ndarray:
    """Part of each triangle: the label most of its vertices carry (the first vertex's when
    all three differ). F x 3 faces, V labels -> F labels."""
    labels = vertex_labels[faces]
    a, b, c = labels[:, 0], labels[:, 1], labels[:, 2]
    return np.where((b == c) & (a != b), b, a)

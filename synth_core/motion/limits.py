"""Per-joint anatomical limits of SMPL poses, as boxes of intrinsic Euler angles.

Each limited joint's local rotation (relative to its parent, SMPL rest frame: +X = the
body's left, +Y = up, +Z = forward) is decomposed as ``R = R_a(a) R_b(b) R_c(c)`` for the
joint's Euler ``order`` "abc" (see :mod:`synth_core.motion.rotations`) and each angle must
lie in its range (degrees). The table lists the left side and the centre line; the right
side is the mirror image (x ranges equal, y and z ranges negated), as mirroring the body
across the YZ plane maps Euler angles (x, y, z) to (x, -y, -z). The root (pelvis) is the
global orientation and has no limit.

Sign conventions in the rest frame (checked with the body model in tests/test_motion.py):
a positive X rotation swings a segment that hangs along -Y backward (-Z) and tips a
segment that points along +Y forward (+Z); so hip flexion is -X, knee flexion +X, spine
flexion +X. The left arm lies along +X: -Z lowers it, +Z raises it; -Y at the elbow flexes
it (the forearm comes forward).

Sources of the numbers (active range of motion of healthy adults): AAOS, *Joint Motion:
Method of Measuring and Recording* (1965) / Greene & Heckman, *The Clinical Measurement of
Joint Motion* (AAOS 1994); Soucie et al., Haemophilia 17:500 (2011); Roaas & Andersson,
Acta Orthop Scand 53:205 (1982) for the hip. Where a motion is shared by several SMPL joints
(spine, neck + head) each joint gets a share of the clinical total, rounded up. Euler boxes
are a coarse necessary condition: they reject impossible poses, not every awkward one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.body.parts import JOINT_NAMES, NUM_JOINTS
from synth_core.errors import MotionError
from synth_core.motion.rotations import euler_to_matrix, matrix_to_euler

Range = tuple[float, float]


@dataclass(frozen=True)
class JointLimit:
    """Euler box of one joint: ``order`` and a (min, max) range in degrees per axis."""

    order: str
    x: Range
    y: Range
    z: Range

    def range_of(self, axis: str) -> Range:
        return {"X": self.x, "Y": self.y, "Z": self.z}[axis]

    def mirrored(self) -> "JointLimit":
        """The limit of the mirror-image joint (right <-> left)."""
        return JointLimit(self.order, self.x, (-self.y[1], -self.y[0]), (-self.z[1], -self.z[0]))


# Left side and centre line. Comments: the anatomical motion behind each range (clinical
# normal values in brackets) and which sign is which, for the left side.
_LEFT_AND_CENTRE: dict[str, JointLimit] = {
    # x: flexion (-) 125 [120-125] / extension (+) 30 [10-30]; y: internal (-) / external (+)
    # rotation 45 [35-45 / 45-50]; z: adduction (-) 30 [30] / abduction (+) 45 [45].
    "left_hip": JointLimit("XYZ", (-125, 30), (-45, 45), (-30, 45)),
    # x: flexion 150 [135-150] / hyperextension 10; y: tibial rotation 30 [~30 when flexed];
    # z: varus/valgus laxity 10.
    "left_knee": JointLimit("XYZ", (-10, 150), (-30, 30), (-10, 10)),
    # x: dorsiflexion (-) 30 [20 non-weight-bearing, 30-45 in a weight-bearing lunge] /
    # plantarflexion (+) 50 [50]; y: forefoot adduction (-) 25 [20] / abduction (+) 15 [10];
    # z: inversion (-) 35 [35] / eversion (+) 20 [15-20].
    "left_ankle": JointLimit("XYZ", (-30, 50), (-25, 15), (-35, 20)),
    # Toes (metatarsophalangeal): x extension (-) 70 [70] / flexion (+) 40 [40-45]; little else.
    "left_foot": JointLimit("XYZ", (-70, 40), (-10, 10), (-10, 10)),
    # Thoracolumbar spine, one third each of flexion (+x) 80, extension (-x) 25,
    # rotation (y) 45 and lateral flexion (z) 35.
    "spine1": JointLimit("XYZ", (-10, 30), (-15, 15), (-15, 15)),
    "spine2": JointLimit("XYZ", (-10, 30), (-15, 15), (-15, 15)),
    "spine3": JointLimit("XYZ", (-10, 30), (-15, 15), (-15, 15)),
    # Cervical spine, half each of flexion (+x) 45-50, extension (-x) 45-70, rotation (y)
    # 60-80 and lateral flexion (z) 45.
    "neck": JointLimit("XYZ", (-30, 25), (-35, 35), (-25, 25)),
    "head": JointLimit("XYZ", (-30, 25), (-35, 35), (-25, 25)),
    # Sternoclavicular: x axial rotation 30 [30-50]; y protraction (-) / retraction (+) 25
    # [15-30]; z depression (-) 10 [10] / elevation (+) 30 [30-45].
    "left_collar": JointLimit("XYZ", (-30, 30), (-25, 25), (-10, 30)),
    # Glenohumeral + scapula. The arm at rest is horizontal, so z = -90 is the arm at the
    # side: z = abduction - 90 (adduction across the body 30, abduction 180);
    # x (arm hanging): flexion (-) 170 [180] / extension (+) 60 [50-60];
    # y (arm hanging): internal (-) rotation 70 [70] / external (+) 60 [90, capped because
    # with the arm horizontal +y swings it backward, horizontal abduction ~45-60].
    "left_shoulder": JointLimit("XYZ", (-170, 60), (-70, 60), (-120, 90)),
    # y: flexion (-) 150 [150] / hyperextension 10 [0-10]; x (middle): forearm pronation /
    # supination 80 [80 / 80] (T-pose palms down is the neutral forearm); z: laxity 10.
    "left_elbow": JointLimit("YXZ", (-80, 80), (-150, 10), (-10, 10)),
    # x: residual forearm twist 30; y: radial (-) 20 [20] / ulnar (+) 30 [30] deviation;
    # z: flexion (-) 80 [80] / extension (+) 70 [70].
    "left_wrist": JointLimit("XYZ", (-30, 30), (-20, 30), (-80, 70)),
    # Fingers as one joint: z flexion (-) 90 [MCP 90] / extension (+) 30 [30-45];
    # y spread 20; x twist 10.
    "left_hand": JointLimit("XYZ", (-10, 10), (-20, 20), (-90, 30)),
}


def _full_table() -> tuple[JointLimit | None, ...]:
    table: list[JointLimit | None] = []
    for name in JOINT_NAMES:
        if name == "pelvis":
            table.append(None)
        elif name.startswith("right_"):
            table.append(_LEFT_AND_CENTRE["left_" + name[len("right_"):]].mirrored())
        else:
            table.append(_LEFT_AND_CENTRE[name])
    return tuple(table)


# JOINT_LIMITS[j] is the limit of SMPL joint j (None for the root).
JOINT_LIMITS: tuple[JointLimit | None, ...] = _full_table()


@dataclass(frozen=True)
class LimitViolation:
    frame: int
    joint: str
    axis: str
    angle_deg: float
    range_deg: Range

    def __str__(self) -> str:
        return (f"frame {self.frame}: {self.joint} {self.axis} = {self.angle_deg:.1f} deg "
                f"outside [{self.range_deg[0]:g}, {self.range_deg[1]:g}]")


def _as_pose_sequence(pose) -> np.ndarray:
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape in ((NUM_JOINTS * 3,), (NUM_JOINTS, 3)):
        return pose.reshape(1, NUM_JOINTS, 3)
    if pose.ndim == 2 and pose.shape[1] == NUM_JOINTS * 3:
        return pose.reshape(-1, NUM_JOINTS, 3)
    if pose.ndim == 3 and pose.shape[1:] == (NUM_JOINTS, 3):
        return pose
    raise MotionError(f"pose must be 72, 24 x 3, T x 72 or T x 24 x 3 axis-angle, got shape {pose.shape}")


def joint_euler_deg(rotations: np.ndarray, joint: int) -> np.ndarray:
    """Euler angles (degrees, per axis X, Y, Z — not in order) of joint ``joint``'s local
    rotations (... x 3 x 3), decomposed in that joint's limit order."""
    limit = JOINT_LIMITS[joint]
    if limit is None:
        raise ValueError(f"joint {JOINT_NAMES[joint]} has no limit")
    in_order = np.degrees(matrix_to_euler(rotations, limit.order))
    by_axis = np.empty_like(in_order)
    for position, axis in enumerate(limit.order):
        by_axis[..., "XYZ".index(axis)] = in_order[..., position]
    return by_axis


def limit_violations(pose, tolerance_deg: float = 1e-3) -> list[LimitViolation]:
    """Every (frame, joint, axis) whose Euler angle lies outside the joint's range.

    pose: 72, 24 x 3, T x 72 or T x 24 x 3 axis-angle radians.
    """
    violations = []
    for joint, axis, values, (low, high) in _limited_angles(pose):
        for frame in np.flatnonzero((values < low - tolerance_deg) | (values > high + tolerance_deg)):
            violations.append(LimitViolation(int(frame), JOINT_NAMES[joint], axis, float(values[frame]), (low, high)))
    return violations


def _limited_angles(pose):
    """(joint, axis, T angles in degrees, (low, high)) for each axis of each limited joint."""
    rotations = axis_angle_to_matrix(_as_pose_sequence(pose))
    for joint, limit in enumerate(JOINT_LIMITS):
        if limit is None:
            continue
        angles = joint_euler_deg(rotations[:, joint], joint)
        for axis_index, axis in enumerate("XYZ"):
            yield joint, axis, angles[:, axis_index], limit.range_of(axis)


def limit_box_coverage(pose, bins: int = 10) -> np.ndarray:
    """How much of each joint's Euler box poses reach: 24 x 3 (axes X, Y, Z), the share of the
    ``bins`` equal slices of each axis's range that some pose's angle falls in (angles outside
    the range count in the end slices); NaN for the root, which has no limit."""
    coverage = np.full((NUM_JOINTS, 3), np.nan)
    for joint, axis, values, (low, high) in _limited_angles(pose):
        slices = np.clip(((values - low) / (high - low) * bins).astype(int), 0, bins - 1)
        coverage[joint, "XYZ".index(axis)] = len(np.unique(slices)) / bins
    return coverage


def check_within_limits(pose, tolerance_deg: float = 1e-3) -> bool:
    """True when every joint of every frame is inside :data:`JOINT_LIMITS`."""
    return not limit_violations(pose, tolerance_deg)


def clip_rotations_to_limits(rotations: np.ndarray) -> np.ndarray:
    """Clamp local rotations (... x 24 x 3 x 3) joint by joint into their Euler boxes.

    Rotations already inside their box come back unchanged (to rounding). The root is kept.
    """
    rotations = np.array(rotations, dtype=np.float64, copy=True)
    for joint, limit in enumerate(JOINT_LIMITS):
        if limit is None:
            continue
        angles = np.degrees(matrix_to_euler(rotations[..., joint, :, :], limit.order))
        for position, axis in enumerate(limit.order):
            low, high = limit.range_of(axis)
            angles[..., position] = np.clip(angles[..., position], low, high)
        rotations[..., joint, :, :] = euler_to_matrix(np.radians(angles), limit.order)
    return rotations

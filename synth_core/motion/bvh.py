"""BVH motion files -> :class:`MotionClip` on the SMPL skeleton, and SMPL clips -> BVH.

A BVH file holds a skeleton (``HIERARCHY``: joints with an ``OFFSET`` from their parent and
``CHANNELS``) and one line of channel values per frame (``MOTION``). Rotation channels are
Euler angles in degrees, applied in the order listed (``Zrotation Xrotation Yrotation`` is
``R = R_z R_x R_y``, intrinsic, on column vectors); the root's position channels are its
absolute position. The rest pose is the skeleton with every rotation zero.

**Retargeting onto SMPL** (:func:`load_bvh`). The file's joints are matched to SMPL's 24 by
name: SMPL's own part names (``hips``, ``leftUpLeg``, ``spine1`` ...: also Mixamo's, any case,
``mixamorig:``-style prefixes dropped), or CMU's BVH names (``LowerBack``, ``Spine``,
``Spine1`` for SMPL's three spine joints). Then, per frame:

1. Forward kinematics gives each source joint's global rotation ``G_s`` (relative to its rest).
2. ``Q``, the rotation taking the source's rest frame (up: hips to head, left: right hip to
   left hip) to SMPL's (Y up, left +X, facing +Z), expresses them in SMPL's frame:
   ``Q G_s Q^T``.
3. Rest poses may differ (an A-pose skeleton, other proportions): ``A_j``, the smallest
   rotation taking SMPL's rest bone direction of joint ``j`` (towards its chain child) onto
   the source's, makes SMPL's bone point where the source's points:
   ``G_t(j) = Q G_s(j) Q^T A_j``. Joints the file lacks (toes, hand tips) follow their parent.
4. Local rotations ``G_t(parent)^T G_t(j)`` become axis-angle; the root translation is the
   source pelvis position in SMPL's frame, scaled by the ratio of leg-plus-spine lengths, minus
   the target body's rest pelvis (SMPL adds ``transl`` to the rest pelvis ``J0``).

For a file written by :func:`write_bvh` (SMPL's skeleton, SMPL's rest pose) every ``A_j`` is
the identity and the clip comes back as it was written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.body.parts import NUM_JOINTS, PART_NAMES, SMPL_PARENTS
from synth_core.errors import MotionError
from synth_core.motion.clip import MotionClip
from synth_core.motion.rotations import euler_to_matrix, matrix_to_axis_angle, matrix_to_euler, unwrap_axis_angle

ROTATION_ORDER = "ZXY"  # what write_bvh writes (CMU's order)
CENTIMETRES_PER_METRE = 100.0
END_SITE_CM = 10.0  # length of the end sites write_bvh gives the leaf joints

# SMPL joint -> CMU BVH joint name (CMU's skeleton as converted to BVH by cgspeed).
CMU_NAMES = dict(zip(PART_NAMES, (
    "Hips", "LeftUpLeg", "RightUpLeg", "LowerBack", "LeftLeg", "RightLeg", "Spine",
    "LeftFoot", "RightFoot", "Spine1", "LeftToeBase", "RightToeBase", "Neck",
    "LeftShoulder", "RightShoulder", "Head", "LeftArm", "RightArm", "LeftForeArm",
    "RightForeArm", "LeftHand", "RightHand", "LeftHandIndex1", "RightHandIndex1")))
# Joints a file may lack: they keep their parent's rotation.
OPTIONAL_JOINTS = ("leftToeBase", "rightToeBase", "leftHandIndex1", "rightHandIndex1")
# The child whose direction is joint j's bone (for joints with several children: the spine).
CHAIN_CHILD = {0: 3, 9: 12}
# Bones whose summed lengths set the source -> SMPL scale: both legs (hip-knee-ankle) and the
# spine from the pelvis to the head.
SCALE_CHAINS = ((0, 3, 6, 9, 12, 15), (1, 4, 7), (2, 5, 8))


@dataclass(frozen=True)
class BvhSkeleton:
    """A BVH file's skeleton and frames. ``channels[j]``: channel names of joint ``j``;
    ``values``: T x (sum of channels) as written (degrees and file units)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray  # J x 3 file units
    channels: tuple[tuple[str, ...], ...]
    values: np.ndarray
    frame_time: float

    @property
    def n_frames(self) -> int:
        return self.values.shape[0]

    def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """(rotations T x J x 3 x 3 local to the parent, root positions T x 3)."""
        n_frames, n_joints = self.n_frames, len(self.names)
        rotations = np.broadcast_to(np.eye(3), (n_frames, n_joints, 3, 3)).copy()
        root = np.broadcast_to(self.offsets[0], (n_frames, 3)).copy()
        column = 0
        for joint, names in enumerate(self.channels):
            block = self.values[:, column:column + len(names)]
            column += len(names)
            order = "".join(name[0].upper() for name in names if name.lower().endswith("rotation"))
            angles = np.radians(np.stack([block[:, i] for i, name in enumerate(names)
                                          if name.lower().endswith("rotation")], axis=1)) if order else None
            if order:
                rotations[:, joint] = _euler(angles, order, self.names[joint])
            for i, name in enumerate(names):
                if name.lower().endswith("position"):
                    if joint != 0:
                        raise MotionError(f"joint {self.names[joint]!r}: position channels are supported on the "
                                          "root only")
                    root[:, "xyz".index(name[0].lower())] = block[:, i]
        return rotations, root

    def global_rotations(self) -> np.ndarray:
        """T x J x 3 x 3 rotations of each joint in the file's world frame."""
        local, _ = self.local_transforms()
        result = np.empty_like(local)
        for joint, parent in enumerate(self.parents):
            result[:, joint] = local[:, joint] if parent < 0 else result[:, parent] @ local[:, joint]
        return result

    def rest_positions(self) -> np.ndarray:
        """J x 3 joint positions with every rotation zero (root at its offset)."""
        positions = np.zeros((len(self.names), 3))
        for joint, parent in enumerate(self.parents):
            positions[joint] = self.offsets[joint] + (positions[parent] if parent >= 0 else 0.0)
        return positions


def _euler(angles: np.ndarray, order: str, joint: str) -> np.ndarray:
    if len(order) == 3 and set(order) == set("XYZ"):
        return euler_to_matrix(angles, order)
    matrix = np.broadcast_to(np.eye(3), angles.shape[:1] + (3, 3)).copy()  # fewer axes: in turn
    for i, axis in enumerate(order):
        if axis not in "XYZ":
            raise MotionError(f"joint {joint!r}: unknown rotation channel axis {axis!r}")
        matrix = matrix @ euler_to_matrix(np.eye(3)["XYZ".index(axis)] * angles[:, i:i + 1], "XYZ")
    return matrix


def read_bvh(path) -> BvhSkeleton:
    """Parse a BVH file; MotionError names the file, the line and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise MotionError(f"{path}: BVH motion file does not exist")
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise MotionError(f"{path}: not a readable text BVH file ({exc})") from exc
    try:
        return _parse(text)
    except _ParseError as exc:
        raise MotionError(f"{path}: line {exc.line}: {exc.message}") from None


class _ParseError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def _parse(text: str) -> BvhSkeleton:
    lines = [(number, line.split()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines or lines[0][1][0].upper() != "HIERARCHY":
        raise _ParseError(lines[0][0] if lines else 1, "a BVH file starts with HIERARCHY")
    names, parents, offsets, channels = [], [], [], []
    stack, index, in_end_site = [], 1, False
    while index < len(lines):
        number, words = lines[index]
        keyword = words[0].upper()
        if keyword == "MOTION":
            break
        if keyword in ("ROOT", "JOINT"):
            if (keyword == "ROOT") != (not names) or len(words) < 2:
                raise _ParseError(number, f"unexpected {words[0]} (one ROOT first, then JOINTs, each with a name)")
            names.append(" ".join(words[1:]))
            parents.append(stack[-1] if stack else -1)
            offsets.append(None)
            channels.append(())
        elif keyword == "END":
            in_end_site = True
        elif keyword == "{":
            stack.append(None if in_end_site else len(names) - 1)
        elif keyword == "}":
            if not stack:
                raise _ParseError(number, "unbalanced '}'")
            in_end_site = False if stack.pop() is None else in_end_site
        elif keyword == "OFFSET":
            values = _numbers(words[1:], number, "OFFSET", 3)
            if stack and stack[-1] is not None:
                offsets[stack[-1]] = values
        elif keyword == "CHANNELS":
            count = _numbers(words[1:2], number, "CHANNELS count", 1)[0]
            names_here = tuple(words[2:])
            if count != len(names_here) or any(not re.fullmatch(r"[XYZxyz](rotation|position)", n, re.I)
                                                for n in names_here):
                raise _ParseError(number, f"CHANNELS must be a count then that many of X/Y/Z rotation/position, "
                                          f"got {' '.join(words[1:])!r}")
            if not stack or stack[-1] is None:
                raise _ParseError(number, "CHANNELS outside a joint")
            channels[stack[-1]] = names_here
        else:
            raise _ParseError(number, f"unexpected {words[0]!r} in HIERARCHY")
        index += 1
    if not names:
        raise _ParseError(lines[-1][0], "no ROOT joint")
    if index >= len(lines) or stack:
        raise _ParseError(lines[-1][0], "the HIERARCHY is not closed or there is no MOTION section")
    missing = [name for name, offset in zip(names, offsets) if offset is None]
    if missing:
        raise _ParseError(lines[index][0], f"joint(s) without OFFSET: {missing}")
    frames, frame_time, first = _motion_header(lines, index + 1)
    width = sum(len(c) for c in channels)
    rows = lines[first:]
    if len(rows) != frames:
        raise _ParseError(rows[-1][0] if rows else lines[-1][0], f"Frames: says {frames} but {len(rows)} follow")
    values = np.empty((frames, width))
    for row, (number, words) in enumerate(rows):
        values[row] = _numbers(words, number, "frame", width)
    return BvhSkeleton(tuple(names), tuple(parents), np.array(offsets, dtype=np.float64), tuple(channels),
                       values, frame_time)


def _motion_header(lines, index: int) -> tuple[int, float, int]:
    if index + 1 >= len(lines):
        raise _ParseError(lines[-1][0], "MOTION needs 'Frames: N' and 'Frame Time: S'")
    (n1, frames_words), (n2, time_words) = lines[index], lines[index + 1]
    if frames_words[0].lower() != "frames:" or [w.lower() for w in time_words[:2]] != ["frame", "time:"]:
        raise _ParseError(n1, "MOTION needs 'Frames: N' then 'Frame Time: S'")
    frames = _numbers(frames_words[1:], n1, "Frames", 1)[0]
    frame_time = _numbers(time_words[2:], n2, "Frame Time", 1)[0]
    if frames < 1 or frames != int(frames) or not frame_time > 0:
        raise _ParseError(n1, f"need at least one frame and a positive frame time, got {frames:g} and {frame_time:g}")
    return int(frames), float(frame_time), index + 2


def _numbers(words, line: int, what: str, count: int) -> np.ndarray:
    try:
        values = np.array([float(word) for word in words], dtype=np.float64)
    except ValueError:
        raise _ParseError(line, f"{what}: expected numbers, got {' '.join(words)!r}") from None
    if values.size != count or not np.all(np.isfinite(values)):
        raise _ParseError(line, f"{what}: expected {count} finite number(s), got {values.size}")
    return values


def joint_mapping(names: tuple[str, ...]) -> dict[int, int]:
    """SMPL joint index -> index of the file's joint, by name (module doc); MotionError lists
    the SMPL joints not found and the file's names."""
    def key(name: str) -> str:
        return re.sub(r"[^a-z0-9]", "", name.rsplit(":", 1)[-1].lower())

    keys = {key(name): index for index, name in enumerate(names)}
    is_cmu = {"lowerback", "lhipjoint"} <= set(keys)
    wanted = [CMU_NAMES[part] if is_cmu else part for part in PART_NAMES]
    mapping = {joint: keys[key(name)] for joint, name in enumerate(wanted) if key(name) in keys}
    missing = [PART_NAMES[j] for j in range(NUM_JOINTS) if j not in mapping and PART_NAMES[j] not in OPTIONAL_JOINTS]
    if missing:
        raise MotionError(f"BVH skeleton lacks joints for SMPL's {missing} ({'CMU' if is_cmu else 'SMPL/Mixamo'} "
                          f"names expected); its joints: {list(names)}")
    return mapping


def load_bvh(path, target_fps: float = 30.0, *, rest_joints=None) -> MotionClip:
    """A BVH file retargeted onto the SMPL skeleton (module doc) and resampled to ``target_fps``.

    rest_joints: 24 x 3 rest joints (body frame: Y up, facing +Z) of the body it will drive;
    default: the free default body's at zero betas."""
    from synth_core.motion.amass import resample

    path = Path(path)
    skeleton = read_bvh(path)
    try:
        mapping = joint_mapping(skeleton.names)
    except MotionError as exc:
        raise MotionError(f"{path}: {exc}") from None
    target = _default_rest_joints() if rest_joints is None else np.asarray(rest_joints, dtype=np.float64)
    if target.shape != (NUM_JOINTS, 3):
        raise MotionError(f"rest_joints must be {NUM_JOINTS} x 3, got {target.shape}")
    try:
        pose, transl = retarget(skeleton, mapping, target)
    except MotionError as exc:
        raise MotionError(f"{path}: {exc}") from None
    clip = MotionClip(pose=pose, transl=transl, fps=1.0 / skeleton.frame_time, source="bvh", name=path.name)
    return resample(clip, target_fps)


def retarget(skeleton: BvhSkeleton, mapping: dict[int, int], target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pose T x 24 x 3 axis-angle, transl T x 3 metres) of SMPL following ``skeleton``."""
    source_rest = skeleton.rest_positions()
    q = _frame_alignment(source_rest, mapping, target)
    source_global = np.einsum("ij,tkjl,ml->tkim", q, skeleton.global_rotations(), q)  # Q G Q^T
    alignment = _rest_alignments(source_rest @ q.T, mapping, target)
    n_frames = skeleton.n_frames
    target_global = np.empty((n_frames, NUM_JOINTS, 3, 3))
    for joint in range(NUM_JOINTS):
        parent = SMPL_PARENTS[joint]
        if joint in mapping:
            target_global[:, joint] = source_global[:, mapping[joint]] @ alignment[joint]
        else:  # an optional leaf the file lacks: rigid with its parent
            target_global[:, joint] = target_global[:, parent]
    local = target_global.copy()
    parents = np.array(SMPL_PARENTS[1:])
    local[:, 1:] = np.swapaxes(target_global[:, parents], -1, -2) @ target_global[:, 1:]
    pose = unwrap_axis_angle(matrix_to_axis_angle(local))
    _, root = skeleton.local_transforms()
    scale = _chain_length(target, range(NUM_JOINTS)) / _chain_length(source_rest, mapping)
    transl = scale * (root @ q.T) - target[0]
    return pose, transl


def _frame_alignment(source_rest: np.ndarray, mapping: dict[int, int], target: np.ndarray) -> np.ndarray:
    """Q: the rotation taking the source's rest frame (up, left) to the target's."""
    def frame(points, index):
        up = points[index(15)] - points[index(0)]
        left = points[index(1)] - points[index(2)]
        forward = np.cross(left, up)
        if np.linalg.norm(forward) < 1e-9:
            raise MotionError("the BVH rest skeleton's hips and head are in line: cannot tell up from left")
        forward /= np.linalg.norm(forward)
        up = np.cross(forward, left)
        up /= np.linalg.norm(up)
        return np.stack([np.cross(up, forward), up, forward], axis=1)  # columns: left, up, forward

    return frame(target, lambda j: j) @ frame(source_rest, lambda j: mapping[j]).T


def _rest_alignments(source_rest: np.ndarray, mapping: dict[int, int], target: np.ndarray) -> np.ndarray:
    """A_j (24 x 3 x 3): the smallest rotation taking the target's rest bone direction of joint
    j onto the source's (identity where a joint has no mapped chain child)."""
    children = {}
    for joint, parent in enumerate(SMPL_PARENTS):
        if parent >= 0:
            children.setdefault(parent, joint)
    children.update(CHAIN_CHILD)
    alignment = np.broadcast_to(np.eye(3), (NUM_JOINTS, 3, 3)).copy()
    for joint, child in children.items():
        if joint in mapping and child in mapping:
            alignment[joint] = _rotation_between(target[child] - target[joint],
                                                 source_rest[mapping[child]] - source_rest[mapping[joint]])
    for joint in range(NUM_JOINTS):  # leaves turn as their parent's bone does
        if joint not in children and joint in mapping:
            alignment[joint] = alignment[SMPL_PARENTS[joint]]
    return alignment


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation R with R a/|a| = b/|b|."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis, cos = np.cross(a, b), float(np.clip(a @ b, -1.0, 1.0))
    sin = np.linalg.norm(axis)
    if sin < 1e-12:
        if cos > 0:
            return np.eye(3)
        other = np.eye(3)[np.argmin(np.abs(a))]  # opposite: half a turn about any perpendicular
        axis = np.cross(a, other)
        return axis_angle_to_matrix(axis / np.linalg.norm(axis) * math.pi)
    return axis_angle_to_matrix(axis / sin * math.atan2(sin, cos))


def _chain_length(points: np.ndarray, mapping) -> float:
    index = (lambda j: j) if isinstance(mapping, range) else (lambda j: mapping[j])
    total = 0.0
    for chain in SCALE_CHAINS:
        for a, b in zip(chain, chain[1:]):
            total += float(np.linalg.norm(points[index(b)] - points[index(a)]))
    if total <= 0:
        raise MotionError("the BVH rest skeleton has zero-length legs and spine")
    return total


def _default_rest_joints() -> np.ndarray:
    from synth_core.body.catalog import load_body_model

    return load_body_model("default")(betas=None).rest_joints[0]


def write_bvh(path, clip: MotionClip, rest_joints) -> Path:
    """Write ``clip`` as a BVH file on SMPL's skeleton (joints named by SMPL's part names,
    offsets from ``rest_joints`` in centimetres, SMPL's rest pose, rotations ``ZXY``), written
    atomically. :func:`load_bvh` with the same ``rest_joints`` reads the clip back."""
    from synth_core.mesh_io import _atomic_write

    rest = np.asarray(rest_joints, dtype=np.float64).reshape(NUM_JOINTS, 3) * CENTIMETRES_PER_METRE
    children = {}
    for joint, parent in enumerate(SMPL_PARENTS):
        children.setdefault(parent, []).append(joint)
    lines, order = ["HIERARCHY"], []  # order: joints as written (depth first), as MOTION lists them

    def write_joint(joint: int, depth: int) -> None:
        order.append(joint)
        pad = "  " * depth
        parent = SMPL_PARENTS[joint]
        offset = rest[joint] - (rest[parent] if parent >= 0 else 0.0)
        rotations = " ".join(f"{axis}rotation" for axis in ROTATION_ORDER)
        lines.append(f"{pad}{'ROOT' if parent < 0 else 'JOINT'} {PART_NAMES[joint]}")
        lines.append(pad + "{")
        lines.append(f"{pad}  OFFSET {_format(offset)}")
        lines.append(f"{pad}  CHANNELS {6 if parent < 0 else 3} "
                     + ("Xposition Yposition Zposition " if parent < 0 else "") + rotations)
        for child in children.get(joint, []):
            write_joint(child, depth + 1)
        if joint not in children:
            direction = rest[joint] - rest[parent]
            tip = direction / np.linalg.norm(direction) * END_SITE_CM
            lines.extend([f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET {_format(tip)}", pad + "  }"])
        lines.append(pad + "}")

    write_joint(0, 0)
    euler = np.degrees(matrix_to_euler(axis_angle_to_matrix(clip.pose), ROTATION_ORDER))  # T x 24 x 3
    root = (clip.transl + rest[0] / CENTIMETRES_PER_METRE) * CENTIMETRES_PER_METRE
    lines += ["MOTION", f"Frames: {clip.n_frames}", f"Frame Time: {1.0 / clip.fps:.17g}"]
    for frame in range(clip.n_frames):
        lines.append(_format(np.concatenate([root[frame], euler[frame, order].ravel()])))
    path = Path(path)
    _atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


def _format(values) -> str:
    return " ".join(f"{value:.17g}" for value in np.asarray(values).ravel())

"""BVH motion: our own procedural motions written as BVH and read back exactly, and a
CMU-style skeleton (other names, extra joints, inches, Z up, an A-pose rest) retargeted onto
SMPL, checked against posed bone directions computed independently from the file."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.body.catalog import load_body_model
from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.body.parts import PART_NAMES, SMPL_PARENTS
from synth_core.errors import MotionError
from synth_core.motion import PROCEDURAL_KINDS, procedural_motion
from synth_core.motion.bvh import CMU_NAMES, load_bvh, read_bvh, write_bvh
from synth_core.motion.rotations import axis_rotation, matrix_to_euler

REST = load_body_model("default")(betas=None).rest_joints[0]


def smpl_posed_joints(pose: np.ndarray, transl: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """T x 24 x 3 posed joints of the SMPL skeleton (forward kinematics written here)."""
    local = axis_angle_to_matrix(pose)
    glob = np.empty_like(local)
    joints = np.empty(pose.shape[:2] + (3,))
    for j, parent in enumerate(SMPL_PARENTS):
        if parent < 0:
            glob[:, j], joints[:, j] = local[:, j], rest[j] + transl
        else:
            glob[:, j] = glob[:, parent] @ local[:, j]
            joints[:, j] = joints[:, parent] + glob[:, parent] @ (rest[j] - rest[parent])
    return joints


@pytest.mark.parametrize("kind", PROCEDURAL_KINDS)
def test_procedural_motion_written_as_bvh_reads_back_exactly(tmp_path, kind):
    motion = procedural_motion(kind, n_frames=30, fps=30.0)
    path = write_bvh(tmp_path / f"{kind}.bvh", motion, REST)
    back = load_bvh(path, target_fps=30.0, rest_joints=REST)
    assert back.n_frames == motion.n_frames and back.source == "bvh"
    assert np.allclose(axis_angle_to_matrix(back.pose), axis_angle_to_matrix(motion.pose), atol=1e-9)
    assert np.allclose(back.transl, motion.transl, atol=1e-9)
    assert not list(tmp_path.glob("*.tmp"))


def test_bvh_frame_rate_is_resampled(tmp_path):
    motion = procedural_motion("walk", n_frames=121, fps=120.0)
    back = load_bvh(write_bvh(tmp_path / "walk.bvh", motion, REST), target_fps=30.0, rest_joints=REST)
    assert back.n_frames == 31 and back.fps == 30.0
    assert np.allclose(axis_angle_to_matrix(back.pose[5]), axis_angle_to_matrix(motion.pose[20]), atol=1e-9)


# A CMU-style skeleton: CMU's names, two extra joints, inches, Z up, arms hanging 40 degrees
# down at rest. Each entry: (name, parent name, SMPL joint it follows or None for an extra joint).
EXTRA = {"LHipJoint": ("Hips", "LeftUpLeg"), "RHipJoint": ("Hips", "RightUpLeg"),
         "Neck1": ("Neck", "Head")}
INCH = 0.0254
Z_UP = axis_rotation("X", np.pi / 2)  # the file's world: Y-up body frame turned to Z up
ARM_DROP = np.radians(40.0)


def cmu_skeleton():
    """(names, parents, rest positions J x 3 in the file's frame and units, SMPL joint of
    each name or None, rest rotation R of each joint: file rest bone = R @ SMPL rest bone)."""
    smpl_of = {CMU_NAMES[part]: j for j, part in enumerate(PART_NAMES)}
    names, parents, smpl_joint = [], [], []

    def add(name, parent):
        names.append(name)
        parents.append(names.index(parent) if parent else -1)
        smpl_joint.append(smpl_of.get(name))

    def visit(j):
        for child in [c for c, p in enumerate(SMPL_PARENTS) if p == j]:
            cmu = CMU_NAMES[PART_NAMES[child]]
            extra = next((e for e, (p, c) in EXTRA.items() if c == cmu), None)
            if extra:
                add(extra, CMU_NAMES[PART_NAMES[j]])
                add(cmu, extra)
            else:
                add(cmu, CMU_NAMES[PART_NAMES[j]])
            visit(child)

    add("Hips", None)
    visit(0)
    # Arms (from the shoulder joints down) hang ARM_DROP below SMPL's horizontal T-pose.
    rest_turn = []
    for name in names:
        side = 1.0 if name.startswith("Left") else -1.0
        arm = any(name.startswith(s + p) for s in ("Left", "Right") for p in ("Arm", "ForeArm", "Hand"))
        rest_turn.append(axis_rotation("Z", -side * ARM_DROP) if arm else np.eye(3))
    positions = np.zeros((len(names), 3))
    for i, (name, parent) in enumerate(zip(names, parents)):
        if parent < 0:
            positions[i] = REST[0]
            continue
        j = smpl_joint[i] if smpl_joint[i] is not None else smpl_of[EXTRA[name][1]]
        parent_j = smpl_joint[parent] if smpl_joint[parent] is not None else smpl_of[EXTRA[names[parent]][0]]
        bone = REST[j] - REST[parent_j]
        if name in EXTRA:  # an extra joint halfway along its SMPL bone
            bone = bone / 2.0
        elif names[parent] in EXTRA:
            bone = bone / 2.0
        positions[i] = positions[parent] + rest_turn[parent] @ bone
    return names, parents, positions, smpl_joint, rest_turn


def write_cmu_bvh(path, motion, scale: float = 1.0 / INCH) -> tuple:
    """The SMPL motion on the CMU-style skeleton: each joint's posed bone points where SMPL's
    does (global rotation = SMPL's global @ rest_turn^T), extra joints rigid with their parent."""
    names, parents, rest, smpl_joint, rest_turn = cmu_skeleton()
    local = axis_angle_to_matrix(motion.pose)
    smpl_global = np.empty_like(local)
    for j, parent in enumerate(SMPL_PARENTS):
        smpl_global[:, j] = local[:, j] if parent < 0 else smpl_global[:, parent] @ local[:, j]
    glob = np.empty((motion.n_frames, len(names), 3, 3))
    for i, parent in enumerate(parents):
        follow = smpl_joint[i] if smpl_joint[i] is not None else smpl_joint[parent]
        glob[:, i] = Z_UP @ smpl_global[:, follow] @ rest_turn[i].T @ Z_UP.T
    file_local = glob.copy()
    for i, parent in enumerate(parents):
        if parent >= 0:
            file_local[:, i] = np.swapaxes(glob[:, parent], -1, -2) @ glob[:, i]
    euler = np.degrees(matrix_to_euler(file_local, "ZXY"))
    rest_file = rest @ Z_UP.T * scale
    offsets = [rest_file[i] - (rest_file[p] if p >= 0 else 0) for i, p in enumerate(parents)]
    root = ((motion.transl + REST[0]) @ Z_UP.T) * scale
    lines = ["HIERARCHY"]

    def joint(i, depth):
        pad = "\t" * depth
        lines.append(f"{pad}{'ROOT' if parents[i] < 0 else 'JOINT'} {names[i]}")
        lines.append(pad + "{")
        lines.append(pad + "\tOFFSET " + " ".join(f"{v:.17g}" for v in offsets[i]))
        lines.append(pad + "\tCHANNELS " + ("6 Xposition Yposition Zposition " if parents[i] < 0 else "3 ")
                     + "Zrotation Xrotation Yrotation")
        kids = [c for c, p in enumerate(parents) if p == i]
        for c in kids:
            joint(c, depth + 1)
        if not kids:
            lines.extend([pad + "\tEnd Site", pad + "\t{", pad + "\t\tOFFSET 0 1 0", pad + "\t}"])
        lines.append(pad + "}")

    joint(0, 0)
    lines += ["MOTION", f"Frames: {motion.n_frames}", f"Frame Time: {1 / motion.fps:.17g}"]
    for t in range(motion.n_frames):
        lines.append(" ".join(f"{v:.17g}" for v in np.concatenate([root[t], euler[t].ravel()])))
    path.write_text("\n".join(lines) + "\n")
    return names, parents


def file_posed_joints(path) -> np.ndarray:
    """Posed joints of a BVH file by its own forward kinematics (written here, not the loader's)."""
    skeleton = read_bvh(path)
    from synth_core.motion.rotations import euler_to_matrix

    n_frames, names = skeleton.n_frames, skeleton.names
    positions = np.zeros((n_frames, len(names), 3))
    glob = np.zeros((n_frames, len(names), 3, 3))
    column = 0
    for i, parent in enumerate(skeleton.parents):
        count = len(skeleton.channels[i])
        values = skeleton.values[:, column:column + count]
        column += count
        rotation = euler_to_matrix(np.radians(values[:, -3:]), "ZXY")
        if parent < 0:
            glob[:, i], positions[:, i] = rotation, values[:, :3]
        else:
            glob[:, i] = glob[:, parent] @ rotation
            positions[:, i] = positions[:, parent] + glob[:, parent] @ skeleton.offsets[i]
    return positions


def test_cmu_style_skeleton_retargets_bone_directions_onto_smpl(tmp_path):
    motion = procedural_motion("jumping_jacks", n_frames=20, fps=30.0)
    path = tmp_path / "cmu_style.bvh"
    names, _ = write_cmu_bvh(path, motion)
    clip = load_bvh(path, target_fps=30.0, rest_joints=REST)
    ours = smpl_posed_joints(clip.pose, clip.transl, REST)
    theirs = file_posed_joints(path) @ Z_UP  # back to the Y-up frame (Z_UP^T applied row-wise)
    index = {name: i for i, name in enumerate(names)}
    for j, parent in enumerate(SMPL_PARENTS):
        if parent < 0:
            continue
        a, b = index[CMU_NAMES[PART_NAMES[parent]]], index[CMU_NAMES[PART_NAMES[j]]]
        mine = ours[:, j] - ours[:, parent]
        file_bone = theirs[:, b] - theirs[:, a]
        cos = np.sum(mine * file_bone, -1) / np.linalg.norm(mine, axis=-1) / np.linalg.norm(file_bone, axis=-1)
        assert np.all(cos > 1 - 1e-9), (PART_NAMES[j], cos.min())
    # The pelvis follows the file's root, scaled from inches to the target body.
    assert np.allclose(ours[:, 0], theirs[:, 0] * INCH, atol=1e-9)


def test_mixamo_prefixed_names_map(tmp_path):
    motion = procedural_motion("wave", n_frames=5, fps=30.0)
    path = write_bvh(tmp_path / "ours.bvh", motion, REST)
    text = path.read_text()
    for name in sorted(PART_NAMES, key=len, reverse=True):
        text = text.replace(f"JOINT {name}\n", f"JOINT mixamorig:{name[0].upper() + name[1:]}\n")
    text = text.replace("ROOT hips", "ROOT mixamorig:Hips")
    path.write_text(text)
    back = load_bvh(path, target_fps=30.0, rest_joints=REST)
    assert np.allclose(axis_angle_to_matrix(back.pose), axis_angle_to_matrix(motion.pose), atol=1e-9)


@pytest.mark.parametrize("edit, message", [
    (lambda text: text.replace("HIERARCHY", "HIERARCHIES", 1), "starts with HIERARCHY"),
    (lambda text: text.replace("Frames: 5", "Frames: 6"), "says 6 but 5 follow"),
    (lambda text: text.replace("CHANNELS 3", "CHANNELS 4", 1), "CHANNELS must be"),
    (lambda text: text.replace("JOINT leftHand\n", "JOINT leftPaw\n"), "lacks joints for SMPL's ['leftHand']"),
    (lambda text: text[:text.index("MOTION")], "no MOTION section"),
    (lambda text: text.rstrip("\n") + " 1.0\n", "expected 75 finite number"),
    (lambda text: text.replace("OFFSET", "OFFSET x", 1), "OFFSET: expected numbers"),
])
def test_bad_bvh_files_are_refused_by_name(tmp_path, edit, message):
    path = write_bvh(tmp_path / "ours.bvh", procedural_motion("walk", n_frames=5, fps=30.0), REST)
    path.write_text(edit(path.read_text()))
    with pytest.raises(MotionError) as error:
        load_bvh(path, rest_joints=REST)
    assert message in str(error.value) and "ours.bvh" in str(error.value)


def test_missing_and_binary_files_are_refused(tmp_path):
    with pytest.raises(MotionError, match="does not exist"):
        load_bvh(tmp_path / "none.bvh")
    (tmp_path / "binary.bvh").write_bytes(b"\xff\xfe\x00BVH")
    with pytest.raises(MotionError, match="not a readable text BVH"):
        load_bvh(tmp_path / "binary.bvh")

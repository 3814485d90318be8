"""Motion sources: clips, joint limits, procedural motions, AMASS loading and resampling.

Physical checks pose the free default body with the clips (forward kinematics of the body
model itself), so they test what the renderer will show, not the generators' own maths.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from synth_core.body.catalog import load_body_model
from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.body.parts import JOINT_NAMES
from synth_core.errors import MotionError
from synth_core.motion import (AMPLITUDE_RANGE, JOINT_LIMITS, PROCEDURAL_KINDS, SPEED_RANGE, MotionClip,
                               check_within_limits, clip_rotations_to_limits, cycle_seconds, limit_violations,
                               load_amass, mirror_motion, motion_from_params, procedural_motion, resample,
                               sample_procedural_params)
from synth_core.motion.rotations import (axis_angle_to_quaternion, euler_to_matrix, geodesic_angle,
                                         matrix_to_axis_angle, matrix_to_euler, quaternion_to_axis_angle, slerp,
                                         unwrap_axis_angle)

J = {name: index for index, name in enumerate(JOINT_NAMES)}
MAX_JOINT_SPEED_DEG_S = 2000.0  # fast human limb motion (kicks, punches) at speed 1


@pytest.fixture(scope="module")
def body():
    return load_body_model("default")


@pytest.fixture(scope="module")
def rest_joints(body):
    return body().joints[0]


def posed_joints(body, clip: MotionClip, step: int = 1) -> np.ndarray:
    return body(pose=clip.pose[::step], transl=clip.transl[::step]).joints


def pose_with(**joint_axis_angles) -> np.ndarray:
    pose = np.zeros((24, 3))
    for name, value in joint_axis_angles.items():
        pose[J[name]] = value
    return pose


def facing_yaw_deg(joints: np.ndarray) -> np.ndarray:
    """Heading of the hips (0 = +Z, positive towards +X, i.e. a turn to the body's left)."""
    left = joints[:, J["left_hip"]] - joints[:, J["right_hip"]]
    forward = np.cross(left, [0.0, 1.0, 0.0])
    return np.degrees(np.unwrap(np.arctan2(forward[:, 0], forward[:, 2])))


# ----------------------------------------------------------------------------- rotations

@pytest.mark.parametrize("order", ["XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX"])
def test_euler_round_trip_every_order(order):
    rng = np.random.default_rng(1)
    angles = rng.uniform(-3.0, 3.0, size=(500, 3))
    angles[:, 1] = rng.uniform(-1.5, 1.5, size=500)  # middle angle away from gimbal lock
    matrices = euler_to_matrix(angles, order)
    expected = np.eye(3)
    for i, axis in enumerate(order):  # build the product independently, one axis at a time
        vector = np.zeros(3)
        vector["XYZ".index(axis)] = 1.0
        expected = expected @ axis_angle_to_matrix(vector * angles[:, i:i + 1])
    np.testing.assert_allclose(matrices, expected, atol=1e-12)
    np.testing.assert_allclose(matrix_to_euler(matrices, order), angles, atol=1e-9)


def test_axis_angle_quaternion_conversions_hold_up_to_pi():
    rng = np.random.default_rng(2)
    axes = rng.normal(size=(400, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, np.pi, 396), [0.0, 1e-10, np.pi - 1e-9, np.pi]])
    axis_angle = axes * angles[:, None]
    matrices = axis_angle_to_matrix(axis_angle)
    np.testing.assert_allclose(axis_angle_to_matrix(matrix_to_axis_angle(matrices)), matrices, atol=1e-9)
    back = quaternion_to_axis_angle(axis_angle_to_quaternion(axis_angle))
    np.testing.assert_allclose(axis_angle_to_matrix(back), matrices, atol=1e-9)


def test_slerp_about_a_fixed_axis_is_linear_in_angle_and_unwrap_keeps_growing():
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    q0, q1 = axis_angle_to_quaternion(axis * 0.2), axis_angle_to_quaternion(axis * 2.6)
    fractions = np.linspace(0, 1, 11)
    blended = quaternion_to_axis_angle(slerp(np.tile(q0, (11, 1)), np.tile(q1, (11, 1)), fractions))
    np.testing.assert_allclose(blended, axis * (0.2 + 2.4 * fractions)[:, None], atol=1e-12)

    yaw = np.linspace(0, 3 * np.pi, 50)  # a root turning one and a half times
    wrapped = matrix_to_axis_angle(axis_angle_to_matrix(np.outer(yaw, [0, 1, 0])))
    assert np.abs(np.diff(wrapped[:, 1])).max() > 3.0  # canonical form flips at pi
    np.testing.assert_allclose(unwrap_axis_angle(wrapped)[:, 1], yaw, atol=1e-9)


# ----------------------------------------------------------------------------- conventions

def test_sign_conventions_of_the_docs_hold_on_the_body_model(body, rest_joints):
    def joints(**kw):
        return body(pose=pose_with(**kw)).joints[0]

    ankle, knee = J["left_ankle"], J["left_knee"]
    assert joints(left_hip=[0.5, 0, 0])[ankle, 2] < rest_joints[ankle, 2] - 0.2  # +X: leg swings back
    bent = joints(left_knee=[0.8, 0, 0])
    assert bent[ankle, 2] < bent[knee, 2] - 0.2  # knee flexion is +X
    lowered = joints(left_shoulder=[0, 0, -1.2])
    assert lowered[J["left_wrist"], 1] < rest_joints[J["left_shoulder"], 1] - 0.3  # -Z lowers the left arm
    flexed = joints(left_elbow=[0, -1.2, 0])
    assert flexed[J["left_wrist"], 2] > flexed[J["left_elbow"], 2] + 0.15  # -Y flexes the left elbow
    assert joints(spine1=[0.3, 0, 0])[J["head"], 2] > rest_joints[J["head"], 2] + 0.1  # +X: trunk forward
    turned = body(pose=pose_with(pelvis=[0, 0.5, 0])).joints
    assert facing_yaw_deg(turned)[0] == pytest.approx(np.degrees(0.5), abs=1.0)  # +yaw: turn to the left


# ----------------------------------------------------------------------------- limits

def test_limit_table_is_left_right_symmetric_and_covers_every_joint_but_the_root():
    assert JOINT_LIMITS[0] is None and all(limit is not None for limit in JOINT_LIMITS[1:])
    for name, index in J.items():
        if name.startswith("left_"):
            left, right = JOINT_LIMITS[index], JOINT_LIMITS[J["right_" + name[5:]]]
            assert right.order == left.order and right.x == left.x
            assert right.y == (-left.y[1], -left.y[0]) and right.z == (-left.z[1], -left.z[0])
    for limit in JOINT_LIMITS[1:]:
        middle = limit.range_of(limit.order[1])
        assert -90 < middle[0] < middle[1] < 90  # the Euler decomposition is unique inside the box


def test_limit_check_flags_impossible_poses_and_clipping_fixes_them():
    assert check_within_limits(np.zeros((24, 3)))
    backwards_knee = pose_with(left_knee=[math.radians(-40), 0, 0])
    violations = limit_violations(backwards_knee)
    assert [(v.joint, v.axis) for v in violations] == [("left_knee", "X")]
    assert violations[0].angle_deg == pytest.approx(-40.0)
    elbow_the_wrong_way = pose_with(right_elbow=[0, math.radians(-60), 0])  # right flexion is +Y
    assert [(v.joint, v.axis) for v in limit_violations(elbow_the_wrong_way)] == [("right_elbow", "Y")]

    rng = np.random.default_rng(3)
    poses = rng.normal(0, 0.8, size=(50, 24, 3))
    assert not check_within_limits(poses)
    clipped = matrix_to_axis_angle(clip_rotations_to_limits(axis_angle_to_matrix(poses)))
    assert check_within_limits(clipped)
    gentle = rng.normal(0, 0.05, size=(20, 24, 3))
    assert check_within_limits(gentle)
    np.testing.assert_allclose(axis_angle_to_matrix(matrix_to_axis_angle(
        clip_rotations_to_limits(axis_angle_to_matrix(gentle)))), axis_angle_to_matrix(gentle), atol=1e-12)


def test_mirrored_poses_violate_the_mirrored_limits():
    rng = np.random.default_rng(4)
    poses = rng.normal(0, 0.6, size=(40, 24, 3))
    mirrored, _ = mirror_motion(poses, np.zeros((40, 3)))

    def flagged(pose):
        return sorted((v.frame, v.joint.replace("left_", "L").replace("right_", "R"), v.axis)
                      for v in limit_violations(pose))

    swapped = sorted((f, j.translate(str.maketrans("LR", "RL")) if j[0] in "LR" else j, a)
                     for f, j, a in flagged(poses))
    assert flagged(mirrored) == swapped and swapped


# ----------------------------------------------------------------------------- clip

def test_motion_clip_validates_and_windows():
    pose, transl = np.zeros((100, 24, 3)), np.zeros((100, 3))
    clip = MotionClip(pose=pose.reshape(100, 72), transl=transl, fps=30, source="procedural", name="x")
    assert clip.pose.shape == (100, 24, 3) and clip.n_frames == 100 and clip.fps == 30.0
    with pytest.raises(ValueError):
        clip.pose[0, 0, 0] = 1.0  # read-only
    part = clip.window(95, 5)
    assert part.n_frames == 5 and part.name == "x"
    with pytest.raises(MotionError, match=r"\[95, 105\).*\[0, 100\)"):
        clip.window(95, 10)
    with pytest.raises(MotionError, match="window"):
        clip.window(-1, 5)
    bad = [dict(pose=np.zeros((10, 23, 3))), dict(transl=np.zeros((9, 3))), dict(fps=0), dict(fps="fast"),
           dict(source="mocap"), dict(pose=np.full((10, 24, 3), np.nan))]
    for override in bad:
        fields = dict(pose=np.zeros((10, 24, 3)), transl=np.zeros((10, 3)), fps=30.0, source="amass", name="c")
        fields.update(override)
        with pytest.raises(MotionError):
            MotionClip(**fields)


# ----------------------------------------------------------------------------- procedural

def _max_steps(clip: MotionClip) -> tuple[float, float]:
    rotations = axis_angle_to_matrix(clip.pose)
    turn = np.degrees(geodesic_angle(rotations[1:], rotations[:-1])).max()
    move = np.linalg.norm(np.diff(clip.transl, axis=0), axis=1).max()
    return turn, move


@pytest.mark.parametrize("kind", PROCEDURAL_KINDS)
def test_every_kind_at_extremes_is_within_limits_finite_and_smooth(kind):
    extremes = [(speed, amplitude) for speed in SPEED_RANGE for amplitude in AMPLITUDE_RANGE]
    for speed, amplitude in extremes + [(1.0, 1.0)]:
            frames = int(cycle_seconds(kind, speed) * 60) + 2  # one full cycle at 60 fps
            clip = procedural_motion(kind, frames, fps=60, speed=speed, amplitude=amplitude, phase=0.3)
            assert clip.pose.shape == (frames, 24, 3) and np.all(np.isfinite(clip.pose))
            assert check_within_limits(clip.pose), limit_violations(clip.pose)[:3]
            turn, move = _max_steps(clip)
            assert turn * 60 <= MAX_JOINT_SPEED_DEG_S * speed, (speed, amplitude, turn)
            # Smooth: doubling the frame rate about halves every per-frame change (a foot taking
            # the weight can make it sharper); a jump would not shrink at all.
            fine_turn, fine_move = _max_steps(procedural_motion(kind, 2 * frames, fps=120, speed=speed,
                                                                amplitude=amplitude, phase=0.3))
            assert fine_turn <= 0.7 * turn + 1e-4 and fine_move <= 0.7 * move + 1e-6, (speed, amplitude)


@pytest.mark.parametrize("kind", PROCEDURAL_KINDS)
def test_every_kind_loops(kind):
    per_cycle = 40
    speed, amplitude = 1.2, 0.9
    fps = per_cycle / cycle_seconds(kind, speed)
    clip = procedural_motion(kind, 2 * per_cycle + 1, fps=fps, speed=speed, amplitude=amplitude, phase=0.1)
    rotations = axis_angle_to_matrix(clip.pose)
    first, second = rotations[:per_cycle + 1], rotations[per_cycle:]
    np.testing.assert_allclose(second[:, 1:], first[:, 1:], atol=1e-9)  # every joint but the root
    advance = clip.transl[per_cycle:] - clip.transl[:per_cycle + 1]
    np.testing.assert_allclose(advance[:, 1], 0.0, atol=1e-9)  # same height
    if kind == "turn":
        yaw = np.degrees(np.array([matrix_to_euler(r, "YXZ")[0] for r in
                                   (second[:, 0] @ np.swapaxes(first[:, 0], 1, 2))]))
        np.testing.assert_allclose(yaw, 45 * amplitude, atol=1e-6)  # 45 degrees per cycle
    else:
        np.testing.assert_allclose(second[:, 0], first[:, 0], atol=1e-9)
    if kind in ("walk", "run"):
        assert np.all(advance[:, 2] > 0.5) and np.ptp(advance[:, 2]) < 1e-9  # one stride per cycle
    elif kind != "turn":
        np.testing.assert_allclose(advance[:, [0, 2]], 0.0, atol=1e-9)
    shifted = procedural_motion(kind, 20, fps=fps, speed=speed, amplitude=amplitude, phase=1.1)
    np.testing.assert_allclose(axis_angle_to_matrix(shifted.pose[:, 1:]), first[:20, 1:], atol=1e-9)


@pytest.mark.parametrize("kind", ["walk", "run"])
def test_walk_and_run_alternate_feet_and_travel_without_slipping(body, kind):
    clip = procedural_motion(kind, 66, fps=30)
    joints = posed_joints(body, clip)
    left, right, pelvis = joints[:, J["left_ankle"]], joints[:, J["right_ankle"]], joints[:, J["pelvis"]]
    ahead = left[:, 2] - right[:, 2]
    assert ahead.max() > 0.3 and ahead.min() < -0.3  # each foot in front in turn
    assert np.count_nonzero(np.diff(np.sign(ahead))) >= 3  # ... and again (2+ cycles)
    speed = (pelvis[-1, 2] - pelvis[0, 2]) / clip.duration_s
    assert (0.8 < speed < 1.8) if kind == "walk" else (1.8 < speed < 4.5)
    assert np.all(np.diff(pelvis[:, 2]) > 0)  # always forward
    assert abs(pelvis[-1, 0] - pelvis[0, 0]) < 0.05  # and straight
    assert 0.01 < np.ptp(pelvis[:, 1]) < 0.12  # vertical bob
    # The foot on the ground (clearly lower than the other) stays put: the pelvis speed
    # matches stride x cadence.
    lower = np.where((left[:, 1] < right[:, 1])[:, None], left, right)
    clear = np.abs(left[:, 1] - right[:, 1]) > 0.03
    same = clear[1:] & clear[:-1] & ((left[1:, 1] < right[1:, 1]) == (left[:-1, 1] < right[:-1, 1]))
    foot_speed = np.linalg.norm(np.diff(lower[:, [0, 2]], axis=0), axis=1) * clip.fps
    assert same.sum() > 20 and np.median(foot_speed[same]) < 0.25 * speed


def test_walk_arms_hang_down_not_in_t_pose(body):
    joints = posed_joints(body, procedural_motion("walk", 30, fps=30, amplitude=0.0))
    for side in ("left", "right"):
        drop = joints[:, J[f"{side}_shoulder"], 1] - joints[:, J[f"{side}_wrist"], 1]
        assert np.all(drop > 0.4)
        spread = np.abs(joints[:, J[f"{side}_wrist"], 0])
        assert np.all(spread > np.abs(joints[:, J[f"{side}_hip"], 0]))  # beside the body, not in it


def test_jump_leaves_the_ground(body, rest_joints):
    joints = posed_joints(body, procedural_motion("jump", 40, fps=30))
    assert joints[:, 0, 1].max() > rest_joints[0, 1] + 0.15
    both_feet = np.minimum(joints[:, J["left_ankle"], 1], joints[:, J["right_ankle"], 1])
    assert both_feet.max() > rest_joints[J["left_ankle"], 1] + 0.1
    assert joints[:, 0, 1].min() < rest_joints[0, 1] - 0.15  # it crouched first


def test_squat_lowers_the_pelvis_with_feet_planted(body, rest_joints):
    joints = posed_joints(body, procedural_motion("squat", 46, fps=15))
    assert joints[:, 0, 1].min() < rest_joints[0, 1] - 0.2
    for ankle in ("left_ankle", "right_ankle"):
        assert np.abs(joints[:, J[ankle]] - rest_joints[J[ankle]]).max() < 0.04


@pytest.mark.parametrize("mirror", [False, True])
def test_wave_raises_a_wrist_above_the_head(body, mirror):
    joints = posed_joints(body, procedural_motion("wave", 27, fps=30, mirror=mirror))
    waving, other = ("left_wrist", "right_wrist") if mirror else ("right_wrist", "left_wrist")
    assert np.all(joints[:, J[waving], 1] > joints[:, J["head"], 1] + 0.05)
    assert np.all(joints[:, J[other], 1] < joints[:, J["pelvis"], 1] + 0.2)


def test_sit_flexes_the_hips_near_90_degrees(body, rest_joints):
    joints = posed_joints(body, procedural_motion("sit", 50, fps=10))
    thigh = joints[:, J["left_knee"]] - joints[:, J["left_hip"]]
    trunk_down = joints[:, J["pelvis"]] - joints[:, J["spine3"]]
    cos = np.sum(thigh * trunk_down, axis=1) / np.linalg.norm(thigh, axis=1) / np.linalg.norm(trunk_down, axis=1)
    flexion = np.degrees(np.arccos(cos))
    assert 80 < flexion.max() < 100 and flexion[0] < 10
    assert joints[:, 0, 1].min() < rest_joints[0, 1] - 0.25


@pytest.mark.parametrize("mirror, sign", [(False, 1.0), (True, -1.0)])
def test_turn_changes_the_facing_direction(body, mirror, sign):
    yaw = facing_yaw_deg(posed_joints(body, procedural_motion("turn", 100, fps=30, mirror=mirror), step=3))
    assert sign * (yaw[-1] - yaw[0]) > 90
    assert np.all(sign * np.diff(yaw) > 0)


def test_params_from_seeds_are_json_and_reproducible():
    params = [sample_procedural_params(np.random.default_rng(seed)) for seed in range(30)]
    assert len({json.dumps(p, sort_keys=True) for p in params}) == 30
    assert len({p["kind"] for p in params}) >= 6
    for p in params:
        assert json.loads(json.dumps(p)) == p
        assert SPEED_RANGE[0] <= p["speed"] <= SPEED_RANGE[1] and 0 <= p["phase"] < 1
    again = sample_procedural_params(np.random.default_rng(7))
    assert again == params[7]
    a = motion_from_params(params[7], 30, fps=30)
    b = motion_from_params(json.loads(json.dumps(again)), 30, fps=30)
    np.testing.assert_array_equal(a.pose, b.pose)
    np.testing.assert_array_equal(a.transl, b.transl)
    for other in params[8:12]:  # other seeds, other motions
        assert not np.allclose(motion_from_params(other, 30, fps=30).pose, a.pose)


def test_bad_procedural_requests_raise_motion_errors():
    with pytest.raises(MotionError, match="dance"):
        procedural_motion("dance", 10)
    with pytest.raises(MotionError, match="speed"):
        procedural_motion("walk", 10, speed=3.0)
    with pytest.raises(MotionError, match="amplitude"):
        procedural_motion("walk", 10, amplitude=float("nan"))
    with pytest.raises(MotionError, match="n_frames"):
        procedural_motion("walk", 0)
    with pytest.raises(MotionError, match="tempo"):
        motion_from_params({"kind": "walk", "tempo": 2}, 10)
    with pytest.raises(MotionError, match="kind"):
        motion_from_params({"speed": 1.0}, 10)


# ----------------------------------------------------------------------------- AMASS

AMASS_FPS = 120.0
C = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # Z-up -> Y-up, written out independently


def knee_angle(t):
    return 0.1 + 0.9 * t  # radians, linear in time


def amass_arrays(layout: int = 156, frames: int = 121, framerate_key: str = "mocap_framerate") -> dict:
    t = np.arange(frames) / AMASS_FPS
    poses = np.zeros((frames, layout))
    poses[:, 0] = np.pi / 2  # AMASS upright: +90 degrees about X (body Y -> world Z)
    poses[:, 3 * J["left_knee"]] = knee_angle(t)
    poses[:, 3 * J["spine2"] + 1] = 0.2 * np.sin(3 * t)  # a joint that is not linear in time
    poses[:, 66:] = 0.3  # hand/face joints beyond the 22 body joints
    trans = np.stack([0.5 * t, -0.8 * t, 0.9 + 0.1 * t], axis=1)  # Z up: walking along -Y
    return {"poses": poses, "trans": trans, framerate_key: np.array(AMASS_FPS),
            "betas": np.zeros(16), "gender": np.array("neutral")}


def write_npz(tmp_path, name: str, arrays: dict):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_amass_smplh_loads_resampled_upright_and_converted(tmp_path, body):
    path = write_npz(tmp_path, "walk_poses.npz", amass_arrays())
    clip = load_amass(path, target_fps=30.0)
    assert clip.source == "amass" and clip.fps == 30.0 and "walk_poses" in clip.name
    assert clip.n_frames == 31  # 1 s at 120 fps -> 1 s at 30 fps
    times = np.arange(31) / 30.0
    np.testing.assert_allclose(clip.pose[:, J["left_knee"]], np.outer(knee_angle(times), [1, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(clip.pose[:, J["left_hand"]], 0.0)
    np.testing.assert_allclose(clip.pose[:, J["right_hand"]], 0.0)
    np.testing.assert_allclose(clip.pose[:, 0], 0.0, atol=1e-12)  # upright in Y-up = identity
    expected_trans = np.stack([0.5 * times, -0.8 * times, 0.9 + 0.1 * times], axis=1) @ C.T
    np.testing.assert_allclose(clip.transl, expected_trans, atol=1e-12)
    joints = posed_joints(body, clip, step=10)
    assert np.all(joints[:, J["head"], 1] > joints[:, J["pelvis"], 1] + 0.4)  # head above pelvis in +Y
    assert np.all(joints[:, J["head"], 1] > joints[:, J["left_ankle"], 1] + 1.0)


def test_amass_resampling_at_a_non_integer_ratio_matches_the_analytic_motion(tmp_path):
    clip = load_amass(write_npz(tmp_path, "a.npz", amass_arrays()), target_fps=25.0)
    assert clip.n_frames == 26
    times = np.arange(26) / 25.0
    np.testing.assert_allclose(clip.pose[:, J["left_knee"], 0], knee_angle(times), atol=1e-12)
    np.testing.assert_allclose(clip.transl[:, 1], (0.9 + 0.1 * times), atol=1e-12)  # Z-up height -> Y
    # A joint whose angle is not linear in time: slerp between neighbouring frames.
    source_angle = 0.2 * np.sin(3 * np.arange(121) / AMASS_FPS)
    expected = np.interp(times * AMASS_FPS, np.arange(121), source_angle)
    np.testing.assert_allclose(clip.pose[:, J["spine2"], 1], expected, atol=1e-12)
    upsampled = resample(clip, 50.0)
    assert upsampled.n_frames == 51
    np.testing.assert_allclose(upsampled.pose[::2, J["left_knee"], 0], clip.pose[:, J["left_knee"], 0], atol=1e-12)


def test_amass_conversion_is_a_rigid_rotation_of_the_posed_body(tmp_path, body):
    arrays = amass_arrays(frames=9)
    arrays["poses"][:, :3] = [[1.3, 0.4, -0.2]] * 9  # an arbitrary root orientation
    pelvis = body().rest_joints[0, 0]
    clip = load_amass(write_npz(tmp_path, "r.npz", arrays), target_fps=AMASS_FPS, pelvis_rest=pelvis)
    original = np.zeros((9, 24, 3))
    original[:, :22] = arrays["poses"][:, :66].reshape(9, 22, 3)
    z_up = body(pose=original, transl=arrays["trans"]).vertices
    y_up = body(pose=clip.pose, transl=clip.transl).vertices
    np.testing.assert_allclose(y_up, z_up @ C.T, atol=1e-7)


def test_amass_smpl_and_smplx_layouts(tmp_path):
    smpl = amass_arrays(layout=72)
    smpl["poses"][:, 66:] = 0.25  # SMPL's own hand joints are kept
    clip = load_amass(write_npz(tmp_path, "smpl.npz", smpl), target_fps=AMASS_FPS)
    np.testing.assert_allclose(clip.pose[:, 22:], 0.25)
    smplx = amass_arrays(layout=165, framerate_key="mocap_frame_rate")
    clip = load_amass(write_npz(tmp_path, "smplx.npz", smplx), target_fps=30)
    assert clip.n_frames == 31
    np.testing.assert_allclose(clip.pose[:, 22:], 0.0)


def _broken_cases(tmp_path):
    good = amass_arrays(frames=13)
    yield "missing.npz", None
    (tmp_path / "text.npz").write_text("not a zip")
    yield "text.npz", "text"
    np.save(tmp_path / "single.npy", good["poses"])
    yield "single.npy", "npy"
    for key in ("poses", "trans", "mocap_framerate"):
        yield f"no_{key}.npz", {k: v for k, v in good.items() if k != key}
    yield "fifty.npz", {**good, "poses": np.zeros((13, 50))}
    yield "nan_poses.npz", {**good, "poses": np.where(np.arange(156) == 7, np.nan, good["poses"])}
    yield "nan_trans.npz", {**good, "trans": np.full((13, 3), np.nan)}
    yield "zero_rate.npz", {**good, "mocap_framerate": np.array(0.0)}
    yield "negative_rate.npz", {**good, "mocap_framerate": np.array(-60.0)}
    yield "short_trans.npz", {**good, "trans": good["trans"][:12]}
    yield "pickled.npz", {**good, "poses": np.array([good["poses"]], dtype=object)}


def test_amass_bad_files_raise_motion_errors_naming_the_file(tmp_path):
    names = []
    for name, arrays in _broken_cases(tmp_path):
        if isinstance(arrays, dict):
            np.savez(tmp_path / name, **arrays)
        with pytest.raises(MotionError) as error:
            load_amass(tmp_path / name)
        assert name in str(error.value), str(error.value)
        names.append(name)
    assert len(names) == 13
    with pytest.raises(MotionError, match="'poses'.*50 values"):
        load_amass(tmp_path / "fifty.npz")
    with pytest.raises(MotionError, match="'mocap_framerate'"):
        load_amass(tmp_path / "no_mocap_framerate.npz")


# ----------------------------------------------------------------------------- AMASS windows in plans

def amass_file_of(tmp_path, name: str, frames_at_30fps: int):
    """An AMASS file whose knee angle grows with time: ``frames_at_30fps`` frames at 30 fps."""
    return write_npz(tmp_path, name, amass_arrays(frames=4 * (frames_at_30fps - 1) + 1))


def amass_options(path, n_frames: int):
    from synth_core.scene.plan import PlanOptions

    return PlanOptions(n_frames=n_frames, motion_source="amass", amass_files=(str(path),), texture_size=64)


def window_knee(plan) -> np.ndarray:
    """Left-knee angle over the padded frames (one before and one after the rendered ones)."""
    from synth_core.scene.clip import evaluate_clip

    return evaluate_clip(plan, with_vertices=False).pose[:, J["left_knee"], 0]


def test_sampled_amass_windows_have_a_real_motion_frame_before_and_after(tmp_path):
    """The padded frames are the file's own frames (the knee follows the file's time line), so
    the first frame's backward flow and the last frame's forward flow show real motion."""
    from synth_core.scene.clip import motion_edges
    from synth_core.scene.plan import sample_plan

    tight = amass_file_of(tmp_path, "tight.npz", 12)  # exactly 10 frames + one on each side
    loose = amass_file_of(tmp_path, "loose.npz", 40)
    for path, n_frames in ((tight, 10), (loose, 20)):
        starts = []
        for seed in range(12):
            plan = sample_plan(seed, amass_options(path, n_frames))
            start = plan.motion["start"]
            assert plan.motion["n_frames"] == n_frames and plan.motion["requested_frames"] == n_frames
            times = np.arange(start - 1, start + n_frames + 1) / 30.0
            np.testing.assert_allclose(window_knee(plan), knee_angle(times), atol=1e-12)
            assert motion_edges(plan) == {"first_backward_flow_real": True, "last_forward_flow_real": True}
            starts.append(start)
        print(f"{path.name}: starts {sorted(starts)}")
        assert min(starts) >= 1 and max(starts) + n_frames + 1 <= plan.motion["available_frames"]
    assert len(set(starts)) > 3  # the window still moves through a long file


def test_amass_file_shorter_than_the_clip_gives_a_shorter_clip(tmp_path):
    from synth_core.scene.clip import motion_edges
    from synth_core.scene.plan import sample_plan

    plan = sample_plan(3, amass_options(amass_file_of(tmp_path, "short.npz", 8), 20))
    motion = plan.motion
    assert (motion["n_frames"], motion["requested_frames"], motion["available_frames"], motion["start"]) == (6, 20, 8, 1)
    knee = window_knee(plan)
    assert len(knee) == 8 and np.all(np.diff(knee) > 0)  # every file frame once: no frozen last pose
    assert motion_edges(plan) == {"first_backward_flow_real": True, "last_forward_flow_real": True}


def test_amass_file_with_fewer_than_three_frames_is_refused(tmp_path):
    from synth_core.scene.plan import sample_plan

    path = amass_file_of(tmp_path, "two_frames.npz", 2)
    with pytest.raises(MotionError, match=r"two_frames\.npz.*2 frame\(s\).*at least 3"):
        sample_plan(0, amass_options(path, 5))


def test_hand_made_plan_at_the_file_start_reports_its_still_edge(tmp_path):
    """A plan written by hand may start at frame 0: the frame before repeats the first pose,
    and motion_edges (recorded in meta.json) says so."""
    from synth_core.scene.clip import motion_edges
    from synth_core.scene.plan import ScenePlan, sample_plan

    plan = sample_plan(0, amass_options(amass_file_of(tmp_path, "edge.npz", 12), 10))
    data = plan.to_dict()
    data["motion"] = {k: v for k, v in data["motion"].items() if k != "available_frames"} | {"start": 0}
    by_hand = ScenePlan.from_dict(data)
    knee = window_knee(by_hand)
    assert knee[0] == knee[1] and knee[-1] != knee[-2]
    assert motion_edges(by_hand) == {"first_backward_flow_real": False, "last_forward_flow_real": True}


@pytest.mark.slow  # renders a clip in Blender
def test_short_amass_clip_renders_shorter_with_real_edge_flow_and_says_so(tmp_path):
    import dataclasses

    from synth_cli.commands.render import run_worker
    from synth_core.dataset import read_clip
    from synth_core.scene.plan import sample_plan

    options = dataclasses.replace(amass_options(amass_file_of(tmp_path, "five.npz", 5), 10),
                                  width=64, height=48, samples=1, rgb_format="png")
    run_worker(sample_plan(2, options), tmp_path / "clip")
    clip = read_clip(tmp_path / "clip")
    motion = clip.meta["motion"]
    assert clip.n_frames == 3 and (motion["frames"], motion["requested_frames"]) == (3, 10)
    assert motion["first_backward_flow_real"] and motion["last_forward_flow_real"]
    first, last = clip.frame(0), clip.frame(2)
    body_first, body_last = first["segmentation"] > 0, last["segmentation"] > 0
    assert body_first.sum() > 20 and body_last.sum() > 20
    # The body walks (AMASS trans moves 0.94 m/s): the edge flows are not the zero of a repeated pose.
    backward = np.linalg.norm(first["flow_backward"][body_first], axis=1)
    forward = np.linalg.norm(last["flow_forward"][body_last], axis=1)
    print(f"median |flow| on the body: first frame backward {np.median(backward):.3f} px, "
          f"last frame forward {np.median(forward):.3f} px")
    assert np.median(backward) > 0.1 and np.median(forward) > 0.1

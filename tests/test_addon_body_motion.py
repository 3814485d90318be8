"""The add-on's Body and Motion panels (blender_addon/ui: properties, operators and panels body/motion)
and the synth_core parts they stand on (plan.body["model_path"], ["pose_correctives"],
placement["lift"], snap_to_ground, follow_body).

Blender runs in a fresh process per check (tests/blender_scripts/addon_body_motion.py) and saves
what its scene shows; the expectations here are computed independently: linear blend skinning
written anew with scipy's rotations from the model files' arrays, volumes and heights measured on
the mesh, the CLI's worker rendering the exported plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from synth_core.errors import PlanError
from synth_core.scene import camera as cam
from synth_core.scene.clip import PAD, motion_window
from synth_core.scene.plan import PlanOptions, ScenePlan, follow_body, sample_plan, snap_to_ground
from tests.conftest import run_blender_check

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BODY = ROOT / "synth_core" / "data" / "default_body.npz"
FLOAT32_M = 2e-6  # vertices in Blender are float32 world coordinates (~1e-7 relative, a few metres)


def run_check(check: str, *args) -> str:
    return run_blender_check("addon_body_motion", check, *args)


# ---------------------------------------------------------------- an independent body model

def model_arrays(path: Path) -> dict:
    with np.load(path) as data:
        return {key: data[key].astype(np.float64) for key in
                ("v_template", "shapedirs", "posedirs", "J_regressor", "weights")} | {
            "parents": data["kintree_table"][0].astype(int)}


def posed_vertices(arrays: dict, plan: ScenePlan, frame: int, correctives: bool = True) -> np.ndarray:
    """World vertices of clip frame ``frame`` of ``plan`` (SMPL's formulas, written anew): shape,
    pose correctives, forward kinematics with scipy's rotations, skinning, the plan's placement."""
    motion, _ = motion_window(plan)  # the motion source, not what is tested
    pose, transl = motion.pose[PAD + frame], motion.transl[PAD + frame]
    betas = np.asarray(plan.body["betas"])
    shaped = arrays["v_template"] + arrays["shapedirs"][:, :, :len(betas)] @ betas
    joints = arrays["J_regressor"] @ shaped
    local = Rotation.from_rotvec(np.array(pose)).as_matrix()
    if correctives:
        features = (local[1:] - np.eye(3)).ravel()
        shaped = shaped + arrays["posedirs"] @ features
    return skin(arrays, shaped, joints, local, transl, plan)


def skin(arrays, rest_points, joints, local, transl, plan, translate=True) -> np.ndarray:
    parents = arrays["parents"]
    rotations, positions = [local[0]], [joints[0]]
    for j in range(1, len(parents)):
        p = parents[j]
        rotations.append(rotations[p] @ local[j])
        positions.append(positions[p] + rotations[p] @ (joints[j] - joints[p]))
    rotations, positions = np.array(rotations), np.array(positions)
    offsets = positions - np.einsum("jab,jb->ja", rotations, joints) if translate else 0 * positions
    per_joint = np.einsum("jab,vb->vja", rotations, rest_points) + offsets[None]
    body = np.einsum("vj,vja->va", arrays["weights"], per_joint) + (transl if translate else 0)
    to_world = plan.body_to_world
    return body @ to_world[:3, :3].T + (to_world[:3, 3] if translate else 0)


def corrective_term(arrays: dict, plan: ScenePlan, frame: int) -> np.ndarray:
    """What the pose correctives add to each world vertex: the posedirs offsets, skinned (rotated only)."""
    motion, _ = motion_window(plan)
    local = Rotation.from_rotvec(np.array(motion.pose[PAD + frame])).as_matrix()
    offsets = arrays["posedirs"] @ (local[1:] - np.eye(3)).ravel()
    betas = np.asarray(plan.body["betas"])
    joints = arrays["J_regressor"] @ (arrays["v_template"] + arrays["shapedirs"][:, :, :len(betas)] @ betas)
    return skin(arrays, offsets, joints, local, None, plan, translate=False)


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a triangle mesh (divergence theorem; the body's openings are small)."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return abs(float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)


def smpl_file_with_correctives(path: Path, joints: int = 24) -> Path:
    """An SMPL-format model file: the default body's mesh with pose-corrective blend shapes (the
    default body has none) and no phenotype map; ``joints`` != 24 makes an SMPL-X-like one."""
    with np.load(DEFAULT_BODY) as data:
        arrays = {key: data[key] for key in ("v_template", "shapedirs", "J_regressor", "weights",
                                             "kintree_table", "f", "vt", "ft")}
    rng = np.random.default_rng(0)
    arrays["posedirs"] = rng.normal(0.0, 0.004, size=arrays["v_template"].shape + (207,)).astype(np.float32)
    arrays["shapedirs"] = arrays["shapedirs"][:, :, :10]
    if joints != 24:
        arrays["kintree_table"] = np.stack([np.r_[-1, np.zeros(joints - 1)], np.arange(joints)]).astype(np.int32)
    np.savez(path, **arrays)
    return path


def amass_file(path: Path, frames: int = 40, values: int = 156, keys=("poses", "trans", "mocap_framerate")) -> Path:
    rng = np.random.default_rng(1)
    poses = np.zeros((frames, values))
    poses[:, 0] = np.pi / 2  # upright in AMASS's Z-up world
    poses[:, 3:66] = 0.2 * np.sin(np.linspace(0, 3, frames))[:, None] * rng.normal(size=63)
    arrays = {"poses": poses, "trans": np.c_[np.linspace(0, 1, frames), np.zeros(frames), np.full(frames, 0.9)],
              "mocap_framerate": np.array(60.0), "betas": np.zeros(16)}
    np.savez(path, **({key: arrays[key] for key in keys} if keys else {"hello": np.zeros(3)}))
    return path


# ---------------------------------------------------------------- synth_core, no Blender

@pytest.fixture(scope="module")
def plan() -> ScenePlan:
    return sample_plan(7, PlanOptions(width=64, height=48, samples=1, n_frames=3))


def test_snap_to_ground_puts_the_lowest_vertex_at_z0_and_keeps_the_view(plan):
    from synth_core.scene.clip import evaluate_clip

    snapped = snap_to_ground(plan)
    before, after = evaluate_clip(plan), evaluate_clip(snapped)
    lowest = after.vertices_world[after.rendered, :, 2].min()
    assert abs(lowest) < 1e-9 and abs(before.vertices_world[before.rendered, :, 2].min()) > 0.3
    for t in range(PAD, PAD + 3):  # every vertex lands on the same pixel at the same depth
        uv0, z0 = cam.project(plan.intrinsics, plan.extrinsics, before.vertices_world[t])
        uv1, z1 = cam.project(snapped.intrinsics, snapped.extrinsics, after.vertices_world[t])
        assert np.allclose(uv0, uv1, atol=1e-9) and np.allclose(z0, z1, atol=1e-9)
    assert ScenePlan.from_json(snapped.to_json()) == snapped  # a plan field, kept through JSON


def test_follow_body_moves_the_camera_with_the_mean_pelvis(plan):
    from dataclasses import replace

    squat = replace(plan, motion={**plan.motion, "params": {**plan.motion["params"], "kind": "squat"}})
    followed = follow_body(plan, squat)
    arrays = model_arrays(DEFAULT_BODY)

    def mean_pelvis(p):  # the root joint: the shaped body's regressed pelvis plus transl, placed
        betas = np.asarray(p.body["betas"])
        pelvis = arrays["J_regressor"][0] @ (arrays["v_template"] + arrays["shapedirs"][:, :, :len(betas)] @ betas)
        motion, _ = motion_window(p)
        return cam.transform_points(p.body_to_world, pelvis + motion.transl[PAD:-PAD]).mean(axis=0)

    shift = mean_pelvis(squat) - mean_pelvis(plan)
    assert np.linalg.norm(shift) > 0.01
    for key in ("location", "target"):
        assert np.allclose(np.subtract(followed.camera[key], plan.camera[key]), shift, atol=1e-9)


def test_pose_correctives_off_removes_exactly_the_posedirs_term(plan, tmp_path):
    from dataclasses import replace

    from synth_core.scene.clip import evaluate_clip

    path = smpl_file_with_correctives(tmp_path / "smpl.npz")
    arrays = model_arrays(path)
    on = replace(plan, body={**plan.body, "source": "smpl", "model_path": str(path), "betas": [0.5] * 10})
    off = replace(on, body={**on.body, "pose_correctives": False})
    geometry_on, geometry_off = evaluate_clip(on), evaluate_clip(off)
    for frame in range(3):
        assert np.allclose(geometry_on.vertices_world[PAD + frame], posed_vertices(arrays, on, frame), atol=1e-9)
        difference = geometry_on.vertices_world[PAD + frame] - geometry_off.vertices_world[PAD + frame]
        assert np.allclose(difference, corrective_term(arrays, on, frame), atol=1e-9)
    assert np.abs(difference).max() > 1e-3


def test_plans_name_their_model_file_and_correctives_or_are_refused(plan):
    from dataclasses import replace

    from synth_core.scene.plan import validate_plan

    for body, words in (({"model_path": "x.npz"}, "source 'smpl'"),
                        ({"source": "smpl", "model_path": 3}, "model_path"),
                        ({"pose_correctives": "no"}, "pose_correctives")):
        with pytest.raises(PlanError, match=words):
            validate_plan(replace(plan, body={**plan.body, **body}))
    with pytest.raises(PlanError, match="non-finite"):
        validate_plan(replace(plan, placement={**plan.placement, "lift": float("nan")}))


# ---------------------------------------------------------------- the panels in Blender

@pytest.mark.slow  # builds scenes in Blender
def test_shape_sliders_phenotype_randomise_gender_and_scrubbing(tmp_path):
    """A beta slider moves the same Body object's vertices exactly to the edited plan's pose;
    phenotype height/weight give a taller/heavier body; randomise is seeded; the timeline poses the body."""
    run_check("shape", tmp_path)
    results, arrays = json.loads((tmp_path / "results.json").read_text()), np.load(tmp_path / "arrays.npz")
    model = model_arrays(DEFAULT_BODY)

    before, edited = results["plan_before_beta"], results["plan_beta"]
    expected_betas = list(before["body"]["betas"])
    expected_betas[3] = float(np.float32(1.7))
    assert edited["body"]["betas"] == expected_betas and results["same_object"]
    plan = ScenePlan.from_dict(edited)
    for name, frame in (("beta_frame0", 0), ("beta_frame2", 2), ("beta_frame_past_end", 2)):
        assert np.allclose(arrays[name], posed_vertices(model, plan, frame), atol=FLOAT32_M), name
    assert not np.allclose(arrays["beta_frame0"], arrays["beta_frame2"], atol=1e-3)  # it moves

    heights = {level: np.ptp(arrays[f"height_{level}"][:, 2]) for level in ("low", "high")}
    volumes = {level: mesh_volume(arrays[f"weight_{level}"], arrays["faces"]) for level in ("low", "high")}
    assert heights["high"] > heights["low"] + 0.1, heights
    assert volumes["high"] > 1.15 * volumes["low"], volumes
    for name in ("height_high", "weight_high"):  # each a standing body posed exactly as its plan says
        assert np.allclose(arrays[name], posed_vertices(model, ScenePlan.from_dict(results[f"plan_{name}"]), 0),
                           atol=FLOAT32_M)

    assert results["random_a"] == results["random_b"] != results["random_next"]
    assert results["random_a"]["body"]["betas"] != edited["body"]["betas"] and results["seed_after"] == 6
    female = results["female"]["body"]
    assert female["gender"] == "female" and female["betas"] != results["random_b"]["body"]["betas"]


@pytest.mark.slow  # builds scenes and renders a clip in Blender, and the CLI worker renders it again
def test_smpl_file_correctives_off_and_cli_render_equals_addon_render(tmp_path):
    from synth_cli.commands.render import run_worker
    from synth_core.dataset import read_clip

    model_file = smpl_file_with_correctives(tmp_path / "my_smpl.npz")
    smpl_file_with_correctives(tmp_path / "smplx_joints.npz", joints=55)
    run_check("smpl", tmp_path, model_file)
    results, arrays = json.loads((tmp_path / "results.json").read_text()), np.load(tmp_path / "arrays.npz")

    on, off = (ScenePlan.from_dict(results[name]) for name in ("plan_on", "plan_off"))
    assert on.body["model_path"] == str(model_file.resolve()) and on.body["source"] == "smpl"
    assert "pose_correctives" not in on.body and off.body["pose_correctives"] is False
    model = model_arrays(model_file)
    assert np.allclose(arrays["on"], posed_vertices(model, on, 0), atol=FLOAT32_M)
    assert np.allclose(arrays["off"], posed_vertices(model, off, 0, correctives=False), atol=FLOAT32_M)
    assert np.allclose(arrays["on"] - arrays["off"], corrective_term(model, on, 0), atol=FLOAT32_M)
    assert np.abs(corrective_term(model, on, 0)).max() > 1e-3

    default = results["plan_default"]["body"]
    assert default["source"] == "default" and "model_path" not in default and results["default_vertices"] == 13718

    exported = ScenePlan.from_json((tmp_path / "plan.json").read_text())
    assert exported.body == off.body
    run_worker(exported, tmp_path / "cli" / f"clip_{exported.seed:08d}")
    addon = read_clip(tmp_path / "addon" / f"clip_{exported.seed:08d}")
    cli = read_clip(tmp_path / "cli" / f"clip_{exported.seed:08d}")
    assert (addon.frame(0)["segmentation"] > 0).sum() > 50  # the body is in view
    for name in exported.render["passes"]:
        assert np.array_equal(addon.frame(0)[name], cli.frame(0)[name]), name
    for key, value in cli.annotations.items():
        assert np.array_equal(addon.annotations[key], value), key


@pytest.mark.slow  # builds scenes in Blender
def test_motion_settings_amass_files_and_randomise(tmp_path):
    amass = amass_file(tmp_path / "walk_poses.npz")
    (tmp_path / "motion.txt").write_text("not motion")
    (tmp_path / "motion.bvh").write_text("HIERARCHY")
    amass_file(tmp_path / "no_keys.npz", keys=())
    amass_file(tmp_path / "joints.npz", values=99)  # 33 joints: no SMPL layout
    from synth_core.body.catalog import load_body_model
    from synth_core.motion import procedural_motion, write_bvh

    bvh = write_bvh(tmp_path / "kick.bvh", procedural_motion("kick", 20, 30.0),
                    load_body_model("default")(betas=None).rest_joints[0])
    run_check("motion", tmp_path, amass, bvh)
    results = json.loads((tmp_path / "results.json").read_text())

    start, squat = (ScenePlan.from_dict(results[name]) for name in ("plan_start", "plan_squat"))
    assert squat.motion["params"] == {**start.motion["params"], "kind": "squat"}
    camera = np.array(results["camera_squat"])  # the Blender camera where the followed plan puts it
    assert np.allclose(camera[:3, 3], squat.camera["location"], atol=1e-5)
    assert squat.camera["location"] != start.camera["location"]

    plan = ScenePlan.from_dict(results["plan_amass"])
    assert plan.motion["source"] == "amass" and plan.motion["path"] == str(amass.resolve())
    assert (plan.motion["start"], plan.motion["n_frames"], plan.motion["available_frames"]) == (1, 3, 20)
    from synth_core.scene.clip import evaluate_clip

    geometry = evaluate_clip(plan)
    for frame, vertices in results["amass_frames"].items():
        assert np.allclose(vertices, geometry.vertices_world[PAD + int(frame)], atol=FLOAT32_M)

    from synth_core.motion import check_within_limits

    plan = ScenePlan.from_dict(results["plan_bvh"])
    assert plan.motion["source"] == "bvh" and (plan.motion["start"], plan.motion["available_frames"]) == (1, 20)
    geometry = evaluate_clip(plan)  # retargeted onto the plan's body (tests/test_bvh.py checks retargeting)
    for frame, vertices in results["bvh_frames"].items():
        assert np.allclose(vertices, geometry.vertices_world[PAD + int(frame)], atol=FLOAT32_M)
    prior, still = results["plan_prior"]["motion"], results["plan_still"]["motion"]
    assert prior["source"] == "prior" and len(prior["keys"]) >= 2 and check_within_limits(np.array(prior["keys"]))
    assert still["hold_s"] == 0.0 and len(still["keys"]) == 1
    assert results["prior_random_a"] == results["prior_random_b"] != results["plan_still"]

    assert results["plan_start4"]["motion"]["start"] == 4
    assert "outside 1..16" in results["start_error"] and results["start_after_error"] == 4
    assert results["plan_after_error"] == results["plan_start4"]
    assert results["amass_random_a"] == results["amass_random_b"]
    procedural = results["plan_procedural"]["motion"]
    assert procedural["source"] == "procedural" and procedural["params"]["kind"] == "squat"
    assert results["procedural_random_a"] == results["procedural_random_b"] != results["plan_procedural"]


@pytest.mark.slow  # builds a scene and renders two clips in Blender
def test_snap_to_ground_in_blender_keeps_the_images(tmp_path):
    from synth_core.dataset import read_clip

    run_check("snap_render", tmp_path)
    results, arrays = json.loads((tmp_path / "results.json").read_text()), np.load(tmp_path / "arrays.npz")
    lowest = min(arrays[f"after_world_{frame}"][:, 2].min() for frame in (0, 1))
    assert abs(lowest) < FLOAT32_M and min(arrays[f"before_world_{f}"][:, 2].min() for f in (0, 1)) < -0.3
    for frame in (0, 1):
        assert np.allclose(arrays[f"before_camera_{frame}"], arrays[f"after_camera_{frame}"], atol=1e-5)
    seed = results["before"]["seed"]
    before, after = (read_clip(tmp_path / stage / f"clip_{seed:08d}") for stage in ("before", "after"))
    for frame in (0, 1):
        a, b = before.frame(frame), after.frame(frame)
        assert (a["segmentation"] > 0).sum() > 50
        # Measured identical; float32 vertex coordinates could move an edge pixel elsewhere.
        assert (a["segmentation"] != b["segmentation"]).sum() <= 2
        assert np.abs(a["rgb"].astype(int) - b["rgb"].astype(int)).mean() < 0.05
    joints_before, joints_after = before.annotations["joints3d_world"], after.annotations["joints3d_world"]
    assert np.allclose(joints_after - joints_before, [0, 0, results["after"]["placement"]["lift"]], atol=1e-9)
    assert np.allclose(before.annotations["joints2d"], after.annotations["joints2d"], atol=1e-6)

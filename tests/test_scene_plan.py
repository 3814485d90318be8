"""Scene plans: seeded, JSON round-trip, SURREAL's distributions, camera conventions, bad input."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from synth_core.errors import PlanError
from synth_core.scene import camera as cam
from synth_core.scene.lighting import irradiance, sample_sh
from synth_core.scene.plan import PlanOptions, ScenePlan, component_rng, sample_plan

SHORT = PlanOptions(n_frames=4, texture_size=64)


def test_same_seed_same_plan_and_json_round_trip():
    plan = sample_plan(7, SHORT)
    assert plan.to_json() == sample_plan(7, SHORT).to_json()
    assert ScenePlan.from_json(plan.to_json()) == plan
    other = sample_plan(8, SHORT)
    for part in ("body", "motion", "placement", "camera", "lighting", "texture", "background"):
        assert getattr(plan, part) != getattr(other, part), part


def test_components_draw_from_independent_streams():
    # Changing how long the clip is must not change its lighting, texture, body or yaw.
    longer = sample_plan(7, dataclasses.replace(SHORT, n_frames=9))
    plan = sample_plan(7, SHORT)
    for part in ("lighting", "texture", "body", "placement", "background"):
        assert getattr(plan, part) == getattr(longer, part), part


def test_surreal_defaults():
    plan = sample_plan(3, SHORT)
    k = plan.intrinsics
    assert (plan.render["width"], plan.render["height"]) == (320, 240)
    assert k[0, 0] == pytest.approx(600.0) and k[1, 1] == pytest.approx(600.0)
    assert k[0, 2] == pytest.approx(159.5) and k[1, 2] == pytest.approx(119.5)
    # The camera looks at the clip's pelvis: its target projects to the principal point.
    uv, z = cam.project(k, plan.extrinsics, np.array(plan.camera["target"]))
    assert np.allclose(uv, k[:2, 2]) and z == pytest.approx(plan.camera["distance"])


def test_labelled_gender_matches_the_body_shape():
    """Measured on each sampled mesh, not through the phenotype table the sampler uses: anny's
    women have wider hips for their shoulders than its men (hip-band width over the distance
    between the shoulder joints: 1.05-1.21 for women, 0.92-1.07 for men over 60 seeds) and, at
    the same height parameter, are shorter."""
    from synth_core.body.catalog import load_body_model
    from synth_core.body.parts import JOINT_NAMES

    joint = {name: index for index, name in enumerate(JOINT_NAMES)}
    model = load_body_model("default")
    measured = {"female": [], "male": []}
    for seed in range(60):
        body = sample_plan(seed, dataclasses.replace(SHORT, n_frames=1)).body
        rest = model(betas=body["betas"])
        vertices, joints = rest.shaped_vertices[0], rest.rest_joints[0]
        hip_height = joints[joint["left_hip"], 1]
        hips = vertices[(vertices[:, 1] > hip_height - 0.12) & (vertices[:, 1] < hip_height + 0.02)]
        shoulders = np.linalg.norm(joints[joint["left_shoulder"]] - joints[joint["right_shoulder"]])
        measured[body["gender"]].append((np.ptp(hips[:, 0]) / shoulders, np.ptp(vertices[:, 1])))
    female, male = np.array(measured["female"]), np.array(measured["male"])
    print(f"hip/shoulder: female {female[:, 0].mean():.3f}, male {male[:, 0].mean():.3f}; "
          f"height: female {female[:, 1].mean():.3f} m, male {male[:, 1].mean():.3f} m")
    assert len(female) >= 20 and len(male) >= 20
    assert female[:, 0].mean() > male[:, 0].mean() + 0.08
    assert male[:, 1].mean() > female[:, 1].mean() + 0.05


def test_sh_and_camera_distance_follow_surreal_distributions():
    sh = np.array([sample_sh(component_rng(s, "lighting")) for s in range(2000)])
    assert sh[:, 0].min() >= 0.5 and sh[:, 0].max() <= 1.4
    assert sh[:, 1].min() >= -0.7 and sh[:, 1].max() <= 0.0
    assert np.abs(sh[:, 2:]).max() <= 0.7 and sh[:, 2:].std() == pytest.approx(0.7 / np.sqrt(3), rel=0.05)
    cameras = [sample_plan(s, dataclasses.replace(SHORT, n_frames=1)).camera for s in range(60)]
    distances = [camera["sampled_distance"] for camera in cameras]
    assert all(camera["distance"] >= camera["sampled_distance"] for camera in cameras)  # the minimum
    assert np.mean(distances) == pytest.approx(8.0, abs=0.4)
    assert np.std(distances) == pytest.approx(1.0, abs=0.35)


def test_irradiance_is_the_ramamoorthi_hanrahan_polynomial():
    # Constant lighting (only L00) gives E = c4 L00 in every direction; a linear term adds 2 c2 L1 n.
    normals = np.random.default_rng(0).normal(size=(100, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    assert np.allclose(irradiance([1, 0, 0, 0, 0, 0, 0, 0, 0], normals), 0.886227)
    assert np.allclose(irradiance([0, 0, 1, 0, 0, 0, 0, 0, 0], normals), 2 * 0.511664 * normals[:, 2])


def test_look_at_and_blender_camera_agree():
    rt = cam.look_at([1.0, -5.0, 1.2], [0.3, 0.2, 1.0])
    r = rt[:, :3]
    assert np.allclose(r @ r.T, np.eye(3)) and np.linalg.det(r) == pytest.approx(1.0)
    assert np.allclose(cam.camera_location(rt), [1.0, -5.0, 1.2])
    # World up appears up in the image (smaller row), and Blender's camera looks down its -Z.
    k = cam.intrinsics(60, 32, 320, 240)
    (_, v_low), _ = cam.project(k, rt, np.array([0.3, 0.2, 0.5]))
    (_, v_high), _ = cam.project(k, rt, np.array([0.3, 0.2, 1.5]))
    assert v_high < v_low
    blender = cam.blender_camera_matrix(rt)
    forward = -blender[:3, 2]
    assert np.allclose(forward, r[2]) and np.allclose(blender[:3, 1], -r[1])


def test_body_faces_the_camera_at_zero_yaw():
    to_world = cam.body_to_world(0.0)
    assert np.allclose(to_world[:3, :3] @ [0, 1, 0], [0, 0, 1])   # model up -> world up
    assert np.allclose(to_world[:3, :3] @ [0, 0, 1], [0, -1, 0])  # model front -> world -Y (camera side)


@pytest.mark.parametrize("change, message", [
    ({"passes": ("rgb", "albedo")}, "albedo"),
    ({"width": 8}, "width"),
    ({"height": 100000}, "height"),
    ({"samples": 0}, "samples"),
    ({"shading": "eevee"}, "shading"),
    ({"engine": "workbench"}, "engine"),
    ({"engine": "eevee"}, "OSL"),  # the default shading is OSL, which Eevee cannot run
    ({"n_frames": 0}, "n_frames"),
    ({"texture_size": 8}, "texture_size"),
    ({"texture_size": 512.0}, "texture_size"),
    ({"motion_source": "amass"}, "AMASS"),
    ({"body_source": "scan"}, "body source"),
])
def test_bad_options_are_refused(change, message):
    with pytest.raises(PlanError, match=message):
        PlanOptions(**change)


def test_bad_plans_are_refused():
    data = sample_plan(1, SHORT).to_dict()
    with pytest.raises(PlanError, match="version"):
        ScenePlan.from_dict({**data, "version": 99})
    with pytest.raises(PlanError, match="lacks"):
        ScenePlan.from_dict({k: v for k, v in data.items() if k != "camera"})
    with pytest.raises(PlanError, match="9 spherical"):
        ScenePlan.from_dict({**data, "lighting": {"sh": [1.0, 0.0]}})
    with pytest.raises(PlanError, match="JSON"):
        ScenePlan.from_json("{not json")
    with pytest.raises(PlanError, match="non-finite"):
        ScenePlan.from_json(json.dumps({**data, "placement": {"yaw": float("nan")}}))
    with pytest.raises(PlanError, match="seed"):
        sample_plan(-1, SHORT)


def test_amass_motion_is_windowed_into_the_plan(tmp_path):
    from synth_core.scene.clip import evaluate_clip

    frames = 240  # 2 s at 120 fps -> 60 frames at 30 fps
    poses = np.zeros((frames, 156))
    poses[:, 0] = np.pi / 2  # AMASS bodies stand up along +Z
    poses[:, 4 * 3] = np.linspace(0.0, 1.0, frames)  # left knee bends over time
    path = tmp_path / "clip_poses.npz"
    np.savez(path, poses=poses, trans=np.zeros((frames, 3)), mocap_framerate=120.0)
    options = PlanOptions(n_frames=20, motion_source="amass", amass_files=(str(path),), texture_size=64)
    plan = sample_plan(4, options)
    assert plan.motion["source"] == "amass" and 0 <= plan.motion["start"] <= 40
    geometry = evaluate_clip(plan)
    rendered = geometry.pose[geometry.rendered]
    assert rendered.shape == (20, 24, 3)
    knee = rendered[:, 4, 0]
    assert np.all(np.diff(knee) > 0)  # the window follows the file's time line
    head, pelvis = geometry.joints_world[:, 15], geometry.joints_world[:, 0]
    assert np.all(head[:, 2] > pelvis[:, 2] + 0.3)  # upright in the Z-up world


def test_joints_only_geometry_is_the_body_models_own():
    """Plans pose only the joints (no skinning); they must equal the full model's forward pass."""
    from synth_core.scene.clip import evaluate_clip

    plan = sample_plan(5, dataclasses.replace(SHORT, n_frames=12))
    full, joints_only = evaluate_clip(plan), evaluate_clip(plan, with_vertices=False)
    assert joints_only.vertices_world is None
    np.testing.assert_allclose(joints_only.joints_world, full.joints_world, atol=1e-12)
    np.testing.assert_allclose(joints_only.skinning_transforms, full.skinning_transforms, atol=1e-12)
    np.testing.assert_allclose(joints_only.shaped_vertices, full.shaped_vertices, atol=1e-12)


def test_plans_read_an_amass_file_once_per_process_until_it_changes(tmp_path, monkeypatch):
    import synth_core.motion as motion

    frames = 240
    path = tmp_path / "walk_poses.npz"
    np.savez(path, poses=np.zeros((frames, 156)), trans=np.zeros((frames, 3)), mocap_framerate=120.0)
    loads = []
    real = motion.load_amass

    def counting_load(*args, **kwargs):
        if "pelvis_rest" not in kwargs:  # a load to learn the file's length (posing loads it anew)
            loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(motion, "load_amass", counting_load)
    options = PlanOptions(n_frames=10, motion_source="amass", amass_files=(str(path),), texture_size=64)
    first = [sample_plan(seed, options).motion["start"] for seed in range(3)]
    assert len(loads) == 1
    os.utime(path, ns=(1, 1))  # a changed file is read again
    assert [sample_plan(seed, options).motion["start"] for seed in range(3)] == first
    assert len(loads) == 2

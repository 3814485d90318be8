"""A moving camera (`--camera moving`): its motion, the plans that use it and its background plates.

The rendered clip's labels under a moving camera (body and background flow, warping over the
whole image) are checked in test_render_ground_truth.py ("cycles-moving").
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from synth_core.backgrounds import MovingPlates, load_background, views_inside_source
from synth_core.dataset.format import frame_cameras, validate_annotations
from synth_core.errors import DatasetFormatError, PlanError
from synth_core.scene import camera as cam
from synth_core.scene.clip import evaluate_clip
from synth_core.scene.plan import PlanOptions, sample_plan

STILL = {"pan_deg_s": 0.0, "tilt_deg_s": 0.0, "zoom_per_s": 0.0, "dolly_m_s": 0.0}
OPTIONS = PlanOptions(camera="moving", n_frames=20, width=160, height=120)


def _turned_about_z(vector, angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1], vector[2]])


def test_pan_and_tilt_equal_a_camera_looking_at_a_turned_target():
    """Pan: the same centre looking at the target turned about the vertical through it (left
    for positive rates, seen from above). Tilt: looking at a point raised along the image's up."""
    location, target = np.array([1.0, -6.0, 1.2]), np.array([0.5, 0.3, 0.9])
    rt = cam.look_at(location, target)
    panned, lens = cam.moved_camera(rt, 50.0, {**STILL, "pan_deg_s": 12.0}, 1.5)
    expected = cam.look_at(location, location + _turned_about_z(target - location, np.radians(18.0)))
    assert np.abs(panned - expected).max() < 1e-12 and lens == 50.0
    forward = (target - location) / np.linalg.norm(target - location)
    assert np.cross(forward, panned[2, :3])[2] > 0  # turned counter-clockwise seen from above: left

    tilted, _ = cam.moved_camera(rt, 50.0, {**STILL, "tilt_deg_s": 4.0}, 2.0)
    up = -rt[1, :3]  # the image's up in the world
    angle = np.radians(8.0)
    expected = cam.look_at(location, location + np.cos(angle) * forward + np.sin(angle) * up)
    assert np.abs(tilted - expected).max() < 1e-12


def test_zoom_and_dolly_change_the_focal_length_and_the_centre_only():
    rt = cam.look_at([0.0, -5.0, 1.0], [0.0, 0.0, 1.0])
    moved, lens = cam.moved_camera(rt, 40.0, {**STILL, "zoom_per_s": 0.2, "dolly_m_s": 0.5}, 3.0)
    assert lens == pytest.approx(40.0 * np.exp(0.6))
    assert np.allclose(moved[:, :3], rt[:, :3])
    assert np.allclose(cam.camera_location(moved), [0.0, -3.5, 1.0])  # 1.5 m along the view


def test_the_infinite_homography_moves_directions_as_the_cameras_see_them():
    """Pixel p of camera 0 and the pixel of camera 1 seeing the same direction, found by
    projecting a point 1e7 m away along p's ray."""
    k0, k1 = cam.intrinsics(35.0, 32.0, 160, 120), cam.intrinsics(45.0, 32.0, 160, 120)
    rt0 = cam.look_at([0.0, -5.0, 1.0], [0.3, 0.0, 1.1])
    rt1 = cam.look_at([0.4, -4.0, 1.3], [0.0, 0.0, 1.5], roll=0.1)
    flow = cam.homography_flow(cam.infinite_homography(k0, rt0, k1, rt1), 120, 160)
    rows, cols = np.mgrid[0:120:17, 0:160:23]
    rays = np.stack([cols, rows, np.ones_like(cols)], -1).reshape(-1, 3).astype(float) @ np.linalg.inv(k0).T
    far = cam.camera_location(rt0) + 1e7 * (rays @ rt0[:, :3]) / np.linalg.norm(rays, axis=1, keepdims=True)
    seen, _ = cam.project(k1, rt1, far)
    moved = np.stack([cols, rows], -1).reshape(-1, 2) + flow[rows.ravel(), cols.ravel()]
    assert np.abs(moved - seen).max() < 1e-3


@pytest.fixture(scope="module")
def moving_plans():
    return [sample_plan(seed, OPTIONS) for seed in range(12)]


def test_a_moving_camera_keeps_every_vertex_of_the_body_in_every_frame(moving_plans):
    moved = 0
    for plan in moving_plans:
        geometry = evaluate_clip(plan)
        ks, rts = plan.cameras()
        for frame in range(geometry.rendered.start, geometry.rendered.stop):
            uv, z = cam.project(ks[frame], rts[frame], geometry.vertices_world[frame])
            assert np.all(z > 0)
            assert uv.min() >= 0 and uv[:, 0].max() <= 159 and uv[:, 1].max() <= 119, plan.seed
        moved += any(plan.camera["motion"].values())
    assert moved >= 10  # most cameras move (a rate is halved only as far as the body needs)
    # the camera at the clip's middle frame (an odd count has one) is the plan's own camera
    odd = sample_plan(0, dataclasses.replace(OPTIONS, n_frames=21))
    ks, rts = odd.cameras()
    assert any(odd.camera["motion"].values())
    assert np.abs(rts[len(rts) // 2] - odd.extrinsics).max() < 1e-12 and np.allclose(ks[len(ks) // 2], odd.intrinsics)
    assert np.abs(rts[0] - odd.extrinsics).max() > 1e-6


def test_static_plans_keep_one_camera_and_sample_as_before(moving_plans):
    static = sample_plan(3, dataclasses.replace(OPTIONS, camera="static"))
    ks, rts = static.cameras()
    assert ks.shape == (22, 3, 3) and np.all(ks == static.intrinsics) and np.all(rts == static.extrinsics)
    assert "motion" not in static.camera and not static.moving_camera
    # the motion has its own random stream: everything else of the plan is the static one's
    moving = moving_plans[3]
    assert moving.body == static.body and moving.motion == static.motion and moving.background == static.background
    with pytest.raises(PlanError, match="composite"):
        PlanOptions(camera="moving", scene="grounded")
    bad = {**moving.to_dict(), "camera": {**moving.camera, "motion": {"pan_deg_s": float("nan")}}}
    with pytest.raises(PlanError, match="camera.motion"):
        type(moving).from_dict(bad)


def _plan_with_background(background: str, motion: dict):
    plan = sample_plan(1, dataclasses.replace(OPTIONS, background_kinds=(background,), camera="static"))
    return dataclasses.replace(plan, camera={**plan.camera, "motion": motion})


@pytest.mark.parametrize("flip", [False, True])
def test_a_panorama_plate_at_the_reference_camera_is_the_static_plate(flip):
    """The plate is looked up through the camera's rays instead of the static view's angles: at
    the reference camera, with the static view's field of view set to the camera's, the two agree."""
    plan = _plan_with_background("hdri", STILL)
    fov = np.degrees(2 * np.arctan(plan.camera["sensor_width_mm"] / 2 / plan.camera["lens_mm"]))
    spec = {**plan.background, "flip": flip, "crop": {**plan.background["crop"], "fov_deg": float(fov)}}
    plates = MovingPlates(spec, plan.intrinsics, plan.extrinsics, 120, 160)
    assert np.abs(plates.view(plan.intrinsics, plan.extrinsics) - load_background(spec, 120, 160)).max() < 1e-5


def test_a_photo_plate_at_the_reference_camera_is_close_to_the_static_plate():
    plan = _plan_with_background("photo", STILL)
    plates = MovingPlates(plan.background, plan.intrinsics, plan.extrinsics, 120, 160)
    difference = np.abs(plates.view(plan.intrinsics, plan.extrinsics) - load_background(plan.background, 120, 160))
    assert difference.mean() < 0.01  # bilinear after a box filter vs Pillow's antialiasing filter


@pytest.mark.parametrize("background", ["hdri", "photo"])
def test_the_plate_of_the_next_frame_warped_by_the_homography_flow_is_this_frame(background):
    """The plates are looked up per frame (rays into the panorama, or the photo where the
    reference plate would show them); the flow is the homography between the cameras. Sampling
    the next plate at p + flow(p) gives this plate back."""
    plan = _plan_with_background(background, {"pan_deg_s": 30.0, "tilt_deg_s": -12.0, "zoom_per_s": 0.5,
                                              "dolly_m_s": 0.0})
    ks, rts = plan.cameras()
    plates = MovingPlates(plan.background, plan.intrinsics, plan.extrinsics, 120, 160)
    t = 5
    this, following = plates.view(ks[t], rts[t]), plates.view(ks[t + 1], rts[t + 1])
    flow = cam.homography_flow(cam.infinite_homography(ks[t], rts[t], ks[t + 1], rts[t + 1]), 120, 160)
    grid = np.indices((120, 160))[::-1].transpose(1, 2, 0).astype(np.float32)
    warped = cv2.remap(following, *(grid + flow).transpose(2, 0, 1), cv2.INTER_LINEAR)
    inner = (slice(8, -8), slice(8, -8))
    error = np.abs(warped - this)[inner].mean()
    unwarped = np.abs(following - this)[inner].mean()
    print(f"{background}: warped {error:.4f} vs unwarped {unwarped:.4f}; flow {np.abs(flow).mean():.2f} px")
    assert np.abs(flow).mean() > 1.0 and error < 0.25 * unwarped


def test_a_photo_too_small_for_the_motion_is_found():
    plan = _plan_with_background("photo", {**STILL, "pan_deg_s": 400.0})
    ks, rts = plan.cameras()
    r = plan.render
    assert not views_inside_source(plan.background, ks, rts, plan.intrinsics, plan.extrinsics, r["height"], r["width"])
    still = _plan_with_background("photo", STILL)
    ks, rts = still.cameras()
    assert views_inside_source(still.background, ks, rts, still.intrinsics, still.extrinsics, r["height"], r["width"])


def test_annotations_take_one_camera_per_frame_or_one_per_clip():
    n = 4
    base = {"joints2d": np.zeros((n, 24, 2)), "joints3d_world": np.zeros((n, 24, 3)),
            "joints3d_camera": np.zeros((n, 24, 3)), "joints_visible": np.ones((n, 24), bool),
            "pose": np.zeros((n, 24, 3)), "transl": np.zeros((n, 3)), "betas": np.zeros(10),
            "body_to_world": np.eye(4), "sh": np.zeros(9), "yaw": 0.0, "frame_indices": np.arange(n)}
    k, rt = cam.intrinsics(60, 32, 160, 120), cam.look_at([0, -5, 1], [0, 0, 1])
    one = validate_annotations({**base, "camera_K": k, "camera_Rt": rt}, n, "clip")
    ks, rts = frame_cameras(one)
    assert ks.shape == (n, 3, 3) and np.all(rts == rt)
    per_frame = validate_annotations({**base, "camera_K": np.repeat(k[None], n, 0),
                                      "camera_Rt": np.repeat(rt[None], n, 0)}, n, "clip")
    assert frame_cameras(per_frame)[1].shape == (n, 3, 4)
    with pytest.raises(DatasetFormatError, match=r"camera_Rt' must be \[T x\]3x4"):
        validate_annotations({**base, "camera_K": k, "camera_Rt": np.repeat(rt[None], n + 1, 0)}, n, "clip")

"""The add-on's Look (texture, background) and Camera panels, and the camera's in-plane roll.

Blender checks run in a fresh process (tests/blender_scripts/addon_look_camera.py): every
operator of the two panels on the default scene against independent computations, bad files
refused by name; then the scene it leaves (a texture file, a pool HDRI, a rolled camera) is
rendered by the CLI's worker from the exported plan and compared bit for bit, its ground truth
checked independently, and the viewport's background compared with the render's."""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from synth_core.errors import PlanError
from synth_core.scene import camera as cam
from synth_core.scene.plan import PASSES, PlanOptions, ScenePlan, sample_plan, surreal_camera
from tests.conftest import run_blender_check

TINY = PlanOptions(width=64, height=48, samples=1, n_frames=2)


def unrolled_look_at(location, target) -> np.ndarray:
    """look_at as it was before roll (world up +Z, OpenCV axes), written out again."""
    location, target = np.asarray(location, dtype=np.float64), np.asarray(target, dtype=np.float64)
    forward = (target - location) / np.linalg.norm(target - location)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    rotation = np.stack([right, np.cross(forward, right), forward])
    return np.concatenate([rotation, (-rotation @ location)[:, None]], axis=1)


def test_roll_zero_or_absent_keeps_every_plan_bit_identical():
    for seed in (0, 1, 2):
        plan = sample_plan(seed, TINY)
        expected = unrolled_look_at(plan.camera["location"], plan.camera["target"])
        assert "roll" not in plan.camera
        assert np.array_equal(plan.extrinsics, expected)
        zero = replace(plan, camera={**plan.camera, "roll": 0.0})
        assert np.array_equal(zero.extrinsics, expected)


def test_roll_turns_the_image_about_the_principal_point():
    """Rolled by r, every projected point is the unrolled one turned by -r in image axes (x
    right, y down): counter-clockwise as seen; depth and the camera centre stay."""
    plan = sample_plan(3, TINY)
    points = np.random.default_rng(0).normal(plan.camera["target"], 0.5, (50, 3))
    k = plan.intrinsics
    uv0, z0 = cam.project(k, plan.extrinsics, points)
    for roll in (0.3, -1.2, math.pi):
        rolled = replace(plan, camera={**plan.camera, "roll": roll})
        uv, z = cam.project(k, rolled.extrinsics, points)
        c, s = math.cos(roll), math.sin(roll)
        centred = uv0 - k[:2, 2]
        expected = np.stack([c * centred[:, 0] + s * centred[:, 1], -s * centred[:, 0] + c * centred[:, 1]], 1)
        assert np.allclose(uv - k[:2, 2], expected, atol=1e-9)
        assert np.allclose(z, z0, atol=1e-12)
        assert np.allclose(cam.camera_location(rolled.extrinsics), plan.camera["location"], atol=1e-12)
    # A point above the target appears up (v smaller) unrolled; rolled +90 deg, to the left.
    above = np.asarray(plan.camera["target"]) + [0.0, 0.0, 1.0]
    rolled = replace(plan, camera={**plan.camera, "roll": math.pi / 2})
    (_, v0), (u1, v1) = cam.project(k, plan.extrinsics, above)[0], cam.project(k, rolled.extrinsics, above)[0]
    assert v0 < k[1, 2] and u1 < k[0, 2] and abs(v1 - k[1, 2]) < 1e-6


def test_bad_camera_values_are_refused_by_name():
    plan = sample_plan(0, TINY)
    for camera, message in (({**plan.camera, "roll": float("nan")}, "non-finite"),
                            ({**plan.camera, "location": plan.camera["target"]}, "must differ")):
        with pytest.raises(PlanError, match=message):
            ScenePlan.from_dict({**plan.to_dict(), "camera": camera})


def test_surreal_camera_is_sample_plans_for_the_same_seed_and_options():
    options = replace(TINY, keep_body_in_view=True)
    for seed in (4, 5):
        plan = sample_plan(seed, options)
        moved = replace(plan, camera={**plan.camera, "location": [9.0, 9.0, 9.0], "roll": 0.3})
        assert surreal_camera(moved, options) == plan.camera


def as_jpeg(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` as the dataset format stores it (JPEG quality 95, 4:4:4), decoded."""
    from PIL import Image

    from synth_core.dataset import format as fmt

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=fmt.JPEG_QUALITY, subsampling=0)
    return np.asarray(Image.open(buffer).convert("RGB"))


def run_check(check: str, *args) -> str:
    return run_blender_check("addon_look_camera", check, *args)


def independent_camera(plan: ScenePlan) -> tuple[np.ndarray, np.ndarray]:
    """K and R|t (OpenCV) from the plan's lens and its camera's angles and roll, composed of
    rotations: the camera looks along +Y, pitched down by the elevation, turned by the yaw about
    world Z, rolled about its viewing axis."""
    c, r = plan.camera, plan.render
    offset = np.subtract(c["location"], c["target"])
    distance = np.linalg.norm(offset)
    yaw, elevation = math.atan2(offset[0], -offset[1]), math.asin(offset[2] / distance)
    focal = c["lens_mm"] / c["sensor_width_mm"] * r["width"]
    k = np.array([[focal, 0, (r["width"] - 1) / 2], [0, focal, (r["height"] - 1) / 2], [0, 0, 1]])

    def rz(a):
        return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])

    def rx(a):
        return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])

    # Camera axes (columns, world): OpenCV x right, y down, z forward; unturned: looking along
    # +Y with z up, so right = +X, down = -Z, forward = +Y.
    axes = rz(yaw) @ rx(-elevation) @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]) @ rz(c.get("roll", 0.0))
    rotation = axes.T
    return k, np.concatenate([rotation, (-rotation @ np.asarray(c["location"]))[:, None]], axis=1)


@pytest.mark.slow  # builds a scene in Blender, renders a 1-frame clip in the add-on and with the CLI's worker
def test_look_and_camera_operators_and_the_rolled_textured_clip_equals_the_cli_render(tmp_path):
    from synth_cli.commands.render import run_worker
    from synth_core.dataset import format as fmt, read_clip

    run_check("operators", tmp_path)
    plan = ScenePlan.from_json((tmp_path / "plan.json").read_text())
    assert math.isclose(plan.camera["roll"], 0.45, abs_tol=1e-6)
    assert plan.texture["kind"] == "file" and plan.background["id"].startswith("hdri/")
    run_worker(plan, tmp_path / "cli" / f"clip_{plan.seed:08d}")
    addon = read_clip(tmp_path / "addon" / f"clip_{plan.seed:08d}")
    cli = read_clip(tmp_path / "cli" / f"clip_{plan.seed:08d}")
    frame_addon, frame_cli = addon.frame(0), cli.frame(0)
    for name in PASSES:  # the viewport's background preview changed no rendered pixel
        assert np.array_equal(frame_addon[name], frame_cli[name]), name
    for key, value in cli.annotations.items():
        assert np.array_equal(addon.annotations[key], value), key
    assert addon.meta["plan"] == cli.meta["plan"] == plan.to_dict()
    # The frame rendered in the artist's scene itself, its viewport background on.
    frame = dict(np.load(tmp_path / "frame.npz"))
    for name in PASSES:  # as the clip stores them: RGB as its JPEG, labels quantised by the format
        stored = as_jpeg(frame[name]) if name == "rgb" else \
            fmt.decode_label(name, fmt.encode_label(name, 1, frame[name], 48, 64))
        assert np.array_equal(stored, frame_cli[name]), name

    # Ground truth of the rolled camera, independently: K and R|t from the angles, the joints
    # projected with them, the body's labels under the visible joints.
    annotations = cli.annotations
    k, rt = independent_camera(plan)
    assert np.allclose(annotations["camera_K"], k, atol=1e-9)
    assert np.allclose(annotations["camera_Rt"], rt, atol=1e-9)
    joints = annotations["joints3d_world"][0]
    camera_points = joints @ rt[:, :3].T + rt[:, 3]
    uv = camera_points[:, :2] / camera_points[:, 2:] * [k[0, 0], k[1, 1]] + k[:2, 2]
    assert np.allclose(annotations["joints2d"][0], uv, atol=1e-6)
    segmentation = frame_cli["segmentation"]
    visible = annotations["joints_visible"][0]
    pixels = np.rint(uv[visible]).astype(int)
    assert visible.sum() >= 12, "the rolled camera lost the body"
    on_body = segmentation[pixels[:, 1], pixels[:, 0]] > 0
    assert on_body.mean() >= 0.9, on_body

    # The viewport's background is the render's wherever the body (and its antialiased edge) is
    # not, up to the RGB pass' JPEG coding (measured: mean 1.8, 99th percentile 7 levels).
    preview = np.load(tmp_path / "preview.npy")
    body = segmentation > 0
    near_body = body.copy()
    for shift in ((0, 2), (0, -2), (2, 0), (-2, 0), (2, 2), (-2, -2), (2, -2), (-2, 2)):
        near_body |= np.roll(body, shift, axis=(0, 1))
    assert preview.shape == frame_cli["rgb"].shape
    assert (~near_body).sum() > 1000
    difference = np.abs(preview[~near_body].astype(int) - frame_cli["rgb"][~near_body])
    assert difference.mean() < 3.0 and np.percentile(difference, 99) < 12, difference.mean()
    assert json.loads((tmp_path / "plan.json").read_text())["camera"]["roll"] == plan.camera["roll"]

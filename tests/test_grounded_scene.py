"""Grounded scenes (``--scene grounded``): feet on a shadow-catcher ground plane lit from the SH.

One seed is rendered twice by the real worker, as a composite (SURREAL's) and as a grounded
scene. The checks compare the two and measure against computations that do not use the
renderer: the body model's vertices, the SH polynomial of :mod:`synth_core.scene.lighting`
maximised over a dense sphere of directions, and the shadow those vertices cast along that
direction onto the plane.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage

from synth_cli.commands.render import dataset_config, run_worker
from synth_cli.main import cli
from synth_core.dataset import read_clip
from synth_core.errors import PlanError, RenderError
from synth_core.scene import camera as cam
from synth_core.scene.clip import evaluate_clip
from synth_core.scene.lighting import irradiance
from synth_core.scene.plan import PlanOptions, ScenePlan, sample_plan

OPTIONS = PlanOptions(width=160, height=120, samples=8, n_frames=2, rgb_format="png", texture_size=256,
                      camera_distance_mean=5.0, camera_distance_std=0.0)
# Its SH light's dominant direction is 19 degrees above the horizon, to the side: a long cast
# shadow in view (about half of SURREAL's lights come from below the horizon and cast none).
SEED = 4
LABEL_PASSES = ("depth", "segmentation", "normals", "flow_forward", "flow_backward")
READBACK = Path(__file__).resolve().parent / "blender_scripts" / "ground_readback.py"


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


def dominant_light(sh) -> tuple[np.ndarray, float, float]:
    """Direction, max and min over the sphere of the SH irradiance's orders 0 and 1, found by
    brute force over 200k directions (not from the formulas the renderer uses)."""
    n = 200_000
    k = np.arange(n) + 0.5
    polar, azimuth = np.arccos(1 - 2 * k / n), np.pi * (1 + 5**0.5) * k
    normals = np.stack([np.cos(azimuth) * np.sin(polar), np.sin(azimuth) * np.sin(polar), np.cos(polar)], -1)
    low_orders = np.array(sh, dtype=np.float64)
    low_orders[4:] = 0.0
    values = irradiance(low_orders, normals)
    return normals[values.argmax()], float(values.max()), float(values.min())


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    out = tmp_path_factory.mktemp("grounded")
    clips = {}
    for scene in ("composite", "grounded"):
        run_worker(sample_plan(SEED, dataclasses.replace(OPTIONS, scene=scene)), out / scene)
        clips[scene] = read_clip(out / scene)
    return clips


@pytest.fixture(scope="module")
def geometry(renders):
    """The rendered frames' body vertices (numpy model), the ground height, the SH light's
    direction and the image positions of the shadow the body casts along it onto the ground."""
    plan = ScenePlan.from_dict(renders["grounded"].meta["plan"])
    clip = evaluate_clip(plan)
    vertices = clip.vertices_world[clip.rendered]
    ground = vertices[..., 2].min()
    direction, _, _ = dominant_light(plan.lighting["sh"])
    assert direction[2] > 0.2  # the seed's light is above the horizon: it casts a shadow
    k, rt = plan.intrinsics, plan.extrinsics

    def cast_along(light):
        return cam.project(k, rt, vertices - light * ((vertices[..., 2:] - ground) / light[2]))[0]

    # Against: where the shadow of a light from the opposite azimuth would fall.
    return {"plan": plan, "vertices": vertices, "ground": ground, "direction": direction,
            "body_uv": cam.project(k, rt, vertices)[0], "shadow_uv": cast_along(direction),
            "against_uv": cast_along(direction * [-1.0, -1.0, 1.0])}


def pixel_mask(uv: np.ndarray, height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    pixel = np.rint(uv).astype(int)
    inside = (pixel[:, 0] >= 0) & (pixel[:, 0] < width) & (pixel[:, 1] >= 0) & (pixel[:, 1] < height)
    mask[pixel[inside, 1], pixel[inside, 0]] = True
    return mask


@pytest.mark.slow  # renders two clips in Blender
def test_labels_are_those_of_the_composite_scene_and_so_is_the_body(renders):
    composite, grounded = renders["composite"], renders["grounded"]
    for t in range(composite.n_frames):
        a, b = composite.frame(t), grounded.frame(t)
        for name in LABEL_PASSES:
            assert np.array_equal(a[name], b[name]), (t, name)
        # Same seed, same samples: the body's own pixels (away from its antialiased edge, where
        # the shadow behind it shows through) are bit-identical.
        inner = ndimage.binary_erosion(a["segmentation"] > 0, iterations=2)
        assert inner.sum() > 500
        assert np.array_equal(a["rgb"][inner], b["rgb"][inner]), t
    for key, value in composite.annotations.items():
        assert np.array_equal(value, grounded.annotations[key]), key


@pytest.mark.slow  # renders two clips in Blender
def test_the_shadow_darkens_the_ground_at_the_feet_and_along_the_light_only(renders, geometry):
    composite, grounded = renders["composite"], renders["grounded"]
    height, width = OPTIONS.height, OPTIONS.width
    for t in range(composite.n_frames):
        a, b = composite.frame(t), grounded.frame(t)
        la, lb = luminance(a["rgb"]), luminance(b["rgb"])
        body = ndimage.binary_dilation(a["segmentation"] > 0, iterations=2)
        uv, vertices = geometry["body_uv"][t], geometry["vertices"][t]
        # Contact: the rows of the soles and just below them, across the feet.
        feet = uv[vertices[:, 2] < geometry["ground"] + 0.1]
        lowest = int(np.ceil(uv[:, 1].max()))
        band = np.zeros((height, width), bool)
        band[lowest - 2:lowest + 3, max(int(feet[:, 0].min()) - 3, 0):int(feet[:, 0].max()) + 4] = True
        band &= ~body
        # Cast shadow: the body's vertices moved along the light onto the ground; and where it
        # would be with the light's azimuth reversed.
        shadow = pixel_mask(geometry["shadow_uv"][t], height, width) & ~body
        against = pixel_mask(geometry["against_uv"][t], height, width) & ~body & ~shadow
        # Far: ground and sky pixels 25 px or more from the body and its shadow.
        far = ndimage.distance_transform_edt(~(body | shadow)) >= 25
        contact_ratio = lb[band].mean() / la[band].mean()
        shadow_ratio = lb[shadow].mean() / la[shadow].mean()
        against_ratio = lb[against].mean() / la[against].mean()
        far_change = np.abs(lb[far] - la[far]).mean()
        far_worst = np.abs(b["rgb"][far].astype(int) - a["rgb"][far]).max()
        print(f"frame {t}: contact band {band.sum()} px x{contact_ratio:.3f}, cast shadow {shadow.sum()} px "
              f"x{shadow_ratio:.3f}, against the light {against.sum()} px x{against_ratio:.3f}, "
              f"far {far.sum()} px mean |change| {far_change:.3f}/255, max {far_worst}/255")
        assert band.sum() > 20 and shadow.sum() > 50 and against.sum() > 50 and far.sum() > 2000
        # Measured: contact x0.976, cast shadow x0.877, against the light x0.994, far 0.06/255
        # on average and at most 5/255 (8/255 with the shadow's specks left in).
        assert contact_ratio < 0.99
        assert shadow_ratio < 0.94
        assert against_ratio > 0.985
        assert far_change < 0.5 and far_worst < 7
        for corner in (np.s_[:10, :10], np.s_[:10, -10:]):  # the sky: no ground there
            assert np.array_equal(a["rgb"][corner], b["rgb"][corner])


@pytest.mark.slow  # builds the scene in Blender
def test_the_ground_plane_is_a_shadow_catcher_at_the_lowest_foot_lit_along_the_sh(tmp_path):
    plan = sample_plan(SEED, dataclasses.replace(OPTIONS, scene="grounded"))
    (tmp_path / "plan.json").write_text(plan.to_json())
    root = READBACK.parents[2]
    subprocess.run([sys.executable, str(READBACK), str(tmp_path / "plan.json"), str(tmp_path / "out.npz")],
                   check=True, cwd=root, capture_output=True)
    built = np.load(tmp_path / "out.npz")
    ground, bodies = built["ground"], built["bodies"]
    assert bool(built["catcher"]) and not bool(built["hidden"])
    # A horizontal plane through Blender's lowest body vertex over the clip's frames...
    assert np.ptp(ground[:, 2]) < 1e-9
    assert abs(ground[0, 2] - bodies[..., 2].min()) < 1e-5
    # ... which every frame's feet stand on or above, and which reaches far past the body.
    assert (bodies[..., 2].min(axis=1) >= ground[0, 2] - 1e-5).all()
    assert (ground[:, :2].min(0) < bodies[..., :2].min((0, 1)) - 20).all()
    assert (ground[:, :2].max(0) > bodies[..., :2].max((0, 1)) + 20).all()
    # The sun shines from the SH's brightest direction, with the irradiance swing of its orders 0-1
    # (a distant light I adds I/4 + I/2 cos: max - min = I); the sky brings the rest of the mean.
    direction, high, low = dominant_light(plan.lighting["sh"])
    assert np.dot(built["sun_direction"], direction) > 0.9999
    assert built["sun_strength"] == pytest.approx(high - low, rel=1e-3)
    ambient = max((high + low) / 2 - (high - low) / 4, 0.25 * (high - low))
    assert built["world_strength"] * np.pi == pytest.approx(ambient, rel=1e-3)


def test_scene_option_is_validated_and_recorded_in_the_plan():
    assert sample_plan(0, dataclasses.replace(OPTIONS, n_frames=1)).render["scene"] == "composite"
    plan = sample_plan(0, dataclasses.replace(OPTIONS, n_frames=1, scene="grounded"))
    assert ScenePlan.from_json(plan.to_json()).render["scene"] == "grounded"
    with pytest.raises(PlanError, match="unknown scene 'floor'"):
        PlanOptions(scene="floor")
    with pytest.raises(PlanError, match="grounded.*cycles"):
        PlanOptions(scene="grounded", engine="eevee", shading="nodes")
    with pytest.raises(PlanError, match="unknown scene"):
        ScenePlan.from_dict({**plan.to_dict(), "render": {**plan.render, "scene": "floor"}})
    # A plan written before scenes existed is a composite.
    old = plan.to_dict()
    old["render"] = {key: value for key, value in plan.render.items() if key != "scene"}
    assert "scene" not in ScenePlan.from_dict(old).render


def test_cli_scene_option_and_old_datasets_still_resume():
    runner = CliRunner()
    result = runner.invoke(cli, ["render", "--help"])
    assert "--scene [composite|grounded]" in result.output and "shadow" in result.output
    result = runner.invoke(cli, ["render", "--out", "unused", "--scene", "floor"])
    assert result.exit_code != 0 and "floor" in result.output
    # The identity a dataset rendered before these options existed recorded: none of their keys.
    added_later = ("scene", "texture_dir", "bvh_files", "prior_hold_s", "camera", "occluders", "occluder_bank",
                   "background_videos")
    before = {key: value for key, value in PlanOptions().to_dict().items() if key not in added_later}
    assert dataset_config(0, PlanOptions())["identity"]["options"] == before
    assert dataset_config(0, PlanOptions(scene="grounded"))["identity"]["options"]["scene"] == "grounded"
    assert dataset_config(0, PlanOptions(occluders=2, camera="perturbed"))["identity"]["options"] == {
        **before, "occluders": 2, "camera": "perturbed"}


@pytest.mark.slow  # starts a Blender worker
def test_a_camera_below_the_ground_is_refused_before_rendering(tmp_path):
    plan = sample_plan(SEED, dataclasses.replace(OPTIONS, scene="grounded", camera_height=-1.5))
    with pytest.raises(RenderError, match="not above the ground"):
        run_worker(plan, tmp_path / "clip")
    assert not (tmp_path / "clip").exists()

"""Every label of a rendered clip, checked against a computation that does not use Blender.

One clip is rendered by the real worker (headless Blender: Cycles on CPU with OSL, Cycles with a
moving camera, and Eevee where OpenGL runs) at a small resolution; the checks rebuild the posed
body with the numpy body model, project it with the clip's own K and R|t of each frame and
rasterize it (synth_core.raster), then compare pass by pass, bounding both the median and the
99th percentile of each error. Under the moving camera the background's flow is checked against
the stored cameras' motion, and flow warping over the whole image. Every
test needs the rendered clip (several seconds of Blender), so each is marked slow. RGB shading
is checked in test_render_shading.py.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synth_core.body.catalog import load_body_model
from synth_core.body.parts import JOINT_NAMES, face_part_labels
from synth_core.dataset import read_clip
from synth_core.dataset.format import frame_cameras
from synth_core.raster import rasterize
from synth_core.scene import camera as cam
from synth_core.scene.clip import PAD, evaluate_clip
from synth_core.scene.plan import PlanOptions, ScenePlan, sample_plan
from synth_cli.commands.render import run_worker

# Bounds on the 99th percentile of each label's error (the medians are bounded too). Measured
# on this clip: depth 0.50 mm (the 1 mm storage step), flow 0.011 px (1/64 px step), normals
# 0.33 deg (int8 storage).
DEPTH_P99_M = 1e-3
FLOW_P99_PX = 0.02
NORMAL_P99_DEG = 1.0
# Joint visibility may disagree with the ray cast only where the surface in front of the joint
# is within this distance of the visibility margin's boundary.
VISIBILITY_BAND_M = 0.005
# A torso joint lies inside the body: the rendered surface at its pixel is in front of it, by
# less than this (the torso's depth, or an arm swung across it).
TORSO_DEPTH_M = 0.4

OPTIONS = PlanOptions(width=200, height=150, samples=4, n_frames=3, camera_distance_mean=5.0,
                      camera_distance_std=0.0, rgb_format="png", texture_size=512)
SEED = 11
ENGINE_OPTIONS = {"cycles": {}, "cycles-moving": {"camera": "moving"}, "eevee": {"engine": "eevee", "shading": "nodes"}}
# Fast enough for several pixels of background motion a frame over 3 frames (the sampled rates
# are often slower); the body stays in view at this distance.
CAMERA_MOTION = {"pan_deg_s": 25.0, "tilt_deg_s": -10.0, "zoom_per_s": 0.4, "dolly_m_s": 0.6}


@pytest.fixture(scope="module", params=sorted(ENGINE_OPTIONS))
def clip(request, tmp_path_factory):
    if request.param == "eevee":
        request.getfixturevalue("eevee_renderer")  # skips where Eevee cannot render
    out = tmp_path_factory.mktemp("render") / "clip"
    plan = sample_plan(SEED, dataclasses.replace(OPTIONS, **ENGINE_OPTIONS[request.param]))
    # A run: several pixels of motion per frame, limbs crossing the body (occlusion edges).
    motion = {**plan.motion, "params": {**plan.motion["params"], "kind": "run", "speed": 1.3}}
    plan = dataclasses.replace(plan, motion=motion)
    if plan.moving_camera:
        plan = dataclasses.replace(plan, camera={**plan.camera, "motion": CAMERA_MOTION})
    run_worker(plan, out)
    return read_clip(out)


@pytest.fixture(scope="module")
def scene(clip):
    """The clip's posed body computed by the numpy model and rasterized with its camera, and
    its image motion over the padded frames (one before and one after the clip)."""
    model = load_body_model()
    a = clip.annotations
    out = model(betas=a["betas"], pose=a["pose"], transl=a["transl"])
    vertices = cam.transform_points(a["body_to_world"], out.vertices)
    ks, rts = frame_cameras(a)
    frames = []
    for t in range(clip.n_frames):
        uv, z = cam.project(ks[t], rts[t], vertices[t])
        raster = rasterize(uv, model.faces, clip.meta["height"], clip.meta["width"], depth=z)
        frames.append({"uv": uv, "z": z, "raster": raster, "vertices": vertices[t]})
    # The plan's motion (and camera) one frame beyond each end of the clip, as the renderer keys it.
    plan = ScenePlan.from_dict(clip.meta["plan"])
    padded = evaluate_clip(plan).vertices_world
    assert np.abs(padded[PAD:PAD + clip.n_frames] - vertices).max() < 1e-9  # the same bodies
    padded_ks, padded_rts = plan.cameras()
    assert np.abs(padded_rts[PAD:PAD + clip.n_frames] - rts).max() < 1e-12  # the same cameras
    padded_uv = np.array([cam.project(k, rt, v)[0] for k, rt, v in zip(padded_ks, padded_rts, padded)])
    return {"model": model, "frames": frames, "padded_uv": padded_uv, "padded_cameras": (padded_ks, padded_rts),
            "joints": cam.transform_points(a["body_to_world"], out.joints)}


@pytest.mark.slow
def test_joints_project_to_joints2d_and_match_the_body_model(clip, scene):
    a = clip.annotations
    # Pinhole projection written out here rather than through synth_core.scene.camera.
    homogeneous = np.concatenate([a["joints3d_world"], np.ones(a["joints3d_world"].shape[:-1] + (1,))], -1)
    ks, rts = frame_cameras(a)
    camera_points = np.einsum("tij,tnj->tni", rts, homogeneous)
    image = np.einsum("tij,tnj->tni", ks, camera_points)
    assert np.abs(image[..., :2] / image[..., 2:] - a["joints2d"]).max() < 1e-3
    assert np.abs(camera_points - a["joints3d_camera"]).max() < 1e-6
    # The numpy model's forward kinematics of the annotated pose.
    assert np.abs(a["joints3d_world"] - scene["joints"]).max() < 1e-4


@pytest.mark.slow
def test_joints_equal_a_blender_armature_posed_by_the_annotations(clip, tmp_path):
    """The renderer poses its mesh without an armature; Blender's own armature (the add-on's
    skinned body, built and posed by a separate Blender process from the annotated shape, pose,
    translation and yaw) puts its bone heads where joints3d_world says, and its skinned mesh
    where the worker's mesh was (the rendered depth is checked against that mesh above)."""
    from synth_core import assets
    from tests.test_blender_skinning import SCRIPT

    a = clip.annotations
    assert np.allclose(cam.body_to_world(float(a["yaw"])), a["body_to_world"])
    np.savez(tmp_path / "in.npz", betas=a["betas"], pose=a["pose"], transl=a["transl"], yaw=a["yaw"])
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, str(SCRIPT), str(assets.require("body/default")), str(tmp_path / "in.npz"),
                    str(tmp_path / "out.npz")], check=True, cwd=root, capture_output=True)
    armature = np.load(tmp_path / "out.npz")
    error = np.abs(armature["joints"] - a["joints3d_world"]).max()
    print(f"|armature joints - joints3d_world| max {error * 1000:.4f} mm")
    assert error < 1e-4


@pytest.mark.slow
def test_torso_joints_lie_inside_the_rendered_body(clip):
    """Where a torso joint (pelvis, spine1-3) projects, the rendered surface is the body, in
    front of the joint by less than a torso's depth: the joints are inside the rendered mesh
    (measured here: 3-11 cm behind its surface)."""
    a = clip.annotations
    torso = [JOINT_NAMES.index(name) for name in ("pelvis", "spine1", "spine2", "spine3")]
    for t in range(clip.n_frames):
        passes = clip.frame(t, ["depth", "segmentation"])
        col, row = np.rint(a["joints2d"][t, torso]).astype(int).T
        depth = passes["depth"][row, col]
        behind_surface = a["joints3d_camera"][t, torso, 2] - depth
        print(f"frame {t}: torso joints behind the rendered surface by {np.round(behind_surface * 100, 1)} cm")
        assert np.all(passes["segmentation"][row, col] > 0)
        assert np.all((behind_surface > 0) & (behind_surface < TORSO_DEPTH_M))


@pytest.mark.slow
def test_joints_visible_equals_a_ray_cast_of_the_posed_mesh(clip, scene):
    """Visible: inside the image and the ray-cast surface at the joint's pixel is not nearer
    than the joint by more than the margin (README). Only joints whose surface lies within
    VISIBILITY_BAND_M of that boundary, or whose projection is within 0.01 px of a pixel
    boundary (Blender's joints equal the model's to 1e-4 m), may go either way."""
    margin = clip.meta["plan"]["render"]["visibility_margin_m"]
    assert margin == 0.15  # the README's value
    height, width = clip.meta["height"], clip.meta["width"]
    a = clip.annotations
    expected_all, ambiguous_all = [], []
    ks, rts = frame_cameras(a)
    for t, geometry in enumerate(scene["frames"]):
        uv, z = cam.project(ks[t], rts[t], scene["joints"][t])
        col, row = np.rint(uv).astype(int).T
        inside = (z > 0) & (col >= 0) & (col < width) & (row >= 0) & (row < height)
        surface = geometry["raster"].depth[np.clip(row, 0, height - 1), np.clip(col, 0, width - 1)]  # inf: none
        in_front_by = z - surface
        expected_all.append(inside & (in_front_by <= margin))
        on_pixel_boundary = (np.abs(uv - np.floor(uv) - 0.5) < 0.01).any(axis=-1)
        ambiguous_all.append(inside & ((np.abs(in_front_by - margin) < VISIBILITY_BAND_M) | on_pixel_boundary))
    expected, ambiguous = np.array(expected_all), np.array(ambiguous_all)
    visible = a["joints_visible"]
    print(f"joints visible: {visible.sum()} rendered, {expected.sum()} ray cast, of {visible.size}; "
          f"{ambiguous.sum()} ambiguous (margin boundary or pixel edge); occluded joints "
          f"{sorted(set(np.argwhere(~expected)[:, 1].tolist()))}")
    assert visible.dtype == bool and visible.shape == expected.shape
    assert expected.any() and not expected.all(), "the clip must show both visible and occluded joints"
    disagree = visible != expected
    assert not np.any(disagree & ~ambiguous), np.argwhere(disagree & ~ambiguous)


@pytest.mark.slow
def test_depth_equals_a_ray_cast_of_the_posed_mesh(clip, scene):
    for t, geometry in enumerate(scene["frames"]):
        depth = clip.frame(t, ["depth"])["depth"]
        expected = geometry["raster"].depth
        both = (depth > 0) & np.isfinite(expected)
        union = (depth > 0) | np.isfinite(expected)
        assert both.sum() / union.sum() > 0.97, "rendered and ray-cast silhouettes differ"
        error = np.abs(depth[both] - expected[both])
        print(f"frame {t}: depth error median {np.median(error) * 1000:.3f} mm, p99 "
              f"{np.percentile(error, 99) * 1000:.3f} mm, max {error.max() * 1000:.3f} mm over {both.sum()} px")
        assert np.median(error) <= 1e-3
        assert np.percentile(error, 99) <= DEPTH_P99_M


def _seam_vertices(faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Vertices next to a triangle of another part: their label there is ambiguous."""
    face_labels = face_part_labels(faces, labels)
    mixed = np.zeros(len(labels), bool)
    for corner in range(3):
        np.logical_or.at(mixed, faces[:, corner], face_labels != labels[faces[:, corner]])
    return mixed


@pytest.mark.slow
def test_visible_vertices_land_on_their_part(clip, scene):
    model = scene["model"]
    labels = model.part_labels
    mixed = _seam_vertices(model.faces, labels)
    for t, geometry in enumerate(scene["frames"]):
        segmentation = clip.frame(t, ["segmentation"])["segmentation"]
        pixel = np.rint(geometry["uv"]).astype(int)
        height, width = segmentation.shape
        inside = (pixel[:, 0] >= 0) & (pixel[:, 0] < width) & (pixel[:, 1] >= 0) & (pixel[:, 1] < height)
        px, py = np.clip(pixel[:, 0], 0, width - 1), np.clip(pixel[:, 1], 0, height - 1)
        visible = inside & (np.abs(geometry["raster"].depth[py, px] - geometry["z"]) < 5e-3)
        agree = segmentation[py, px] == labels
        interior = visible & ~mixed
        print(f"frame {t}: {interior.sum()} interior visible vertices, {agree[interior].mean():.4f} agree; "
              f"all visible: {agree[visible].mean():.4f}")
        assert interior.sum() > 300
        assert agree[interior].mean() >= 0.98


@pytest.mark.slow
def test_every_body_pixel_is_labelled_with_a_part_of_its_visible_triangle(clip, scene):
    """The worst case, pixel by pixel: the rendered part at a body pixel is the part of one of
    the three vertices of the triangle the ray cast sees there (so exactly that part away from
    part seams, where all three agree). A pixel centre on an occlusion edge may see the
    neighbouring surface by rounding: at most 0.2 % of pixels may instead carry a part seen at a
    4-neighbour."""
    labels = scene["model"].part_labels
    for t, geometry in enumerate(scene["frames"]):
        segmentation = clip.frame(t, ["segmentation"])["segmentation"]
        raster = geometry["raster"]
        body = raster.mask & (segmentation > 0)
        corner_parts = np.where(raster.mask[..., None], labels[raster.faces[np.maximum(raster.face, 0)]], 0)
        own = (corner_parts == segmentation[..., None]).any(axis=-1)
        neighbour = own.copy()
        for axis, shift in ((0, 1), (0, -1), (1, 1), (1, -1)):
            neighbour |= (np.roll(corner_parts, shift, axis) == segmentation[..., None]).any(axis=-1)
        on_seam = ~(corner_parts == corner_parts[..., :1]).all(axis=-1) & body
        print(f"frame {t}: {body.sum()} body px ({on_seam.sum()} on seam triangles): part of their visible "
              f"triangle {own[body].mean():.4f}, of a neighbour's {neighbour[body].mean():.4f}")
        assert neighbour[body].all(), f"{(~neighbour[body]).sum()} pixels carry a part seen nowhere near them"
        assert own[body].mean() >= 0.998


def _flow_pixels(clip, scene, t: int, direction: str):
    """(rendered flow, ray-cast body mask, expected flow on the body) of clip frame t."""
    step = 1 if direction == "forward" else -1
    raster = scene["frames"][t]["raster"]
    passes = clip.frame(t, [f"flow_{direction}", "segmentation"])
    flow = passes[f"flow_{direction}"]
    body = raster.mask & (passes["segmentation"] > 0)
    uv = scene["padded_uv"]
    motion = uv[PAD + t + step] - uv[PAD + t]  # per-vertex image motion t -> t +- 1
    corners = scene["model"].faces[raster.face[body]]
    expected = np.einsum("nk,nkc->nc", raster.barycentric[body], motion[corners])
    return flow, body, expected


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_flow_equals_projected_vertex_motion_at_every_frame(clip, scene, direction):
    """Forward t -> t+1, backward t -> t-1, the first and last frames included (their
    neighbours are the padded motion frames the renderer keys beyond the clip)."""
    for t in range(clip.n_frames):
        flow, body, expected = _flow_pixels(clip, scene, t, direction)
        error = np.linalg.norm(flow[body] - expected, axis=1)
        moving = np.linalg.norm(expected, axis=1) > 0.5
        print(f"frame {t} {direction}: flow error median {np.median(error):.4f} px, p99 "
              f"{np.percentile(error, 99):.4f} px, max {error.max():.4f} px; mean motion "
              f"{np.linalg.norm(expected, axis=1).mean():.2f} px, {moving.mean():.3f} of body px move > 0.5 px")
        assert moving.mean() > 0.5, "the clip must move for this test to mean anything"
        assert np.all(np.linalg.norm(flow[body][moving], axis=1) > 0)
        assert np.median(error) < 0.01
        assert np.percentile(error, 99) < FLOW_P99_PX
        # Where the ray cast finds no surface in a 3x3 neighbourhood only the background moves:
        # not at all under a static camera, as directions at infinity under a moving one.
        empty = _eroded(~scene["frames"][t]["raster"].mask, 1)
        assert empty.sum() > 0.5 * empty.size
        expected_background = _background_motion(scene, t, t + (1 if direction == "forward" else -1), flow.shape[:2])
        error = np.linalg.norm(flow[empty] - expected_background[empty], axis=-1)
        print(f"frame {t} {direction}: background flow error max {error.max():.4f} px; background motion "
              f"mean {np.linalg.norm(expected_background[empty], axis=-1).mean():.2f} px")
        assert error.max() < 1 / 64  # the storage step


@pytest.mark.slow
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_flow_warps_the_neighbouring_frame_onto_this_one(clip, direction):
    """Frame t +- 1 sampled at p + flow(p) reproduces frame t on the body, away from
    occlusion edges (pixels whose 5x5 neighbourhood is all body)."""
    step = 1 if direction == "forward" else -1
    for t in range(clip.n_frames):
        if not 0 <= t + step < clip.n_frames:
            continue
        passes = clip.frame(t, ["rgb", "segmentation", f"flow_{direction}"])
        flow = passes[f"flow_{direction}"]
        rgb_t = passes["rgb"].astype(np.float64)
        rgb_other = clip.frame(t + step, ["rgb"])["rgb"].astype(np.float64)
        warped = _bilinear(rgb_other, np.indices(flow.shape[:2])[::-1].transpose(1, 2, 0) + flow)
        interior = _eroded(passes["segmentation"] > 0, 2) & (np.linalg.norm(flow, axis=-1) > 0)
        photometric = np.abs(warped - rgb_t)[interior].mean() / 255.0
        static = np.abs(rgb_other - rgb_t)[interior].mean() / 255.0
        print(f"frame {t} {direction}: warped photometric error {photometric:.4f} vs unwarped {static:.4f}")
        assert photometric < 0.75 * static
        if clip.meta["camera"].get("motion"):  # the whole image moves: background too
            lands = np.all((flow + np.indices(flow.shape[:2])[::-1].transpose(1, 2, 0) >= 0)
                           & (flow + np.indices(flow.shape[:2])[::-1].transpose(1, 2, 0)
                              <= np.array(flow.shape[1::-1]) - 1), axis=-1)
            background = _eroded(passes["segmentation"] == 0, 2) & lands
            photometric = np.abs(warped - rgb_t)[background].mean() / 255.0
            static = np.abs(rgb_other - rgb_t)[background].mean() / 255.0
            print(f"frame {t} {direction}: background warped error {photometric:.4f} vs unwarped {static:.4f}")
            assert photometric < 0.5 * static


@pytest.mark.slow
def test_normals_agree_with_the_posed_mesh(clip, scene):
    for t, geometry in enumerate(scene["frames"]):
        rotation = frame_cameras(clip.annotations)[1][t][:, :3]
        normals = clip.frame(t, ["normals"])["normals"]
        raster = geometry["raster"]
        body = (raster.face >= 0) & (np.linalg.norm(normals, axis=-1) > 0)
        v = geometry["vertices"][raster.faces[raster.face[body]]]
        face_normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]) @ rotation.T
        face_normal /= np.linalg.norm(face_normal, axis=1, keepdims=True)
        stored = normals[body] / np.linalg.norm(normals[body], axis=1, keepdims=True)  # int8-quantised
        cosine = np.clip(np.sum(face_normal * stored, axis=1), -1, 1)
        angle = np.degrees(np.arccos(cosine))
        print(f"frame {t}: normal angle to face normal median {np.median(angle):.2f} deg, p99 "
              f"{np.percentile(angle, 99):.2f} deg, max {angle.max():.1f} deg")
        assert np.median(angle) < 2.0
        assert np.percentile(angle, 99) < NORMAL_P99_DEG


def _background_motion(scene, t: int, other: int, shape) -> np.ndarray:
    """Image motion from clip frame t to frame ``other`` of points at infinity (the backdrop):
    each pixel's viewing direction in the world, seen by the other frame's camera."""
    ks, rts = scene["padded_cameras"]
    (k0, r0), (k1, r1) = (ks[PAD + t], rts[PAD + t][:, :3]), (ks[PAD + other], rts[PAD + other][:, :3])
    rows, cols = np.indices(shape, dtype=np.float64)
    pixels = np.stack([cols, rows, np.ones_like(cols)], axis=-1)
    directions = np.linalg.solve(k0, pixels.reshape(-1, 3).T).T @ r0  # world: R0^T K0^-1 p
    seen = directions @ r1.T @ k1.T
    return (seen[:, :2] / seen[:, 2:]).reshape(*shape, 2) - pixels[..., :2]


def _bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    x = np.clip(xy[..., 0], 0, width - 1.001)
    y = np.clip(xy[..., 1], 0, height - 1.001)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    return ((1 - fx) * (1 - fy) * image[y0, x0] + fx * (1 - fy) * image[y0, x0 + 1]
            + (1 - fx) * fy * image[y0 + 1, x0] + fx * fy * image[y0 + 1, x0 + 1])


def _eroded(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out &= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out

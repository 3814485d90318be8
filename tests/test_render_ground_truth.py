"""Every label of a rendered clip, checked against a computation that does not use Blender.

One clip is rendered by the real worker (headless Blender, Cycles on CPU, OSL) at a small
resolution; the checks rebuild the posed body with the numpy body model, project it with the
clip's own K and R|t and rasterize it (synth_core.raster), then compare pass by pass.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from synth_core.body.catalog import load_body_model
from synth_core.body.parts import face_part_labels
from synth_core.dataset import read_clip
from synth_core.raster import rasterize
from synth_core.scene import camera as cam
from synth_core.scene.plan import PlanOptions, sample_plan
from synth_cli.commands.render import run_worker

pytestmark = pytest.mark.slow

OPTIONS = PlanOptions(width=200, height=150, samples=4, n_frames=3, camera_distance_mean=5.0,
                      camera_distance_std=0.0, rgb_format="png", texture_size=512)
SEED = 11


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "clip"
    plan = sample_plan(SEED, OPTIONS)
    # A run: several pixels of motion per frame, limbs crossing the body (occlusion edges).
    motion = {**plan.motion, "params": {**plan.motion["params"], "kind": "run", "speed": 1.3}}
    run_worker(dataclasses.replace(plan, motion=motion), out)
    return read_clip(out)


@pytest.fixture(scope="module")
def scene(clip):
    """The clip's posed body computed by the numpy model and rasterized with its camera."""
    model = load_body_model()
    a = clip.annotations
    out = model(betas=a["betas"], pose=a["pose"], transl=a["transl"])
    vertices = cam.transform_points(a["body_to_world"], out.vertices)
    k, rt = a["camera_K"], a["camera_Rt"]
    frames = []
    for t in range(clip.n_frames):
        uv, z = cam.project(k, rt, vertices[t])
        raster = rasterize(uv, model.faces, clip.meta["height"], clip.meta["width"], depth=z)
        frames.append({"uv": uv, "z": z, "raster": raster, "vertices": vertices[t]})
    return {"model": model, "frames": frames, "joints": cam.transform_points(a["body_to_world"], out.joints)}


def test_joints_project_to_joints2d_and_match_the_body_model(clip, scene):
    a = clip.annotations
    # Pinhole projection written out here rather than through synth_core.scene.camera.
    homogeneous = np.concatenate([a["joints3d_world"], np.ones(a["joints3d_world"].shape[:-1] + (1,))], -1)
    camera_points = homogeneous @ a["camera_Rt"].T
    image = camera_points @ a["camera_K"].T
    assert np.abs(image[..., :2] / image[..., 2:] - a["joints2d"]).max() < 1e-3
    assert np.abs(camera_points - a["joints3d_camera"]).max() < 1e-6
    # Blender's armature joints against the numpy model's forward kinematics.
    assert np.abs(a["joints3d_world"] - scene["joints"]).max() < 1e-4
    assert a["joints_visible"].any() and a["joints_visible"].dtype == bool


def test_depth_equals_a_ray_cast_of_the_posed_mesh(clip, scene):
    for t, geometry in enumerate(scene["frames"]):
        depth = clip.frame(t, ["depth"])["depth"]
        expected = geometry["raster"].depth
        both = (depth > 0) & np.isfinite(expected)
        union = (depth > 0) | np.isfinite(expected)
        assert both.sum() / union.sum() > 0.97, "rendered and ray-cast silhouettes differ"
        error = np.abs(depth[both] - expected[both])
        print(f"frame {t}: depth median error {np.median(error) * 1000:.3f} mm over {both.sum()} px")
        assert np.median(error) <= 1e-3


def test_visible_vertices_land_on_their_part(clip, scene):
    model = scene["model"]
    faces, labels = model.faces, model.part_labels
    # Vertices whose surrounding triangles all carry the vertex's part: the label there is unambiguous.
    face_labels = face_part_labels(faces, labels)
    mixed = np.zeros(len(labels), bool)
    for corner in range(3):
        np.logical_or.at(mixed, faces[:, corner], face_labels != labels[faces[:, corner]])
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


def test_forward_flow_equals_projected_vertex_motion_and_warps_frames(clip, scene):
    frames = scene["frames"]
    faces = scene["model"].faces
    for t in range(clip.n_frames - 1):
        passes = clip.frame(t)
        flow = passes["flow_forward"]
        raster = frames[t]["raster"]
        body = (raster.face >= 0) & (passes["segmentation"] > 0)
        motion = frames[t + 1]["uv"] - frames[t]["uv"]  # per-vertex image motion t -> t+1
        corners = faces[raster.face[body]]
        expected = np.einsum("nk,nkc->nc", raster.barycentric[body], motion[corners])
        error = np.linalg.norm(flow[body] - expected, axis=1)
        print(f"frame {t}: flow median error {np.median(error):.4f} px, mean motion "
              f"{np.linalg.norm(expected, axis=1).mean():.2f} px")
        assert np.median(error) < 0.01
        assert np.all(flow[passes["segmentation"] == 0] == 0)  # static camera, static background

        # Photometric check: frame t+1 sampled at p + flow(p) reproduces frame t on the body,
        # away from occlusion edges (pixels whose 5x5 neighbourhood is all one part).
        rgb_t, rgb_next = passes["rgb"].astype(np.float64), clip.frame(t + 1, ["rgb"])["rgb"].astype(np.float64)
        warped = _bilinear(rgb_next, np.indices(flow.shape[:2])[::-1].transpose(1, 2, 0) + flow)
        interior = _eroded(passes["segmentation"] > 0, 2) & (np.linalg.norm(flow, axis=-1) > 0)
        photometric = np.abs(warped - rgb_t)[interior].mean() / 255.0
        static = np.abs(rgb_next - rgb_t)[interior].mean() / 255.0
        print(f"frame {t}: warped photometric error {photometric:.4f} vs unwarped {static:.4f}")
        assert photometric < static


def test_normals_agree_with_the_posed_mesh(clip, scene):
    rotation = clip.annotations["camera_Rt"][:, :3]
    for t, geometry in enumerate(scene["frames"]):
        normals = clip.frame(t, ["normals"])["normals"]
        raster = geometry["raster"]
        body = (raster.face >= 0) & (np.linalg.norm(normals, axis=-1) > 0)
        v = geometry["vertices"][raster.faces[raster.face[body]]]
        face_normal = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]) @ rotation.T
        face_normal /= np.linalg.norm(face_normal, axis=1, keepdims=True)
        stored = normals[body] / np.linalg.norm(normals[body], axis=1, keepdims=True)  # int8-quantised
        cosine = np.clip(np.sum(face_normal * stored, axis=1), -1, 1)
        angle = np.degrees(np.arccos(cosine))
        print(f"frame {t}: normal median angle to face normal {np.median(angle):.2f} deg")
        assert np.median(angle) < 2.0


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

"""RGB shading checked against spherical-harmonics irradiance computed here, not by the renderer.

A body with one flat albedo colour is rendered under nine chosen SH coefficients, with the OSL
shader and with the node group. Each interior body pixel must equal
``sRGB(albedo x max(E(n), 0))``, with ``E`` written below from Ramamoorthi & Hanrahan (2001) as
the clamped-cosine convolution of the real SH basis (eq. 7-8: E = sum_lm A_l L_lm Y_lm(n),
A_0 = pi, A_1 = 2 pi / 3, A_2 = pi / 4), not from the renderer's polynomial, and ``n`` the
smooth (vertex-interpolated) world normal of the numpy mesh's visible triangle. The albedo
texture is decoded from sRGB (its Blender colour space); the worker reads Cycles' linear EXR and
encodes it with the plain sRGB transfer function, so no view transform is involved. A wrong basis
order or a wrong normal frame in both shaders would pass the OSL-vs-nodes comparison but
fails here; the test shows its tolerance rejects both. Cycles renders both shaders; Eevee, where
OpenGL runs, renders the node group.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from synth_core.body.catalog import load_body_model
from synth_core.dataset import read_clip
from synth_core.raster import interpolate, rasterize
from synth_core.scene import camera as cam
from synth_core.scene.plan import PlanOptions, sample_plan
from synth_cli.commands.render import run_worker

OPTIONS = PlanOptions(width=320, height=240, samples=16, n_frames=1, camera_distance_mean=3.5,
                      camera_distance_std=0.0, rgb_format="png")
SEED = 4
ALBEDO_SRGB = (180, 140, 100)
# SURREAL's order: L00, L1-1, L10, L11, L2-2, L2-1, L20, L21, L22. All nine differ, so any
# permutation of them changes the light.
SH = (0.95, -0.4, 0.3, 0.5, -0.45, -0.35, -0.15, 0.5, 0.3)
# |rendered - expected| in 8-bit sRGB code values over interior body pixels and channels.
# Measured (OSL and nodes alike): median 0.26 (rounding to 8 bits alone gives 0.25), p99 0.81,
# max 1.5. Area-weighted vertex normals instead of Blender's angle-weighted ones give p99 2.7;
# flat face normals p99 11; a permuted basis or a wrong frame 15 or more (printed by the test).
MEDIAN_TOLERANCE = 0.75
P99_TOLERANCE = 2.0


def sh_irradiance(coefficients, normals: np.ndarray) -> np.ndarray:
    """Irradiance of unit normals (... x 3) from 9 coefficients in SURREAL's order, as the
    convolution of the real SH basis Y_lm with the clamped cosine (A_l)."""
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    basis = [0.282095 * np.ones_like(x),                   # Y00
             0.488603 * y, 0.488603 * z, 0.488603 * x,    # Y1-1, Y10, Y11
             1.092548 * x * y, 1.092548 * y * z,          # Y2-2, Y2-1
             0.315392 * (3 * z * z - 1),                  # Y20
             1.092548 * x * z, 0.546274 * (x * x - y * y)]  # Y21, Y22
    band_weight = [np.pi] + [2 * np.pi / 3] * 3 + [np.pi / 4] * 5
    return sum(a * c * y_lm for a, c, y_lm in zip(band_weight, coefficients, basis))


def srgb_decode(code: np.ndarray) -> np.ndarray:
    c = np.asarray(code, dtype=np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear light -> sRGB code values 0..255 as floats (no rounding: compared with a tolerance)."""
    v = np.clip(linear, 0.0, 1.0)
    return 255.0 * np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def smooth_vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Vertex normals as Blender computes them for smooth faces: face normals weighted by
    the corner angle at the vertex, normalised."""
    normals = np.zeros_like(vertices)
    corners = vertices[faces]
    face_normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    face_normal /= np.linalg.norm(face_normal, axis=1, keepdims=True)
    for i in range(3):
        a = corners[:, (i + 1) % 3] - corners[:, i]
        b = corners[:, (i + 2) % 3] - corners[:, i]
        cosine = np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        np.add.at(normals, faces[:, i], face_normal * np.arccos(np.clip(cosine, -1, 1))[:, None])
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def plain_plan(tmp_path_factory):
    texture = tmp_path_factory.mktemp("texture") / "albedo.png"
    Image.fromarray(np.full((8, 8, 3), ALBEDO_SRGB, dtype=np.uint8)).save(texture)
    plan = sample_plan(SEED, OPTIONS)
    return dataclasses.replace(plan, lighting={"sh": list(SH)},
                               texture={"kind": "file", "path": str(texture)})


@pytest.fixture(scope="module")
def reference(plain_plan, tmp_path_factory):
    """World normals at each pixel centre (smooth shading of the visible triangle) and the
    interior body pixels, from a ray cast of the numpy posed mesh."""
    out = tmp_path_factory.mktemp("geometry") / "clip"
    run_worker(plain_plan, out)  # labels and annotations of the scene (OSL render)
    clip = read_clip(out)
    a = clip.annotations
    model = load_body_model()
    posed = model(betas=a["betas"], pose=a["pose"], transl=a["transl"])
    vertices = cam.transform_points(a["body_to_world"], posed.vertices[0])
    uv, z = cam.project(a["camera_K"], a["camera_Rt"], vertices)
    raster = rasterize(uv, model.faces, clip.meta["height"], clip.meta["width"], depth=z)
    vertex_normals = smooth_vertex_normals(vertices, model.faces)
    normals = interpolate(raster, vertex_normals, fill=0.0)
    normals /= np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)
    segmentation = clip.frame(0, ["segmentation"])["segmentation"]
    interior = _interior(raster, segmentation, normals)
    corners = vertices[raster.faces[np.maximum(raster.face, 0)]]
    face_normals = np.cross(corners[..., 1, :] - corners[..., 0, :], corners[..., 2, :] - corners[..., 0, :])
    face_normals /= np.maximum(np.linalg.norm(face_normals, axis=-1, keepdims=True), 1e-12)
    return {"normals": normals, "face_normals": face_normals, "interior": interior, "clip": clip,
            "body_to_world": a["body_to_world"], "camera_R": a["camera_Rt"][:, :3]}


def _interior(raster, segmentation: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Body pixels whose 5x5 neighbourhood (the reach of the 1.5 px Blackman-Harris RGB filter)
    is body and bends less than 15 degrees: there the antialiased pixel is the shading at its
    centre, not a mix across an occlusion edge or a sharp fold."""
    body = raster.mask & (segmentation > 0)
    whole, smallest_cosine = body.copy(), np.ones(body.shape)
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            whole &= np.roll(np.roll(body, dy, 0), dx, 1)
            neighbour = np.roll(np.roll(normals, dy, 0), dx, 1)
            smallest_cosine = np.minimum(smallest_cosine, np.sum(normals * neighbour, axis=-1))
    return whole & (smallest_cosine > np.cos(np.radians(15.0)))


def _shading_error(rgb: np.ndarray, normals: np.ndarray, interior: np.ndarray, coefficients) -> np.ndarray:
    """|rendered - sRGB(albedo x max(E, 0))| per interior pixel and channel, in 8-bit code values."""
    albedo = srgb_decode(ALBEDO_SRGB)
    expected = srgb_encode(albedo * np.maximum(sh_irradiance(coefficients, normals[interior]), 0.0)[:, None])
    return np.abs(rgb[interior].astype(np.float64) - expected)


def _summary(error: np.ndarray) -> str:
    return f"median {np.median(error):.3f}, p99 {np.percentile(error, 99):.3f}, max {error.max():.2f}"


def _within_tolerance(error: np.ndarray) -> bool:
    return np.median(error) <= MEDIAN_TOLERANCE and np.percentile(error, 99) <= P99_TOLERANCE


def _is_far_outside_tolerance(error: np.ndarray) -> bool:
    return np.median(error) > MEDIAN_TOLERANCE and np.percentile(error, 99) > P99_TOLERANCE


@pytest.mark.slow  # two Blender renders
@pytest.mark.parametrize("engine, shading", [("cycles", "osl"), ("cycles", "nodes"), ("eevee", "nodes")])
def test_rgb_equals_albedo_times_sh_irradiance_at_the_mesh_normals(plain_plan, reference, engine, shading,
                                                                   tmp_path, request):
    if shading == "osl":
        clip = reference["clip"]
    else:
        if engine == "eevee":
            request.getfixturevalue("eevee_renderer")  # skips where Eevee cannot render
        render = {**plain_plan.render, "shading": shading, "engine": engine}
        run_worker(dataclasses.replace(plain_plan, render=render), tmp_path / "clip")
        clip = read_clip(tmp_path / "clip")
    rgb = clip.frame(0, ["rgb"])["rgb"]
    normals, interior = reference["normals"], reference["interior"]
    assert interior.sum() > 1000
    error = _shading_error(rgb, normals, interior, SH)
    print(f"{engine} {shading}: {interior.sum()} interior px, |rendered - expected| {_summary(error)} "
          f"(8-bit sRGB), rendered {rgb[interior].min()}..{rgb[interior].max()}")
    assert _within_tolerance(error), _summary(error)

    # The same comparison with a wrong basis order or wrong normals is far outside the tolerance.
    sh = np.array(SH)
    wrong_order = {
        "band 1 in x, y, z order": sh[[0, 3, 1, 2, 4, 5, 6, 7, 8]],
        "L2-1 and L21 swapped": sh[[0, 1, 2, 3, 4, 7, 6, 5, 8]],
        "band 2 reversed": sh[[0, 1, 2, 3, 8, 7, 6, 5, 4]],
    }
    for name, coefficients in wrong_order.items():
        wrong = _shading_error(rgb, normals, interior, coefficients)
        print(f"  {name}: {_summary(wrong)}")
        assert _is_far_outside_tolerance(wrong), name
    wrong_normals = {
        "in the body model's Y-up frame": normals @ reference["body_to_world"][:3, :3],  # world -> body
        "in the camera frame": normals @ reference["camera_R"].T,
        "flat (face normals)": reference["face_normals"],
    }
    for name, frame_normals in wrong_normals.items():
        wrong = _shading_error(rgb, frame_normals, interior, SH)
        print(f"  normals {name}: {_summary(wrong)}")
        assert _is_far_outside_tolerance(wrong), name

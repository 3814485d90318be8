"""Procedural textures: determinism, garment regions against the body's parts, seams, skin tones,
island coverage and bad input. Texels are checked at the UVs of vertices of known parts
(sampled bilinearly, without the rasterizer), so the part map is independent of the code."""

from __future__ import annotations

import copy
import dataclasses
import json
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from synth_core.body import BodyModel
from synth_core.body.model_file import validate_model_arrays
from synth_core.body.catalog import load_body_model
from synth_core.errors import TextureError
from synth_core.textures import load_texture_image, make_texture, sample_texture_spec, texture_id
from tests.conftest import make_smpl_arrays

SIZE = 256
PALETTE = {"skin": (0.80, 0.60, 0.50), "top": (0.80, 0.10, 0.10),
           "bottom": (0.10, 0.10, 0.70), "shoes": (0.10, 0.60, 0.10)}
HEAD, HANDS, FEET = (16,), (21, 22, 23, 24), (8, 9, 11, 12)
SPINE1, UPPER_ARMS, FOREARMS, THIGHS, SHINS = (7,), (17, 18), (19, 20), (2, 3), (5, 6)


@pytest.fixture(scope="module")
def body() -> BodyModel:
    return load_body_model()


@pytest.fixture(scope="module")
def corners(body):
    """Unique (vertex, uv index) pairs of the mesh's face corners, with part and rest position."""
    data = body.data
    pairs = np.unique(np.stack([data.faces.ravel(), data.ft.ravel()], 1), axis=0)
    vertex, uv_index = pairs[:, 0], pairs[:, 1]
    return {"vertex": vertex, "uv": data.vt[uv_index], "part": body.part_labels[vertex],
            "x": data.v_template[vertex, 0], "y": data.v_template[vertex, 1]}


def sample_uv(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup at UVs (v up, texel centres at (i + 0.5) / size), colours in [0, 1]."""
    size = texture.shape[0]
    x = np.clip(uv[:, 0] * size - 0.5, 0, size - 1)
    y = np.clip((1 - uv[:, 1]) * size - 0.5, 0, size - 1)
    x0, y0 = np.minimum(np.floor(x).astype(int), size - 2), np.minimum(np.floor(y).astype(int), size - 2)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    t = texture.astype(float) / 255
    return ((1 - fy) * ((1 - fx) * t[y0, x0] + fx * t[y0, x0 + 1])
            + fy * ((1 - fx) * t[y0 + 1, x0] + fx * t[y0 + 1, x0 + 1]))


def with_palette(spec: dict) -> dict:
    """The spec's garment geometry with solid, clearly distinct colours."""
    spec = copy.deepcopy(spec)
    spec["skin"] = list(PALETTE["skin"])
    for name in ("top", "bottom", "shoes"):
        if spec[name] is not None:
            spec[name]["fabric"] = {"pattern": "solid", "colour": list(PALETTE[name]),
                                    "colour2": list(PALETTE[name])}
    return spec


def classify(colours: np.ndarray) -> np.ndarray:
    names = list(PALETTE)
    reference = np.array([PALETTE[n] for n in names])
    nearest = np.argmin(((colours[:, None] - reference[None]) ** 2).sum(-1), axis=1)
    return np.array(names)[nearest]


def fraction(labels, parts, corners, name) -> float:
    selected = labels[np.isin(corners["part"], parts)]
    return float(np.mean(selected == name))


def test_same_seed_same_bytes_and_different_seed_differs(body):
    spec = sample_texture_spec(np.random.default_rng(3))
    assert spec == sample_texture_spec(np.random.default_rng(3))
    round_tripped = json.loads(json.dumps(spec))
    first = make_texture(body, spec, SIZE)
    assert first.shape == (SIZE, SIZE, 3) and first.dtype == np.uint8
    assert first.tobytes() == make_texture(body, round_tripped, SIZE).tobytes()
    other = sample_texture_spec(np.random.default_rng(4))
    assert other != spec
    assert np.abs(make_texture(body, other, SIZE).astype(int) - first).mean() > 5
    assert re.fullmatch(r"proc-[0-9a-f]{12}", texture_id(spec))
    assert texture_id(spec) == texture_id(round_tripped) != texture_id(other)


@pytest.mark.parametrize("seed", range(8))
def test_garments_follow_the_body_parts(body, corners, seed):
    spec = with_palette(sample_texture_spec(np.random.default_rng(seed)))
    labels = classify(sample_uv(make_texture(body, spec, SIZE), corners["uv"]))
    assert fraction(labels, HEAD, corners, "skin") > 0.97
    assert fraction(labels, HANDS, corners, "skin") > 0.97
    assert fraction(labels, FEET, corners, "shoes") > 0.97
    assert fraction(labels, SPINE1, corners, "top") > 0.9
    if spec["bottom"] is None:   # a dress covers the hips and upper thighs
        high_thigh = np.isin(corners["part"], THIGHS) & (corners["y"] > 0.0)
        assert np.mean(labels[high_thigh] == "top") > 0.9
        assert "bottom" not in labels


def test_sleeve_and_leg_lengths(body, corners):
    base = with_palette(sample_texture_spec(np.random.default_rng(0)))
    base["top"] |= {"kind": "tshirt", "sleeve": 0.3, "hem": -0.1, "tucked": False}
    base["bottom"] = {"kind": "shorts", "length": 0.35, "waist": 0.1,
                      "fabric": base["bottom"]["fabric"] if base["bottom"] else
                      {"pattern": "solid", "colour": list(PALETTE["bottom"]), "colour2": list(PALETTE["bottom"])}}
    base["shoes"]["height"] = 0.0
    labels = classify(sample_uv(make_texture(body, base, SIZE), corners["uv"]))
    assert fraction(labels, FOREARMS, corners, "skin") > 0.97
    assert fraction(labels, SHINS, corners, "skin") > 0.9
    upper = labels[np.isin(corners["part"], UPPER_ARMS)]
    assert 0.1 < np.mean(upper == "top") < 0.9                # the sleeve ends part-way
    thigh = labels[np.isin(corners["part"], THIGHS)]
    assert 0.1 < np.mean(thigh == "bottom") < 0.9             # the shorts end part-way

    long = copy.deepcopy(base)
    long["top"] |= {"kind": "shirt", "sleeve": 0.95}
    long["bottom"] |= {"kind": "trousers", "length": 1.0}
    labels = classify(sample_uv(make_texture(body, long, SIZE), corners["uv"]))
    sleeve = np.isin(corners["part"], UPPER_ARMS + FOREARMS) & (np.abs(corners["x"]) < 0.6)
    assert np.mean(labels[sleeve] == "top") > 0.97
    knee_to_mid_shin = np.isin(corners["part"], SHINS) & (corners["y"] > -0.6)
    assert np.mean(labels[knee_to_mid_shin] == "bottom") > 0.95
    assert fraction(labels, HANDS, corners, "skin") > 0.97   # sleeves stop at the wrist


def test_torso_takes_the_top_colours_for_every_pattern(body, corners):
    found = set()
    for seed in range(40):
        spec = sample_texture_spec(np.random.default_rng(seed))
        fabric = spec["top"]["fabric"]
        if fabric["pattern"] in found:
            continue
        found.add(fabric["pattern"])
        colours = sample_uv(make_texture(body, spec, SIZE), corners["uv"][np.isin(corners["part"], SPINE1)])
        a, b = np.array(fabric["colour"]), np.array(fabric["colour2"])
        if fabric["pattern"] == "solid":
            b = a
        # Distance to the segment a-b (patterns mix the two colours), fabric grain is a few %.
        t = np.clip(((colours - a) @ (b - a)) / max(np.dot(b - a, b - a), 1e-12), 0, 1)
        distance = np.linalg.norm(colours - (a + t[:, None] * (b - a)), axis=1)
        assert np.mean(distance < 0.06) > 0.9, fabric["pattern"]
    assert found == {"solid", "stripes", "checks", "noise", "print"}


def _seam_copies(corners, keep):
    """(vertex, uv of copy 1, uv of copy 2) of kept vertices that have exactly two UV copies."""
    vertex = corners["vertex"]
    seam = keep & (np.bincount(vertex)[vertex] == 2)
    order = np.argsort(vertex[seam], kind="stable")
    uv = corners["uv"][seam][order]
    return vertex[seam][order][0::2], uv[0::2], uv[1::2]


def test_stripes_are_continuous_across_uv_seams(body, corners):
    spec = sample_texture_spec(np.random.default_rng(1))
    direction, period, duty, phase = np.array([0.5, 0.7, 0.5]), 0.12, 0.5, 0.25
    light, dark = np.array([0.9, 0.9, 0.9]), np.array([0.1, 0.1, 0.4])
    stripes = {"pattern": "stripes", "colour": light.tolist(), "colour2": dark.tolist(),
               "direction": direction.tolist(), "period": period, "duty": duty, "phase": phase}
    spec["top"] |= {"kind": "shirt", "sleeve": 0.95, "hem": -0.2, "fabric": stripes}
    spec["bottom"] = {"kind": "trousers", "length": 1.0, "waist": 0.1, "fabric": stripes}
    texture = make_texture(body, spec, 512)                   # ~4 mm per texel on the torso

    # Both UV copies of every garment seam vertex (toes aside: their faces are ~1 texel).
    garment = ~np.isin(corners["part"], HEAD + HANDS + FEET + (13,))
    _, first, second = _seam_copies(corners, garment)
    assert len(first) > 200
    difference = np.abs(sample_uv(texture, first) - sample_uv(texture, second)).max(axis=1)
    shuffled = np.abs(sample_uv(texture, first) - sample_uv(texture, np.roll(second, 17, axis=0))).max(axis=1)
    assert np.median(difference) < 0.03 and np.mean(difference < 0.2) > 0.9
    assert np.median(shuffled) > 0.3                          # the pattern does vary

    # Below the armpits the arms-down pattern frame is the rest pose: there both copies show
    # the stripe computed here from the spec (colour2 where frac(p . direction / period +
    # phase) < duty), for vertices more than 8 mm (2 texels) from a stripe edge.
    low = garment & (corners["y"] < 0.4) & (corners["y"] > -0.7)
    vertex, first, second = _seam_copies(corners, low)
    u = np.mod(body.data.v_template[vertex] @ direction / period + phase, 1.0)
    to_edge = np.minimum.reduce([u, np.abs(duty - u), 1 - u]) * period
    expected = np.where((u < duty)[:, None], dark, light)
    clear = to_edge > 0.008
    assert clear.sum() > 40 and len(np.unique(expected[clear], axis=0)) == 2
    for copy_uv in (first, second):
        error = np.abs(sample_uv(texture, copy_uv) - expected).max(axis=1)
        assert np.mean(error[clear] < 0.1) > 0.97


def test_skin_tones_span_light_to_dark():
    skins = np.array([sample_texture_spec(np.random.default_rng(s))["skin"] for s in range(300)])
    linear = np.where(skins <= 0.04045, skins / 12.92, ((skins + 0.055) / 1.055) ** 2.4)
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722])
    assert luminance.min() < 0.06 and luminance.max() > 0.6
    assert np.mean(luminance < 0.15) > 0.2 and np.mean(luminance > 0.35) > 0.2
    assert np.all(skins[:, 0] > skins[:, 1]) and np.all(skins[:, 1] > skins[:, 2])  # warm hues


def test_islands_are_filled_and_bleed_outwards(body):
    spec = with_palette(sample_texture_spec(np.random.default_rng(5)))
    texture = make_texture(body, spec, SIZE)
    islands = Image.new("L", (SIZE, SIZE))
    draw = ImageDraw.Draw(islands)
    for triangle in body.data.vt[body.data.ft] * [SIZE, -SIZE] + [-0.5, SIZE - 0.5]:
        draw.polygon([tuple(p) for p in triangle], fill=255)
    inside = np.asarray(islands) > 0
    grown = np.asarray(islands.filter(ImageFilter.MaxFilter(5))) > 0
    colours = texture.reshape(-1, 3).astype(float) / 255
    reference = np.array(list(PALETTE.values()))
    distance = np.sqrt(((colours[:, None] - reference[None]) ** 2).sum(-1)).min(axis=1).reshape(SIZE, SIZE)
    assert inside.mean() > 0.55
    assert np.mean(distance[inside] < 0.08) > 0.99            # islands hold outfit colours
    assert np.mean(distance[grown & ~inside] < 0.08) > 0.95   # and so do 2 texels around them
    assert not np.any(texture[inside].max(axis=1) == 0)       # no black holes


def test_any_smpl_format_body_with_uvs_can_be_textured():
    arrays = make_smpl_arrays(num_vertices=900)
    rng = np.random.default_rng(0)
    arrays["vt"] = rng.uniform(0, 1, (1000, 2))
    arrays["ft"] = rng.integers(0, 1000, arrays["f"].shape)
    other = BodyModel(validate_model_arrays(arrays))
    spec = sample_texture_spec(rng)
    texture = make_texture(other, spec, 64)
    assert texture.shape == (64, 64, 3) and texture.std() > 0
    assert texture.tobytes() == make_texture(other, spec, 64).tobytes()


def test_body_without_uvs_and_bad_specs_raise(body):
    bare = BodyModel(dataclasses.replace(body.data, vt=None, ft=None))
    spec = sample_texture_spec(np.random.default_rng(0))
    with pytest.raises(TextureError, match="no UV"):
        make_texture(bare, spec, SIZE)
    broken = copy.deepcopy(spec)
    broken["top"]["kind"] = "cape"
    with pytest.raises(TextureError, match="top.kind"):
        make_texture(body, broken, SIZE)
    broken = copy.deepcopy(spec)
    broken["skin"] = [1.2, 0.5, 0.5]
    with pytest.raises(TextureError, match="skin"):
        make_texture(body, broken, SIZE)
    broken = copy.deepcopy(spec)
    del broken["shoes"]
    with pytest.raises(TextureError, match="shoes"):
        make_texture(body, broken, SIZE)
    with pytest.raises(TextureError, match="version"):
        make_texture(body, spec | {"version": 99}, SIZE)
    with pytest.raises(TextureError, match="size"):
        make_texture(body, spec, 3)


def test_load_texture_image(tmp_path):
    rgb = (np.arange(8 * 6 * 3).reshape(8, 6, 3) * 5 % 256).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "ok.png")
    np.testing.assert_array_equal(load_texture_image(tmp_path / "ok.png"), rgb)
    opaque = np.concatenate([rgb, np.full((8, 6, 1), 255, np.uint8)], axis=2)
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    np.testing.assert_array_equal(load_texture_image(tmp_path / "opaque.png"), rgb)
    Image.fromarray(rgb).save(tmp_path / "ok.jpg", quality=95)
    assert load_texture_image(tmp_path / "ok.jpg").shape == (8, 6, 3)

    with pytest.raises(TextureError, match="not found"):
        load_texture_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(TextureError, match="junk.png"):
        load_texture_image(tmp_path / "junk.png")
    big = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(big).save(tmp_path / "full.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:400])
    with pytest.raises(TextureError, match="cut.jpg"):
        load_texture_image(tmp_path / "cut.jpg")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "grey.png")
    with pytest.raises(TextureError, match="mode 'L'"):
        load_texture_image(tmp_path / "grey.png")
    see_through = opaque.copy()
    see_through[0, 0, 3] = 0
    Image.fromarray(see_through).save(tmp_path / "alpha.png")
    with pytest.raises(TextureError, match="RGBA"):
        load_texture_image(tmp_path / "alpha.png")

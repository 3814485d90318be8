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
from skimage.color import rgb2lab

from synth_core.body import BodyModel
from synth_core.body.model_file import validate_model_arrays
from synth_core.body.parts import face_part_labels
from synth_core.body.catalog import load_body_model
from synth_core.errors import TextureError
from synth_core.textures import load_texture_image, make_texture, sample_texture_spec, texture_id
from tests.conftest import make_smpl_arrays

SIZE = 256
PALETTE = {"skin": (0.80, 0.60, 0.50), "top": (0.80, 0.10, 0.10),
           "bottom": (0.10, 0.10, 0.70), "shoes": (0.10, 0.60, 0.10), "hair": (0.90, 0.90, 0.10)}
HAIR_SHADES = (0.6, 0.8, 1.0, 1.1)   # strands shade the hair colour (0.62..1.12)
HEAD, HANDS, FEET = (16,), (21, 22, 23, 24), (8, 9, 11, 12)
HEAD_PART = HEAD[0]
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
    """The spec's garment geometry with solid, clearly distinct colours (details such as
    prints, belts and soles take their garment's colour; the face takes the skin's)."""
    spec = copy.deepcopy(spec)
    spec["skin"] = list(PALETTE["skin"])
    spec["hair"]["colour"] = list(PALETTE["hair"])
    spec["face"] = {name: list(PALETTE["skin"]) for name in ("iris", "lips", "brows")}
    for name in ("top", "bottom", "shoes"):
        if spec[name] is not None:
            spec[name]["fabric"] = {"pattern": "solid", "colour": list(PALETTE[name]),
                                    "colour2": list(PALETTE[name])}
    if "colour" in spec["top"]["front"]:
        spec["top"]["front"]["colour"] = list(PALETTE["top"])
    if spec["bottom"] is not None and spec["bottom"]["belt"] is not None:
        spec["bottom"]["belt"] = list(PALETTE["bottom"])
    spec["shoes"] |= {"sole": list(PALETTE["shoes"]), "laces": None}
    return spec


def plain(spec: dict) -> dict:
    """with_palette, without hair (hairline above the crown) or garment details."""
    spec = with_palette(spec)
    spec["hair"] |= {"front": 2.0, "back": 1.9}
    spec["top"] |= {"collar": False, "front": {"kind": "none"}}
    if spec["bottom"] is not None:
        spec["bottom"] |= {"waistband": False, "belt": None, "fly": False, "pockets": False}
    spec["shoes"]["toe_cap"] = False
    return spec


def classify(colours: np.ndarray) -> np.ndarray:
    names = list(PALETTE) + ["hair"] * len(HAIR_SHADES)
    reference = np.array([PALETTE[n] for n in PALETTE] + [np.array(PALETTE["hair"]) * k for k in HAIR_SHADES])
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


def test_value_noise_is_its_definition_point_by_point():
    """The vectorised noise against its definition, one point at a time: the smoothstep-faded
    trilinear blend of the hashed values at the 8 lattice corners around the point, octaves
    halving the cell and the amplitude. Includes negative coordinates and seeds."""
    from synth_core.textures import _hash01, _value_noise

    def by_definition(point, scale, seed, octaves):
        total = weights = 0.0
        for octave in range(octaves):
            p = point / (scale * 0.5**octave)
            corner0 = np.floor(p)
            t = p - corner0
            fade = t * t * (3 - 2 * t)
            value = 0.0
            for dx in (0, 1):
                for dy in (0, 1):
                    for dz in (0, 1):
                        corner = corner0 + (dx, dy, dz)
                        w = np.prod([f if d else 1 - f for f, d in zip(fade, (dx, dy, dz))])
                        value += w * _hash01(corner[None], seed + 104729 * octave)[0]
            total += 0.5**octave * value
            weights += 0.5**octave
        return total / weights

    points = np.random.default_rng(5).uniform(-1.5, 1.5, (40, 3))
    for scale, seed, octaves in ((0.05, 7, 1), (0.01, -3, 2), (0.3, 2**40 + 1, 3)):
        noise = _value_noise(points, scale, seed, octaves)
        expected = [by_definition(p, scale, seed, octaves) for p in points]
        np.testing.assert_allclose(noise, expected, rtol=1e-12, atol=1e-12)
        assert 0 <= noise.min() and noise.max() <= 1 and noise.std() > 0.05


def test_an_outfit_is_the_same_after_others_were_painted_on_the_same_body(body):
    """The body's texel geometry is shared between outfits (synth_core.textures._shared_texel_geometry):
    an outfit painted after others, on the same body or another, equals one painted from nothing."""
    from synth_core.textures import TEXEL_CACHE_BODIES, _shared_texel_geometry

    specs = [sample_texture_spec(np.random.default_rng(seed)) for seed in (5, 6, 7)]
    # another body: the same mesh and UVs, other proportions (its outfits come out differently)
    wider = BodyModel(dataclasses.replace(body.data, v_template=body.data.v_template * np.array([1.15, 0.9, 1.1])))
    bodies = [body, wider]

    def painted_from_nothing(model, spec):
        _shared_texel_geometry.cache_clear()
        return make_texture(model, spec, SIZE).tobytes()

    expected = {(k, i): painted_from_nothing(model, spec) for k, model in enumerate(bodies)
                for i, spec in enumerate(specs)}
    _shared_texel_geometry.cache_clear()
    for i, spec in enumerate([*specs, *specs]):  # each body's geometry reused across outfits
        for k, model in enumerate(bodies):
            assert make_texture(model, spec, SIZE).tobytes() == expected[k, i % len(specs)], (k, i)
    info = _shared_texel_geometry.cache_info()
    assert info.currsize == TEXEL_CACHE_BODIES and info.hits >= 2 * (2 * len(specs) - 1)
    assert not _shared_texel_geometry(body, SIZE)["rest"].flags.writeable  # no outfit changes the next one's


@pytest.mark.parametrize("seed", range(8))
def test_garments_follow_the_body_parts(body, corners, seed):
    spec = with_palette(sample_texture_spec(np.random.default_rng(seed)))
    labels = classify(sample_uv(make_texture(body, spec, SIZE), corners["uv"]))
    head = labels[np.isin(corners["part"], HEAD)]
    assert np.mean((head == "skin") | (head == "hair")) > 0.97   # hair is on the head's own texels
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
                      {"pattern": "solid", "colour": list(PALETTE["bottom"]), "colour2": list(PALETTE["bottom"])},
                      "waistband": True, "belt": None, "fly": True, "pockets": True}
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
        spec["top"] |= {"front": {"kind": "none"}, "collar": False}   # the fabric alone
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
    spec["top"] |= {"kind": "shirt", "sleeve": 0.95, "hem": -0.2, "fabric": stripes, "collar": False,
                    "front": {"kind": "none"}}
    spec["bottom"] = {"kind": "trousers", "length": 1.0, "waist": 0.1, "fabric": stripes,
                      "waistband": False, "belt": None, "fly": False, "pockets": False}
    spec["shoes"]["height"] = 0.0                             # shoes stay below the checked band
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


def test_skin_tones_cover_every_fitzpatrick_type_by_ita():
    """Each spec's skin lies in its Fitzpatrick type's ITA range, ITA = atan2(L* - 50, b*)
    (Chardon et al. 1991), with L*, b* from scikit-image's sRGB -> CIELAB (not the sampler's
    own conversion); every type is drawn about equally often; hues stay skin-like."""
    ita_ranges = {1: (55, 90), 2: (41, 55), 3: (28, 41), 4: (10, 28), 5: (-30, 10), 6: (-90, -30)}
    specs = [sample_texture_spec(np.random.default_rng(s)) for s in range(600)]
    types = np.array([spec["fitzpatrick"] for spec in specs])
    skins = np.array([spec["skin"] for spec in specs])
    lab = rgb2lab(skins[None])[0]
    ita = np.degrees(np.arctan2(lab[:, 0] - 50.0, lab[:, 2]))
    low, high = np.array([ita_ranges[t] for t in types]).T
    assert np.all((ita > low) & (ita < high)), (types[(ita <= low) | (ita >= high)], ita[(ita <= low) | (ita >= high)])
    counts = np.bincount(types, minlength=7)[1:]
    assert counts.min() > 0.1 * len(specs)                    # uniform would be 1/6
    assert lab[types == 6, 0].max() < lab[types == 1, 0].min()  # dark types are darker
    hue = np.degrees(np.arctan2(lab[:, 2], lab[:, 1]))
    assert np.all((hue > 35) & (hue < 80)) and np.all(lab[:, 1] > 3)  # orange-red hues, as skin
    assert np.all(skins[:, 0] > skins[:, 1]) and np.all(skins[:, 1] > skins[:, 2])


def _island_mask(body, faces) -> np.ndarray:
    islands = Image.new("L", (SIZE, SIZE))
    draw = ImageDraw.Draw(islands)
    for triangle in body.data.vt[body.data.ft[faces]] * [SIZE, -SIZE] + [-0.5, SIZE - 0.5]:
        draw.polygon([tuple(p) for p in triangle], fill=255)
    return islands


def test_islands_are_filled_and_bleed_outwards(body):
    spec = plain(sample_texture_spec(np.random.default_rng(5)))
    texture = make_texture(body, spec, SIZE)
    inside = np.asarray(_island_mask(body, slice(None))) > 0
    # The head's islands (eyeballs, teeth, the face) hold face colours: outfit colours are
    # checked on the others and the ring of 2 texels around them.
    off_head = np.flatnonzero(~np.isin(body.part_labels[body.data.faces], HEAD).any(axis=1))
    body_islands = _island_mask(body, off_head)
    grown = np.asarray(body_islands.filter(ImageFilter.MaxFilter(5))) > 0
    colours = texture.reshape(-1, 3).astype(float) / 255
    reference = np.array(list(PALETTE.values()))
    distance = np.sqrt(((colours[:, None] - reference[None]) ** 2).sum(-1)).min(axis=1).reshape(SIZE, SIZE)
    assert inside.mean() > 0.55
    assert np.mean(distance[np.asarray(body_islands) > 0] < 0.08) > 0.99   # islands hold outfit colours
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


def _dress_spec() -> dict:
    for seed in range(100):
        spec = sample_texture_spec(np.random.default_rng(seed))
        if spec["top"]["kind"] == "dress":
            return spec
    raise AssertionError("no dress in 100 specs")


@pytest.mark.parametrize("path, value, message", [
    (("fitzpatrick",), 7, "fitzpatrick"),
    (("fitzpatrick",), True, "fitzpatrick"),
    (("hair", "style"), "mohawk", "hair.style"),
    (("hair", "colour"), [0.1, 0.1], "hair.colour"),
    (("hair", "back"), 0.9, "hair.back"),            # not below the front hairline
    (("hair", "front"), "high", "hair.front"),
    (("face", "lips"), [2.0, 0.0, 0.0], "face.lips"),
    (("face",), None, "face"),
    (("top", "collar"), "yes", "top.collar"),
    (("top", "front", "kind"), "zip", "top.front.kind"),
    (("top", "front"), {"kind": "print", "motif": "logo", "colour": [1, 1, 1], "size": 0.1, "height": 0.6},
     "top.front.motif"),
    (("top", "front"), {"kind": "buttons", "colour": [1, 1, 1], "spacing": 0.0}, "top.front.spacing"),
    (("top", "front"), {"kind": "open", "colour": [1, 1, 1]}, "top.front.width"),
    (("bottom", "pockets"), 1, "bottom.pockets"),
    (("bottom", "belt"), [0.1, 0.1, 9.0], "bottom.belt"),
    (("shoes", "sole"), None, "shoes.sole"),
    (("shoes", "sole_height"), -0.01, "shoes.sole_height"),
    (("shoes", "laces"), "white", "shoes.laces"),
    (("shoes", "toe_cap"), None, "shoes.toe_cap"),
])
def test_bad_appearance_fields_raise(body, path, value, message):
    spec = sample_texture_spec(np.random.default_rng(1))
    assert spec["bottom"] is not None
    target = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(TextureError, match=re.escape(message)):
        make_texture(body, spec, 32)


@pytest.mark.parametrize("path", [("hair",), ("face", "iris"), ("top", "front"), ("top", "collar"),
                                  ("bottom", "belt"), ("shoes", "laces"), ("shoes", "sole"), ("fitzpatrick",)])
def test_missing_appearance_fields_raise(body, path):
    spec = sample_texture_spec(np.random.default_rng(1))
    target = spec
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(TextureError, match=re.escape(path[-1])):
        make_texture(body, spec, 32)


def test_a_dress_needs_no_bottom_details_and_old_versions_are_refused(body):
    dress = _dress_spec()
    assert make_texture(body, dress, 32).shape == (32, 32, 3)
    with pytest.raises(TextureError, match="version"):
        make_texture(body, dress | {"version": 1}, 32)


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


@pytest.mark.parametrize("seed", [0, 3, 7, 11])
def test_hair_lies_only_on_triangles_labelled_head(body, seed):
    """Hair is painted where the segmentation says head: texels that hair changes (the spec
    against the same spec with its hairline above the crown) lie in head triangles' UV islands,
    drawn here with PIL from the renderer's per-triangle parts; non-head islands, shrunk by 2
    texels to stay clear of bilinear bleeding across shared edges, never change."""
    spec = sample_texture_spec(np.random.default_rng(seed))
    spec["hair"] |= {"style": "long", "front": 0.6, "back": -1.5}  # far below the head
    bald = copy.deepcopy(spec)
    bald["hair"] |= {"front": 2.0, "back": 1.9}
    changed = np.abs(make_texture(body, spec, SIZE).astype(int) - make_texture(body, bald, SIZE)).max(axis=2) > 0
    parts = face_part_labels(body.data.faces, body.part_labels)
    not_head = np.asarray(_island_mask(body, np.flatnonzero(parts != HEAD_PART)).filter(ImageFilter.MinFilter(5))) > 0
    head = np.asarray(_island_mask(body, np.flatnonzero(parts == HEAD_PART))) > 0
    assert changed[head].mean() > 0.05, "no hair painted"
    assert not np.any(changed & not_head), f"{np.sum(changed & not_head)} hair texels outside the head part"

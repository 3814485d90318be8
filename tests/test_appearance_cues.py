"""Front/back cues of the procedural appearance, measured on rendered images.

Measure (independent of the painter): the default body, arms down, is rendered
orthographically from the front (camera on +z) and from the back (camera on -z) with
synth_core.raster (a z-buffer picks the visible surface; the UVs are interpolated and the
texture sampled at the nearest texel). Both views put world +x to the right, so the back view
is already mirrored left-right: a pixel shows the same (x, y) of the body from both sides. The
colour difference is CIE76 Delta E (scikit-image's rgb2lab and deltaE_cie76) averaged over the
pixels covered in both views: over the head box (the rows above the neck joint) and over the
whole silhouette. A just-noticeable difference is Delta E ~2.3 (Sharma 2003).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from skimage.color import deltaE_cie76, rgb2lab

from synth_core.body.catalog import load_body_model
from synth_core.raster import interpolate, rasterize
from synth_core.textures import make_texture, sample_texture_spec

PIXELS_PER_M = 200
BOX = (-0.5, 0.5, -0.9, 1.0)          # x0, x1, y0, y1 in metres (rest frame, y up)
SIZE = 256
SEEDS = range(120)
# Thresholds (Delta E, mean over the region): the head must differ by more than 4 JNDs on
# average (the head is about half face, half hair from the front); the whole silhouette by
# about one JND, though arms and legs look alike from both sides. Version 1 textures (skin-
# only heads, front-blind garments) measure 0.5..1.8 on the head.
HEAD_MIN_DELTA_E = 10.0
SILHOUETTE_MIN_DELTA_E = 2.0


@pytest.fixture(scope="module")
def body():
    return load_body_model()


@pytest.fixture(scope="module")
def views(body):
    """Per view: UV per pixel and coverage; plus the head rows and body landmarks."""
    arms_down = np.zeros((24, 3))
    arms_down[16, 2], arms_down[17, 2] = -np.radians(75), np.radians(75)
    vertices = body(pose=arms_down).vertices[0]
    x0, x1, y0, y1 = BOX
    width, height = int((x1 - x0) * PIXELS_PER_M), int((y1 - y0) * PIXELS_PER_M)
    points = np.column_stack([(vertices[:, 0] - x0) * PIXELS_PER_M - 0.5, (y1 - vertices[:, 1]) * PIXELS_PER_M - 0.5])
    result = {}
    for name, depth in (("front", 10.0 - vertices[:, 2]), ("back", 10.0 + vertices[:, 2])):
        raster = rasterize(points, body.data.faces, height, width, depth=depth)
        result[name] = (interpolate(raster, body.data.vt, faces=body.data.ft, fill=0.0), raster.mask)
    joints = body.data.J_regressor @ body.data.v_template
    head = body.data.v_template[body.part_labels == 16]
    nose = head[np.argmax(head[:, 2])]
    result["both"] = result["front"][1] & result["back"][1]
    result["neck_row"] = int((y1 - joints[12, 1]) * PIXELS_PER_M)
    result["pixel"] = lambda x, y: (int((y1 - y) * PIXELS_PER_M), int((x - x0) * PIXELS_PER_M))
    result["nose"], result["sole_y"] = nose, vertices[:, 1].min()
    return result


def render(texture: np.ndarray, views, view: str) -> np.ndarray:
    """The view's pixels in sRGB [0, 1] (white where no body)."""
    uv, mask = views[view]
    size = texture.shape[0]
    col = np.clip((uv[..., 0] * size).astype(int), 0, size - 1)
    row = np.clip(((1.0 - uv[..., 1]) * size).astype(int), 0, size - 1)
    image = texture[row, col].astype(float) / 255.0
    image[~mask] = 1.0
    return image


def front_back_delta_e(texture, views) -> tuple[float, float]:
    """Mean CIE76 Delta E between the front and the mirrored back view: (head box, silhouette)."""
    difference = deltaE_cie76(rgb2lab(render(texture, views, "front")), rgb2lab(render(texture, views, "back")))
    both = views["both"]
    head = both.copy()
    head[views["neck_row"]:] = False
    return float(difference[head].mean()), float(difference[both].mean())


def lab_distance(pixels: np.ndarray, colour) -> np.ndarray:
    return deltaE_cie76(rgb2lab(pixels.reshape(-1, 1, 3)), rgb2lab(np.asarray(colour, float).reshape(1, 1, 3)))[:, 0]


@pytest.mark.slow  # 120 textures and renders, ~15 s
def test_front_and_back_differ_in_every_sampled_appearance(body, views):
    measures = []
    for seed in SEEDS:
        texture = make_texture(body, sample_texture_spec(np.random.default_rng(seed)), SIZE)
        measures.append(front_back_delta_e(texture, views))
    head, silhouette = np.array(measures).T
    print(f"front/back Delta E over {len(measures)} specs: head min {head.min():.1f} median "
          f"{np.median(head):.1f}; silhouette min {silhouette.min():.1f} median {np.median(silhouette):.1f}")
    assert head.min() > HEAD_MIN_DELTA_E, np.array(SEEDS)[head <= HEAD_MIN_DELTA_E]
    assert silhouette.min() > SILHOUETTE_MIN_DELTA_E, np.array(SEEDS)[silhouette <= SILHOUETTE_MIN_DELTA_E]


def test_the_measure_sees_no_difference_on_a_uniform_texture(body, views):
    """Control: the views themselves (coverage, mirroring) add no difference."""
    head, silhouette = front_back_delta_e(np.full((SIZE, SIZE, 3), (150, 110, 90), np.uint8), views)
    assert head < 0.01 and silhouette < 0.01


@pytest.mark.parametrize("seed", range(0, 40, 3))
def test_face_at_the_front_hair_at_the_back(body, views, seed):
    """Between the nose tip and 9 cm above it on the midline (nose bridge, lower forehead) the
    front view shows skin and the back view, the same rows, hair (every style, a bald head's
    fringe included): each is nearer the spec's colour than the other one."""
    spec = sample_texture_spec(np.random.default_rng(seed))
    texture = make_texture(body, spec, SIZE)
    nose = views["nose"]
    top, left = views["pixel"](nose[0] - 0.008, nose[1] + 0.09)
    bottom, right = views["pixel"](nose[0] + 0.008, nose[1])
    for view, wanted, other in (("front", spec["skin"], spec["hair"]["colour"]),
                                ("back", spec["hair"]["colour"], spec["skin"])):
        pixels = render(texture, views, view)[top:bottom + 1, left:right + 1]
        assert views[view][1][top:bottom + 1, left:right + 1].all()
        assert np.median(lab_distance(pixels, wanted)) < np.median(lab_distance(pixels, other)), view


def test_shoes_have_soles_and_laces_at_the_front(body, views):
    """The lowest 1 cm of the feet shows the sole colour from both sides; lace-coloured
    pixels appear on the feet from the front only."""
    spec = sample_texture_spec(np.random.default_rng(0))
    spec["shoes"] |= {"fabric": {"pattern": "solid", "colour": [0.2, 0.25, 0.6], "colour2": [0.2, 0.25, 0.6]},
                      "sole": [0.95, 0.95, 0.95], "laces": [0.9, 0.1, 0.1], "kind": "shoes", "height": 0.0}
    texture = make_texture(body, spec, 512)
    sole_top, _ = views["pixel"](0.0, views["sole_y"] + 0.01)
    foot_top, _ = views["pixel"](0.0, views["sole_y"] + 0.12)
    for view in ("front", "back"):
        image, mask = render(texture, views, view), views[view][1]
        sole = image[sole_top:][mask[sole_top:]]
        assert np.mean(lab_distance(sole, spec["shoes"]["sole"]) < 10) > 0.7, view
        feet = image[foot_top:sole_top][mask[foot_top:sole_top]]
        laces = np.mean(lab_distance(feet, spec["shoes"]["laces"]) < 15)
        assert (laces > 0.03) if view == "front" else (laces == 0), (view, laces)


@pytest.mark.parametrize("front", [
    {"kind": "print", "motif": "circle", "colour": [0.95, 0.85, 0.1], "size": 0.14, "height": 0.65},
    {"kind": "open", "colour": [0.95, 0.85, 0.1], "width": 0.07},
    {"kind": "buttons", "colour": [0.95, 0.85, 0.1], "spacing": 0.06},
])
def test_garment_fronts_show_only_from_the_front(body, views, front):
    spec = sample_texture_spec(np.random.default_rng(2))
    spec["top"] |= {"kind": "shirt", "front": front, "hem": -0.2, "sleeve": 0.9,
                    "fabric": {"pattern": "solid", "colour": [0.1, 0.2, 0.5], "colour2": [0.1, 0.2, 0.5]}}
    texture = make_texture(body, spec, 512)
    top, left = views["pixel"](-0.15, 0.5)
    bottom, right = views["pixel"](0.15, 0.15)
    share = {view: np.mean(lab_distance(render(texture, views, view)[top:bottom, left:right], front["colour"]) < 15)
             for view in ("front", "back")}
    assert share["front"] > 0.005 and share["back"] == 0, share


def test_back_pockets_and_a_belt_buckle(body, views):
    """Solid trousers: pocket seams (darker) on the seat from the back only; a belt's buckle
    (light metal) at the front only."""
    spec = sample_texture_spec(np.random.default_rng(1))
    spec["top"] |= {"kind": "tshirt", "tucked": True, "front": {"kind": "none"}}
    fabric = [0.6, 0.55, 0.4]
    spec["bottom"] = {"kind": "trousers", "length": 1.0, "waist": 0.12, "waistband": False, "fly": False,
                      "pockets": True, "belt": [0.1, 0.07, 0.05],
                      "fabric": {"pattern": "solid", "colour": fabric, "colour2": fabric}}
    texture = make_texture(body, spec, 512)
    top, left = views["pixel"](-0.17, 0.1)
    bottom, right = views["pixel"](0.17, -0.15)
    seat = {view: render(texture, views, view)[top:bottom, left:right] for view in ("front", "back")}
    dark_seams = {view: np.mean(lab_distance(pixels, np.array(fabric) * 0.6) < 5) for view, pixels in seat.items()}
    assert dark_seams["back"] > 0.01 and dark_seams["front"] < 0.002, dark_seams
    top, left = views["pixel"](-0.17, 0.25)
    bottom, right = views["pixel"](0.17, 0.12)
    belt = {view: render(texture, views, view)[top:bottom, left:right] for view in ("front", "back")}
    buckle = {view: np.mean(lab_distance(pixels, [0.78, 0.74, 0.6]) < 5) for view, pixels in belt.items()}
    assert buckle["front"] > 0.001 and buckle["back"] == 0, buckle


def test_version_1_like_spec_without_cues_fails_the_measure(body, views):
    """Turning the cues off (no hair, plain garments) brings the head back under the
    threshold: the measure tells a cue-less person from one with cues."""
    spec = copy.deepcopy(sample_texture_spec(np.random.default_rng(7)))
    with_cues = front_back_delta_e(make_texture(body, spec, SIZE), views)[0]
    spec["hair"] |= {"front": 2.0, "back": 1.9}
    spec["face"] = {name: spec["skin"] for name in ("iris", "lips", "brows")}
    spec["top"] |= {"collar": False, "front": {"kind": "none"}}
    without = front_back_delta_e(make_texture(body, spec, SIZE), views)[0]
    assert with_cues > HEAD_MIN_DELTA_E > without, (with_cues, without)

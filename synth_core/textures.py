"""Procedural appearance (skin, hair, face, clothing) in a body's UV space, sampled from a seed.

A texture **spec** is a small JSON-serialisable dict (:func:`sample_texture_spec`); it is the
whole description, :func:`make_texture` draws no random numbers. :func:`make_texture` turns it
into a size x size x 3 uint8 sRGB image for the body's ``vt``/``ft`` UVs (OBJ convention: v up,
so row 0 of the image is v = 1; texel centres at ``(i + 0.5) / size``).

Spec fields (version 2; colours are sRGB triples in [0, 1]; lengths are fractions between
the body's own rest joints unless in metres, so one spec fits any SMPL-format body with UVs):

- ``seed``: seeds the noise (skin variation, hair strands, fabric grain, noise and print patterns).
- ``fitzpatrick`` (1..6) and ``skin``: the skin colour, drawn uniformly in its type's range of
  the Individual Typology Angle ITA = atan2(L* - 50, b*) (CIELAB; :data:`FITZPATRICK_ITA`);
  types are drawn uniformly, so dark skin is as common as light. Hands, neck and face are skin.
- ``hair``: ``style`` bald | buzz | short | medium | long, ``colour``, ``front`` and ``back``:
  the hairline's height at the forehead and at the back of the head, as fractions of the nose
  tip -> crown height above the nose tip (back below front; long styles reach the head's lower edge).
  The line falls from front to back with the azimuth about the head joint, so the face stays
  skin; bald keeps a fringe at the sides and back; buzz lets skin show through.
- ``face``: ``iris``, ``lips`` and ``brows`` colours of eyes (sclera, iris, pupil, lash
  line), brows, lips and nostrils, placed in proportion to the nose tip -> crown height.
- ``top``: ``kind`` tshirt | shirt | tank | dress; ``sleeve``: where sleeves end, fraction of
  shoulder -> wrist (negative: armholes inside the shoulder, a tank top); ``neckline`` crew |
  scoop | v with ``neck_depth`` (front, fraction of pelvis -> neck) and ``neck_width``
  (fraction of the shoulder joint's distance from the midline); ``hem``: fraction of pelvis ->
  neck above the pelvis (a dress: fraction of hip -> ankle down the legs); ``tucked``: the
  bottom is worn over the top where they overlap; ``collar`` (a band around the neckline);
  ``front``: what only the front shows, ``kind`` none | buttons (placket with buttons of
  ``colour`` every ``spacing`` m) | open (worn open over an inner layer of ``colour``,
  ``width`` m) | print (chest ``motif`` circle | square | band | bars of ``colour``, ``size``
  m, centred ``height`` of pelvis -> neck up); ``fabric``.
- ``bottom`` (null under a dress): ``kind`` trousers | shorts | skirt; ``length`` fraction of
  hip -> ankle; ``waist`` fraction of pelvis -> neck; ``waistband``, ``fly`` (front seam) and
  ``pockets`` (back pockets) flags, ``belt``: colour or null (with a buckle at the front); ``fabric``.
- ``shoes``: ``kind`` shoes | boots; ``height`` above the top of the foot, fraction of
  ankle -> knee; ``sole`` colour and ``sole_height`` (m) of the band around the bottom of the
  foot; ``laces``: colour of crossed laces on the top front, or null; ``toe_cap`` (darker,
  stitched); ``fabric``.
- fabric: ``pattern`` and ``colour``, ``colour2``. solid: ``colour``. stripes: ``colour2``
  where ``frac(p . direction / period + phase) < duty`` (``p`` in metres, ``direction`` a
  3-vector). checks: two stripe sets of duty 0.5 (across at ``angle`` degrees about Y, and
  along Y), averaged. noise: value noise of ``scale`` metres, ``octaves``, ``contrast``.
  print: ``motif`` dots | diamonds, one per cube of side ``period``, ``radius`` and ``jitter``
  as fractions of it. Pattern edges are soft over 2 mm; fabrics get a +-3 % grain.

Front and back: the body faces +z. Face, collar, plackets, open fronts, chest prints, fly,
buckle and laces are on the front only, pockets and the low hairline on the back only, so a
person seen from behind does not look like one facing the camera. Hair, face and details are
painted on the texels of the parts they lie on: hair only on triangles labelled head (never
the neck, which is part of the torso class), so the labels stay exact.

How garments are placed: the UV triangles are rasterized and every texel gets the body's
rest-pose 3D position and its skinning weights summed per body region (head+neck, torso,
arms, hands, legs, feet), interpolated from the vertices. Regions decide what may be covered
(garments never cover head, neck or hands; sleeve lengths apply to the arm region); the 3D position
decides where a garment ends, so a short sleeve ends part-way along the upper arm and shorts
part-way down the thigh. Patterns are functions of 3D position on the body posed with its
arms down 80 degrees (LBS, as :class:`~synth_core.body.BodyModel`), so stripes run around the
sleeves as on a real shirt and are continuous across UV seams (both UV copies of a seam
vertex get the same position). Colours are spread ``max(4, size // 128)`` texels beyond the
UV islands (the rest is their mean colour), so bilinear filtering at island borders never
picks up the background. Same spec and size -> byte-identical image.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from synth_core.body.parts import face_part_labels
from synth_core.errors import TextureError
from synth_core.raster import interpolate, rasterize

SPEC_VERSION = 2
TOP_KINDS = ("tshirt", "shirt", "tank", "dress")
BOTTOM_KINDS = ("trousers", "shorts", "skirt")
NECKLINES = ("crew", "scoop", "v")
PATTERNS = ("solid", "stripes", "checks", "noise", "print")
PRINT_MOTIFS = ("dots", "diamonds")
HAIR_STYLES = ("bald", "buzz", "short", "medium", "long")
TOP_FRONTS = ("none", "buttons", "open", "print")
CHEST_MOTIFS = ("circle", "square", "band", "bars")
MIN_SIZE, MAX_SIZE = 16, 8192

# Fitzpatrick types I..VI by the Individual Typology Angle ITA = atan2(L* - 50, b*) in degrees
# (CIELAB, D65): very light > 55, light 41..55, intermediate 28..41, tan 10..28, brown -30..10,
# dark < -30 (Chardon et al. 1991; Del Bino et al. 2006). The outer ends are where measured
# skin ends. Per type: ITA range, b* range and a* range of the sampled tones.
FITZPATRICK_ITA = {1: (55.0, 66.0), 2: (41.0, 55.0), 3: (28.0, 41.0), 4: (10.0, 28.0),
                   5: (-30.0, 10.0), 6: (-60.0, -30.0)}
SKIN_B = {1: (11.0, 15.0), 2: (13.0, 17.0), 3: (15.0, 19.0), 4: (16.0, 21.0), 5: (15.0, 21.0), 6: (9.0, 16.0)}
SKIN_A = {1: (6.0, 10.0), 2: (7.0, 11.0), 3: (8.0, 12.0), 4: (9.0, 13.0), 5: (9.0, 13.0), 6: (8.0, 12.0)}
ITA_MARGIN = 1.0                 # degrees kept clear of a type's boundaries

# Natural hair colours (sRGB) and how often they are drawn.
HAIR_COLOURS = {
    "black": ([0.045, 0.038, 0.034], 0.3), "dark_brown": ([0.16, 0.10, 0.065], 0.25),
    "brown": ([0.32, 0.21, 0.12], 0.16), "blond": ([0.70, 0.56, 0.34], 0.1),
    "auburn": ([0.45, 0.17, 0.07], 0.07), "grey": ([0.50, 0.49, 0.47], 0.08),
    "white": ([0.78, 0.77, 0.74], 0.04),
}
HAIR_MIN_DELTA_E = 30.0
IRIS_COLOURS = ([0.18, 0.10, 0.05], [0.30, 0.18, 0.08], [0.35, 0.30, 0.15], [0.25, 0.38, 0.55],
                [0.28, 0.38, 0.25])
# Hair styles: probability, front hairline and lower edge at the back, as fractions of the
# nose tip -> crown height above the nose tip (negative: below it).
HAIR_SHAPES = {"bald": (0.06, (0.95, 1.05), (-0.3, -0.2)), "buzz": (0.14, (0.68, 0.76), (-0.35, -0.25)),
               "short": (0.32, (0.66, 0.74), (-0.45, -0.3)), "medium": (0.26, (0.62, 0.72), (-0.7, -0.5)),
               "long": (0.22, (0.6, 0.7), (-1.1, -0.85))}

# Common garment colours (sRGB): black, white, greys, navy, denim, khaki, brown, beige, olive, burgundy.
NEUTRALS = np.array([
    [0.08, 0.08, 0.09], [0.92, 0.92, 0.90], [0.50, 0.50, 0.50], [0.25, 0.25, 0.27],
    [0.12, 0.15, 0.32], [0.25, 0.36, 0.53], [0.72, 0.65, 0.48], [0.40, 0.27, 0.18],
    [0.85, 0.78, 0.66], [0.38, 0.40, 0.22], [0.45, 0.10, 0.15],
])

# SMPL joint indices grouped into the regions that decide coverage.
REGION_JOINTS = {
    "headneck": (12, 15),
    "torso": (0, 3, 6, 9, 13, 14),
    "arm": (16, 17, 18, 19),
    "hand": (20, 21, 22, 23),
    "leg": (1, 2, 4, 5),
    "foot": (7, 8, 10, 11),
}
FOOT_PARTS = (8, 9, 11, 12)      # leftFoot, rightFoot, leftToeBase, rightToeBase (1-based)
HEAD_PART = 16                   # head (1-based)
ARMS_DOWN_DEG = 80.0             # shoulder rotation of the pose the patterns are laid out in
EDGE_M = 0.002                   # soft pattern edges (metres), about a texel at 1024


# --- sampling -------------------------------------------------------------------------------

def sample_texture_spec(rng: np.random.Generator) -> dict:
    """A random person's appearance as a JSON-serialisable spec (fields: module docstring).

    The Fitzpatrick type is uniform over I..VI and the skin tone uniform in the type's ITA
    range; garment colours are common neutrals or random hues; sleeve, hem and leg lengths vary
    per kind; hair style and colour, face colours and garment details are drawn last."""
    top_kind = _choice(rng, TOP_KINDS, (0.35, 0.3, 0.15, 0.2))
    fitzpatrick, skin = _sample_skin(rng)
    spec = {
        "version": SPEC_VERSION,
        "seed": int(rng.integers(0, 2**31 - 1)),
        "fitzpatrick": fitzpatrick,
        "skin": _rounded(skin),
        "top": _sample_top(rng, top_kind),
        "bottom": None if top_kind == "dress" else _sample_bottom(rng),
        "shoes": _sample_shoes(rng),
    }
    spec["hair"] = _sample_hair(rng, skin, fitzpatrick)
    spec["face"] = _sample_face(rng, skin, spec["hair"])
    return spec


def _choice(rng, options, p):
    return str(options[int(rng.choice(len(options), p=p))])


def _rounded(values, digits: int = 4):
    if np.ndim(values) == 0:
        return round(float(values), digits)
    return [round(float(v), digits) for v in values]


def _sample_skin(rng) -> tuple[int, np.ndarray]:
    """(Fitzpatrick type, sRGB skin): the type uniform over I..VI, the ITA uniform in the type's
    range, b* and a* in the type's ranges, L* = 50 + b* tan(ITA)."""
    fitzpatrick = int(rng.integers(1, 7))
    low, high = FITZPATRICK_ITA[fitzpatrick]
    ita = np.radians(rng.uniform(low + ITA_MARGIN, high - ITA_MARGIN))
    b = rng.uniform(*SKIN_B[fitzpatrick])
    a = rng.uniform(*SKIN_A[fitzpatrick])
    return fitzpatrick, _lab_to_srgb(50.0 + b * np.tan(ita), a, b)


def _lab_to_srgb(lightness, a, b) -> np.ndarray:
    """CIELAB (D65) -> sRGB in [0, 1] (clipped)."""
    fy = (lightness + 16.0) / 116.0
    f = np.array([fy + a / 500.0, fy, fy - b / 200.0])
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * np.array([0.95047, 1.0, 1.08883])
    linear = np.array([[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560],
                       [0.0556434, -0.2040259, 1.0572252]]) @ xyz
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def _srgb_to_lab(rgb) -> np.ndarray:
    """sRGB in [0, 1] -> CIELAB (D65), for colours derived from the skin."""
    rgb = np.asarray(rgb, dtype=float)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                    [0.0193339, 0.1191920, 0.9503041]]) @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])])


def _sample_hair(rng, skin: np.ndarray, fitzpatrick: int) -> dict:
    """Style, colour and hairline heights. Darker skin types mostly get black or dark brown
    hair; a colour within HAIR_MIN_DELTA_E of the skin is pushed away from it in L* (the
    hair/face contrast is the main front/back cue)."""
    names = list(HAIR_SHAPES)
    style = _choice(rng, names, [HAIR_SHAPES[n][0] for n in names])
    _, front, back = HAIR_SHAPES[style]
    colours = list(HAIR_COLOURS)
    weights = np.array([HAIR_COLOURS[n][1] for n in colours])
    if fitzpatrick >= 5:
        weights = weights * np.array([3.0, 1.5, 0.3, 0.1, 0.1, 1.0, 1.0])
    colour_name = _choice(rng, colours, weights / weights.sum())
    colour = np.asarray(HAIR_COLOURS[colour_name][0]) * rng.uniform(0.95, 1.05, 3) * rng.uniform(0.85, 1.1)
    colour = _away_from(np.clip(colour, 0.0, 1.0), skin, HAIR_MIN_DELTA_E)
    return {"style": style, "colour": _rounded(colour),
            "front": _rounded(rng.uniform(*front)), "back": _rounded(rng.uniform(*back))}


def _away_from(colour: np.ndarray, reference: np.ndarray, min_delta_e: float) -> np.ndarray:
    """``colour`` with its L* moved away from ``reference``'s until their CIE76 distance is at
    least ``min_delta_e`` (darker where the colour is darker, else lighter, within 2..95)."""
    lab, ref = _srgb_to_lab(colour), _srgb_to_lab(reference)
    chroma_distance = np.hypot(lab[1] - ref[1], lab[2] - ref[2])
    if np.hypot(lab[0] - ref[0], chroma_distance) >= min_delta_e:
        return colour
    step = np.sqrt(max(min_delta_e**2 - chroma_distance**2, 0.0))
    darker = lab[0] <= ref[0] and ref[0] - step >= 2.0 or ref[0] + step > 95.0
    lightness = ref[0] - step if darker else ref[0] + step
    return _lab_to_srgb(np.clip(lightness, 2.0, 95.0), lab[1], lab[2])


def _sample_face(rng, skin: np.ndarray, hair: dict) -> dict:
    """Iris, lip and brow colours: lips darker and redder than the skin, brows the hair's
    colour (darker where the hair is very light or absent)."""
    lightness, a, b = _srgb_to_lab(skin)
    lips = _lab_to_srgb(lightness - rng.uniform(8.0, 16.0), a + rng.uniform(8.0, 16.0), b + rng.uniform(-2.0, 3.0))
    light_skin = lightness > 55
    iris = IRIS_COLOURS[int(rng.integers(len(IRIS_COLOURS) if light_skin else 2))]
    brows = np.asarray(hair["colour"], dtype=float)
    if hair["style"] == "bald" or _luma(brows) > 0.35:
        brows = brows * 0.55
    return {"iris": _rounded(np.asarray(iris) * rng.uniform(0.8, 1.2)), "lips": _rounded(lips),
            "brows": _rounded(brows)}


def _sample_colour(rng, neutral_probability: float) -> np.ndarray:
    if rng.uniform() < neutral_probability:
        base = NEUTRALS[int(rng.integers(len(NEUTRALS)))]
        return np.clip(base * rng.uniform(0.9, 1.1), 0.0, 1.0)
    hue, saturation, value = rng.uniform(0, 1), rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.95)
    return _hsv_to_rgb(hue, saturation, value)


def _hsv_to_rgb(hue: float, saturation: float, value: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
    return value - value * saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _luma(rgb) -> float:
    return float(np.dot(rgb, [0.2126, 0.7152, 0.0722]))


def _sample_fabric(rng, pattern_p, neutral_probability: float) -> dict:
    colour = _sample_colour(rng, neutral_probability)
    second = _sample_colour(rng, 0.5)
    if abs(_luma(second) - _luma(colour)) < 0.2:   # keep patterns visible
        second = np.clip(second + (0.35 if _luma(colour) < 0.5 else -0.35), 0.0, 1.0)
    pattern = _choice(rng, PATTERNS, pattern_p)
    fabric = {"pattern": pattern, "colour": _rounded(colour), "colour2": _rounded(second)}
    if pattern == "stripes":
        kind = _choice(rng, ("horizontal", "vertical", "diagonal"), (0.5, 0.25, 0.25))
        fabric |= {"direction": _rounded(_stripe_direction(rng, kind)),
                   "period": _rounded(rng.uniform(0.015, 0.12)), "duty": _rounded(rng.uniform(0.25, 0.6)),
                   "phase": _rounded(rng.uniform())}
    elif pattern == "checks":
        fabric |= {"period": _rounded(rng.uniform(0.02, 0.1)), "angle": _rounded(rng.uniform(20, 70)),
                   "phase": _rounded(rng.uniform())}
    elif pattern == "noise":
        fabric |= {"scale": _rounded(rng.uniform(0.03, 0.2)), "octaves": int(rng.integers(1, 4)),
                   "contrast": _rounded(rng.uniform(1.0, 3.0))}
    elif pattern == "print":
        fabric |= {"motif": _choice(rng, PRINT_MOTIFS, (0.7, 0.3)), "period": _rounded(rng.uniform(0.02, 0.07)),
                   "radius": _rounded(rng.uniform(0.2, 0.4)), "jitter": _rounded(rng.uniform(0.0, 0.1))}
    return fabric


def _stripe_direction(rng, kind: str) -> np.ndarray:
    """Unit vector across the stripes, in the arms-down body frame (Y up, facing +Z)."""
    if kind == "horizontal":
        return np.array([0.0, 1.0, 0.0])
    azimuth = np.radians(rng.uniform(25, 65)) * rng.choice([-1, 1])   # seen from front and side
    across = np.array([np.cos(azimuth), 0.0, np.sin(azimuth)])
    if kind == "vertical":
        return across
    tilt = np.radians(rng.uniform(25, 65))
    return np.cos(tilt) * across + np.sin(tilt) * np.array([0.0, 1.0, 0.0])


TOP_PATTERN_P = (0.4, 0.2, 0.15, 0.1, 0.15)
BOTTOM_PATTERN_P = (0.65, 0.08, 0.12, 0.1, 0.05)
SHOE_PATTERN_P = (0.8, 0.05, 0.0, 0.15, 0.0)
SOLE_COLOURS = np.array([[0.92, 0.91, 0.88], [0.07, 0.07, 0.07], [0.55, 0.38, 0.22], [0.75, 0.62, 0.45]])
SLEEVES = {"tshirt": (0.15, 0.45), "shirt": (0.75, 0.97), "tank": (-0.25, -0.1)}
LEG_LENGTHS = {"trousers": (0.88, 1.05), "shorts": (0.2, 0.5), "skirt": (0.2, 0.75)}


def _sample_top(rng, kind: str) -> dict:
    sleeve_kind = kind if kind != "dress" else _choice(rng, ("tshirt", "shirt", "tank"), (0.4, 0.2, 0.4))
    neckline = _choice(rng, NECKLINES, (0.5, 0.3, 0.2))
    depth = {"crew": (0.05, 0.1), "scoop": (0.1, 0.25), "v": (0.12, 0.3)}[neckline]  # front below back
    top = {
        "kind": kind,
        "sleeve": _rounded(rng.uniform(*SLEEVES[sleeve_kind])),
        "neckline": neckline,
        "neck_depth": _rounded(rng.uniform(*depth)),
        "neck_width": _rounded(rng.uniform(0.45, 0.65)),
        # Fraction of pelvis -> neck (top) or of hip -> ankle (dress).
        "hem": _rounded(rng.uniform(0.2, 0.8) if kind == "dress" else rng.uniform(-0.2, 0.05)),
        "tucked": bool(rng.uniform() < 0.3),
        "fabric": _sample_fabric(rng, TOP_PATTERN_P, 0.4),
    }
    top["collar"] = kind == "shirt"
    top["front"] = _sample_top_front(rng, kind, top["fabric"])
    return top


def _sample_top_front(rng, kind: str, fabric: dict) -> dict:
    """What only the front of a top shows: a shirt is buttoned (placket and buttons) or worn
    open over an inner layer; a t-shirt or tank often has a chest print; a dress buttons or a
    print."""
    p = {"shirt": (0.0, 0.55, 0.45, 0.0), "tshirt": (0.35, 0.0, 0.0, 0.65), "tank": (0.45, 0.0, 0.0, 0.55),
         "dress": (0.3, 0.4, 0.0, 0.3)}[kind]
    front_kind = _choice(rng, TOP_FRONTS, p)
    if front_kind == "buttons":
        return {"kind": front_kind, "colour": _rounded(_contrasting(rng, fabric["colour"])),
                "spacing": _rounded(rng.uniform(0.07, 0.1))}
    if front_kind == "open":
        return {"kind": front_kind, "colour": _rounded(_contrasting(rng, fabric["colour"])),
                "width": _rounded(rng.uniform(0.05, 0.09))}
    if front_kind == "print":
        return {"kind": front_kind, "motif": _choice(rng, CHEST_MOTIFS, (0.3, 0.25, 0.2, 0.25)),
                "colour": _rounded(_contrasting(rng, fabric["colour"])), "size": _rounded(rng.uniform(0.08, 0.16)),
                "height": _rounded(rng.uniform(0.55, 0.75))}
    return {"kind": "none"}


def _contrasting(rng, colour) -> np.ndarray:
    """A colour at least 0.3 away in luma from ``colour`` (prints, buttons, inner layers)."""
    other = _sample_colour(rng, 0.5)
    if abs(_luma(other) - _luma(colour)) < 0.3:
        other = np.clip(other + (0.5 if _luma(colour) < 0.5 else -0.5), 0.0, 1.0)
    return other


def _sample_bottom(rng) -> dict:
    kind = _choice(rng, BOTTOM_KINDS, (0.5, 0.25, 0.25))
    return {
        "kind": kind,
        "length": _rounded(rng.uniform(*LEG_LENGTHS[kind])),  # fraction of hip -> ankle
        "waist": _rounded(rng.uniform(0.05, 0.25)),           # fraction of pelvis -> neck
        "fabric": _sample_fabric(rng, BOTTOM_PATTERN_P, 0.7),
        "waistband": bool(rng.uniform() < 0.8),
        "belt": _rounded(NEUTRALS[int(rng.choice([0, 7, 3]))] * rng.uniform(0.8, 1.1))
        if kind != "skirt" and rng.uniform() < 0.35 else None,
        "fly": kind != "skirt",
        "pockets": kind != "skirt" and bool(rng.uniform() < 0.85),
    }


def _sample_shoes(rng) -> dict:
    boots = rng.uniform() < 0.15
    return {
        "kind": "boots" if boots else "shoes",
        "height": _rounded(rng.uniform(0.25, 0.6) if boots else rng.uniform(0.0, 0.08)),  # of ankle -> knee
        "fabric": _sample_fabric(rng, SHOE_PATTERN_P, 0.75),
        "sole": _rounded(SOLE_COLOURS[int(rng.choice(len(SOLE_COLOURS), p=(0.4, 0.35, 0.15, 0.1)))]),
        "sole_height": _rounded(rng.uniform(0.015, 0.03)),          # metres
        "laces": _rounded(_contrasting(rng, [0.5, 0.5, 0.5])) if rng.uniform() < 0.75 else None,
        "toe_cap": bool(rng.uniform() < 0.5),
    }


def texture_id(spec: dict) -> str:
    """Short stable id of a procedural texture: ``proc-`` + 12 hex digits of its canonical JSON."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return "proc-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]


# --- making the image ------------------------------------------------------------------------

def make_texture(model, spec: dict, size: int = 1024) -> np.ndarray:
    """The texture of ``spec`` for ``model`` (a BodyModel with UVs): size x size x 3 uint8 sRGB."""
    _check_spec(spec)
    if not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise TextureError(f"texture size must be an integer in {MIN_SIZE}..{MAX_SIZE}, got {size!r}")
    data = model.data
    if data.vt is None or data.ft is None:
        raise TextureError(f"body model {data.source} has no UV coordinates (vt/ft), so it cannot be "
                           "textured; use a model file with 'vt' and 'ft'")
    texels = _shared_texel_geometry(model, int(size))
    colour = _paint_outfit(texels, spec)
    image = np.zeros((size * size, 3))
    image[texels["index"]] = colour
    filled = np.zeros(size * size, dtype=bool)
    filled[texels["index"]] = True
    image = _dilate(image.reshape(size, size, 3), filled.reshape(size, size), max(4, size // 128))
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# A worker paints a new outfit for every clip on one of a few bodies (the default farm: two); the
# texels' geometry depends on the body (hashed by identity) and the size alone, and is 60% of the
# painting time at 1024. ~70 MB each at 1024, read-only so that no outfit can change the next one's.
TEXEL_CACHE_BODIES = 2


@functools.lru_cache(maxsize=TEXEL_CACHE_BODIES)
def _shared_texel_geometry(model, size: int) -> dict:
    """:func:`_texel_geometry`, kept for the last TEXEL_CACHE_BODIES (model, size) pairs."""
    texels = _texel_geometry(model, size)
    for value in [*texels.values(), *texels["landmarks"].values()]:
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return texels


def _texel_geometry(model, size: int) -> dict:
    """Per covered texel: flat index, rest position, arms-down position, region weights, part
    (1..24, the part its triangle is labelled in the segmentation)."""
    data = model.data
    uv = np.column_stack([data.vt[:, 0] * size - 0.5, (1.0 - data.vt[:, 1]) * size - 0.5])
    raster = rasterize(uv, data.ft, size, size)
    arms_down = np.zeros((24, 3))
    arms_down[16, 2], arms_down[17, 2] = -np.radians(ARMS_DOWN_DEG), np.radians(ARMS_DOWN_DEG)
    posed = model(pose=arms_down).vertices[0]
    regions = np.stack([data.weights[:, list(joints)].sum(axis=1) for joints in REGION_JOINTS.values()], 1)
    per_vertex = np.concatenate([data.v_template, posed, regions], axis=1)
    values = interpolate(raster, per_vertex, faces=data.faces).reshape(size * size, -1)
    index = np.flatnonzero(raster.mask.ravel())
    values = values[index]
    part = face_part_labels(data.faces, model.part_labels)[raster.face.ravel()[index]]
    texels = {"index": index, "rest": values[:, 0:3], "pattern": values[:, 3:6], "part": part,
              "landmarks": _landmarks(model)}
    for k, name in enumerate(REGION_JOINTS):
        texels[name] = values[:, 6 + k]
    return texels


def _landmarks(model) -> dict:
    """Rest-pose positions the garments, hair and face are placed against: joints (both sides
    averaged) and, found from the vertices, the nose tip (the head's most forward vertex), the
    crown (its highest) and the soles and toes of the feet."""
    data = model.data
    joints = data.J_regressor @ data.v_template
    foot = np.isin(model.part_labels, FOOT_PARTS)
    ankle_y = joints[[7, 8], 1].mean()
    head = data.v_template[model.part_labels == HEAD_PART]
    if len(head) == 0:   # a body without head vertices: a generic head around the head joint
        head = joints[15] + np.array([[0.0, 0.15, 0.0], [0.0, 0.0, 0.1]])
    nose = head[np.argmax(head[:, 2])]
    feet = data.v_template[foot] if foot.any() else joints[[10, 11]]
    return {
        "pelvis_y": joints[0, 1], "pelvis_z": joints[0, 2], "neck_y": joints[12, 1], "neck_z": joints[12, 2],
        "hip_y": joints[[1, 2], 1].mean(), "knee_y": joints[[4, 5], 1].mean(),
        "ankle_y": ankle_y, "ankle_z": joints[[7, 8], 2].mean(),
        "foot_top_y": data.v_template[foot, 1].max(initial=ankle_y),
        "sole_y": feet[:, 1].min(), "toe_z": feet[:, 2].max(), "foot_x": np.abs(feet[:, 0]).mean(),
        "shoulder_x": np.abs(joints[[16, 17], 0]).mean(), "wrist_x": np.abs(joints[[20, 21], 0]).mean(),
        "head_x": joints[15, 0], "head_z": joints[15, 2], "nose_y": nose[1], "nose_z": nose[2],
        "face_unit": max(head[:, 1].max() - nose[1], 1e-3),   # nose tip -> crown height
    }


def _paint_outfit(texels: dict, spec: dict) -> np.ndarray:
    """n x 3 sRGB colours in [0, 1] of the texels (skin, face, hair, then garments in layering
    order, each garment with its details)."""
    marks = texels["landmarks"]
    rest = texels["rest"]
    skin_only = (texels["headneck"] >= 0.5) | (texels["hand"] >= 0.5)
    colour = _skin(texels, spec)
    head = np.flatnonzero(texels["headneck"] >= 0.5)
    colour[head] = _paint_face(colour[head], rest[head], spec, marks)
    scalp = np.flatnonzero(texels["part"] == HEAD_PART)  # hair is labelled head, never neck
    colour[scalp] = _paint_hair(colour[scalp], rest[scalp], spec, marks)

    top, bottom, shoes = spec["top"], spec["bottom"], spec["shoes"]
    layers = [(_top_mask(texels, top, marks), top["fabric"], 1, _top_details)]
    if bottom is not None:
        bottom_layer = (_bottom_mask(rest, bottom, marks), bottom["fabric"], 2, _bottom_details)
        layers = layers + [bottom_layer] if top["tucked"] else [bottom_layer] + layers
    shoe_top = marks["foot_top_y"] + shoes["height"] * (marks["knee_y"] - marks["ankle_y"])
    layers.append((rest[:, 1] <= shoe_top, shoes["fabric"], 3, _shoe_details))
    for mask, fabric, salt, details in layers:
        covered = np.flatnonzero(mask & ~skin_only)
        garment = _fabric_colour(texels["pattern"][covered], fabric, spec["seed"] + 7919 * salt)
        colour[covered] = details(garment, rest[covered], texels, covered, spec, marks)
    return colour


def _skin(texels, spec) -> np.ndarray:
    variation = _value_noise(texels["pattern"], 0.05, spec["seed"], octaves=1)
    return np.asarray(spec["skin"]) * (0.96 + 0.08 * variation)[:, None]


def _top_mask(texels, top, marks) -> np.ndarray:
    rest = texels["rest"]
    x, y, z = rest[:, 0], rest[:, 1], rest[:, 2]
    sleeve_x = marks["shoulder_x"] + top["sleeve"] * (marks["wrist_x"] - marks["shoulder_x"])
    in_sleeve = (texels["arm"] < 0.5) | (np.abs(x) <= sleeve_x)
    return (y >= _hem_y(top, marks)) & in_sleeve & ~_neck_opening(x, y, z, top, marks)


def _hem_y(top, marks) -> float:
    if top["kind"] == "dress":
        return marks["hip_y"] + top["hem"] * (marks["ankle_y"] - marks["hip_y"])
    return marks["pelvis_y"] + top["hem"] * (marks["neck_y"] - marks["pelvis_y"])


def _neck_opening(x, y, z, top, marks, grow: float = 0.0) -> np.ndarray:
    """Texels above the neckline: a shallow crew at the back; at the front the spec's depth,
    shaped crew (rounded), scoop (wide and round) or v (straight to the centre). ``grow``
    (metres) lowers and widens the line (a collar is the band between the two)."""
    torso = marks["neck_y"] - marks["pelvis_y"]
    half_width = top["neck_width"] * marks["shoulder_x"] + grow
    across = np.clip(np.abs(x) / half_width, 0.0, 1.0)
    shape = {"crew": 1.0 - across**2, "scoop": np.sqrt(1.0 - across**2), "v": 1.0 - across}
    back_depth = 0.04 * torso + grow
    front_depth = back_depth + top["neck_depth"] * torso * shape[top["neckline"]]
    depth = np.where(z > marks["neck_z"], front_depth, back_depth)
    return (np.abs(x) < half_width) & (y > marks["neck_y"] - depth)


def _bottom_mask(rest, bottom, marks) -> np.ndarray:
    y = rest[:, 1]
    leg_end_y = marks["hip_y"] + bottom["length"] * (marks["ankle_y"] - marks["hip_y"])
    return (y <= _waist_y(bottom, marks)) & (y >= leg_end_y)


def _waist_y(bottom, marks) -> float:
    return marks["pelvis_y"] + bottom["waist"] * (marks["neck_y"] - marks["pelvis_y"])


# --- face and hair (on the head and neck texels) -------------------------------------------------

def _face_coordinates(rest, marks):
    """(across, up) from the nose tip in units of the nose -> crown height, and whether the
    texel is on the front of the head (where the face is)."""
    unit = marks["face_unit"]
    across = (rest[:, 0] - marks["head_x"]) / unit
    up = (rest[:, 1] - marks["nose_y"]) / unit
    front = rest[:, 2] > marks["head_z"] + 0.55 * (marks["nose_z"] - marks["head_z"])
    return across, up, front


def _paint_face(colour, rest, spec, marks) -> np.ndarray:
    """Eyes (sclera, iris, pupil, lash line), brows, lips and nostrils, placed by proportions of
    an adult face: eyes 0.23 and brows 0.36 nose->crown heights above the nose tip, eye centres
    0.21 to each side (about 63 mm apart), the mouth 0.23 below the nose tip."""
    face = spec["face"]
    across, up, front = _face_coordinates(rest, marks)
    colour = colour.copy()
    side = np.abs(across)

    lips_height = np.where(up > -0.23, 0.05 * (1.0 - 0.35 * np.exp(-(across / 0.03) ** 2)), 0.065)
    lips = front & (side < 0.17) & (np.abs(up + 0.23) < lips_height * np.sqrt(np.clip(1 - (side / 0.17) ** 2, 0, 1)))
    colour[lips] = np.asarray(face["lips"])
    slit = front & (side < 0.15) & (np.abs(up + 0.23) < 0.006)
    colour[slit] = np.asarray(face["lips"]) * 0.45
    nostrils = front & (np.abs(side - 0.055) < 0.025) & (np.abs(up + 0.055) < 0.014)
    colour[nostrils] *= 0.55

    brow_up = 0.36 + 0.035 * (1.0 - ((side - 0.2) / 0.14) ** 2)
    brow_half = 0.022 * np.clip(1.2 - (side - 0.07) / 0.3, 0.4, 1.0)   # thinner towards the temples
    brows = front & (side > 0.06) & (side < 0.34) & (np.abs(up - brow_up) < brow_half)
    colour[brows] = np.asarray(face["brows"])

    eye_x, eye_y = side - 0.21, up - 0.23
    opening = (eye_x / 0.1) ** 2 + (eye_y / (0.036 * (1 + 0.25 * np.sign(eye_y)))) ** 2
    eye = front & (opening < 1.0)
    radius = np.hypot(eye_x, eye_y)
    colour[eye] = [0.88, 0.86, 0.82]
    colour[eye & (radius < 0.036)] = np.asarray(face["iris"])
    colour[eye & (radius < 0.015)] = [0.02, 0.02, 0.02]
    lash = front & (opening >= 0.75) & (opening < 1.5) & (eye_y > 0.0)
    colour[lash] = np.asarray(face["brows"]) * 0.4
    return colour


# Hairline: the front line holds over +-40 degrees about the head's vertical axis, then falls
# to the back line by this azimuth (short styles keep the ears clear).
HAIR_SIDE_DEG = {"bald": 150.0, "buzz": 150.0, "short": 150.0, "medium": 115.0, "long": 110.0}


def _paint_hair(colour, rest, spec, marks) -> np.ndarray:
    """Hair over the skin above a hairline that is high at the forehead (the face stays skin)
    and low at the back (down the nape for long styles); a bald style keeps a horseshoe fringe
    at the sides and back. Strands: value noise stretched 12x along the fall of the hair."""
    hair = spec["hair"]
    _, up, _ = _face_coordinates(rest, marks)
    azimuth = np.degrees(np.abs(np.arctan2(rest[:, 0] - marks["head_x"], rest[:, 2] - marks["head_z"])))
    t = np.clip((azimuth - 40.0) / (HAIR_SIDE_DEG[hair["style"]] - 40.0), 0.0, 1.0)
    t = t * t * (3.0 - 2.0 * t)
    line = hair["front"] * (1.0 - t) + hair["back"] * t
    near = np.flatnonzero(up - line > -0.08)      # the rest stays skin whatever the wobble
    rest, up, azimuth, line = rest[near], up[near], azimuth[near], line[near]
    wobble = _value_noise(rest, 0.01, spec["seed"] + 31, octaves=2) - 0.5
    cover = np.clip((up - line - 0.06 * wobble) / 0.03 + 0.5, 0.0, 1.0)
    if hair["style"] == "bald":
        top_edge = 0.32 + 0.25 * np.clip((azimuth - 80.0) / 100.0, 0.0, 1.0) + 0.1 * wobble
        cover *= np.clip((top_edge - up) / 0.03 + 0.5, 0.0, 1.0) * np.clip((azimuth - 75.0) / 10.0, 0.0, 1.0)
    if hair["style"] == "buzz":          # skin shows through
        cover *= 0.85
    arc = np.radians(azimuth) * 0.09                              # metres around the head
    strands = np.column_stack([arc, rest[:, 1] / 12.0, np.zeros(len(rest))])
    fine = _value_noise(strands, 0.0025, spec["seed"] + 37, octaves=2)
    tone = _value_noise(rest, 0.04, spec["seed"] + 41, octaves=1)
    shade = 0.62 + 0.5 * fine + 0.2 * (tone - 0.5)
    hair_colour = np.clip(np.asarray(hair["colour"]) * shade[:, None] + 0.03 * (fine[:, None] - 0.5), 0.0, 1.0)
    colour = colour.copy()
    colour[near] = colour[near] * (1.0 - cover[:, None]) + hair_colour * cover[:, None]
    return colour


# --- garment details (functions of the rest position) ----------------------------------------

def _top_details(garment, rest, texels, covered, spec, marks) -> np.ndarray:
    """Collar, and the front: placket and buttons, an open front over an inner layer, or a
    chest print. The front is the torso side facing +z."""
    top = spec["top"]
    x, y, z = rest[:, 0], rest[:, 1], rest[:, 2]
    front_of_torso = (z > marks["neck_z"]) & (texels["torso"][covered] >= 0.5)
    opening_low = marks["neck_y"] - 0.04 * (marks["neck_y"] - marks["pelvis_y"]) \
        - top["neck_depth"] * (marks["neck_y"] - marks["pelvis_y"])
    details = top["front"]
    if details["kind"] == "buttons":
        placket = front_of_torso & (np.abs(x) < 0.014) & (y < opening_low)
        garment[placket] *= 0.9
        garment[placket & (np.abs(np.abs(x) - 0.014) < 0.0018)] *= 0.6    # stitched edges
        step = np.mod(opening_low - y, details["spacing"]) - 0.5 * details["spacing"]
        garment[placket & (np.hypot(x, step) < 0.0065)] = np.asarray(details["colour"])
    elif details["kind"] == "open":
        half = 0.5 * details["width"]
        inside = front_of_torso & (np.abs(x) < half) & (y < opening_low + 0.02)
        garment[inside] = np.asarray(details["colour"])
        garment[front_of_torso & (np.abs(np.abs(x) - half - 0.004) < 0.004) & (y < opening_low + 0.02)] *= 0.55
    elif details["kind"] == "print":
        centre_y = marks["pelvis_y"] + details["height"] * (marks["neck_y"] - marks["pelvis_y"])
        garment[front_of_torso & _chest_motif(x, y - centre_y, details)] = np.asarray(details["colour"])
    if top["collar"]:
        band = _neck_opening(x, y, z, top, marks, grow=0.035) & ~_neck_opening(x, y, z, top, marks)
        garment[band] = np.clip(garment[band] * 1.12 + 0.03, 0.0, 1.0)
        edge = _neck_opening(x, y, z, top, marks, grow=0.035) & ~_neck_opening(x, y, z, top, marks, grow=0.03)
        garment[edge] *= 0.5
    return garment


def _chest_motif(x, dy, details) -> np.ndarray:
    half = 0.5 * details["size"]
    motif = details["motif"]
    if motif == "circle":
        return np.hypot(x, dy) < half
    if motif == "square":
        return (np.abs(x) < half) & (np.abs(dy) < half)
    if motif == "band":
        return np.abs(dy) < 0.35 * half
    rows = np.mod(dy / (0.4 * half), 1.0) < 0.55                   # "bars": lines like text
    return (np.abs(x) < half) & (np.abs(dy) < 0.6 * half) & rows


def _bottom_details(garment, rest, texels, covered, spec, marks) -> np.ndarray:
    """Waistband or belt with a buckle at the front, the fly (front) and back pockets."""
    bottom = spec["bottom"]
    x, y, z = rest[:, 0], rest[:, 1], rest[:, 2]
    waist_y = _waist_y(bottom, marks)
    front, back = z > marks["pelvis_z"] + 0.02, z < marks["pelvis_z"] - 0.02
    band = y > waist_y - 0.035
    if bottom["waistband"]:
        garment[band] *= 0.85
        garment[np.abs(y - (waist_y - 0.035)) < 0.0015] *= 0.6
    if bottom["belt"] is not None:
        belt = (y > waist_y - 0.03) & (y < waist_y - 0.004)
        garment[belt] = np.asarray(bottom["belt"])
        garment[belt & front & (np.abs(x) < 0.025)] = [0.78, 0.74, 0.6]
    if bottom["fly"]:
        fly = front & (np.abs(x - 0.015) < 0.0018) & (y < waist_y - 0.035) & (y > waist_y - 0.2)
        garment[fly] *= 0.55
    if bottom["pockets"]:
        across = np.abs(np.abs(x) - 0.075)
        pocket_top, pocket_low = waist_y - 0.07, waist_y - 0.22
        bottom_edge = pocket_low + 0.03 * (across / 0.065)
        pocket = back & (across < 0.065) & (y < pocket_top) & (y > bottom_edge)
        garment[pocket] *= 0.92
        seam = pocket & ((across > 0.058) | (y > pocket_top - 0.006) | (y < bottom_edge + 0.006))
        garment[seam] *= 0.6
    return garment


def _shoe_details(garment, rest, texels, covered, spec, marks) -> np.ndarray:
    """Sole band around the bottom of the foot, toe cap, and crossed laces on the top front."""
    shoes = spec["shoes"]
    x, y, z = rest[:, 0], rest[:, 1], rest[:, 2]
    on_foot = texels["foot"][covered] >= 0.5
    sole_top = marks["sole_y"] + shoes["sole_height"]
    upper = on_foot & (y >= sole_top)
    if shoes["toe_cap"]:   # a darker cap with a stitched edge (a colour of its own would outline the toes)
        cap = upper & (z > marks["toe_z"] - 0.04)
        garment[cap] *= 0.82
        garment[upper & (np.abs(z - (marks["toe_z"] - 0.04)) < 0.0015)] *= 0.6
    garment[on_foot & (y < sole_top)] = np.asarray(shoes["sole"])
    if shoes["laces"] is not None:
        lateral = np.abs(x) - marks["foot_x"]
        zone = upper & (np.abs(lateral) < 0.016) & (z > marks["ankle_z"] + 0.03) \
            & (z < marks["toe_z"] - 0.06) & (y > marks["sole_y"] + 0.045)
        garment[zone] *= 0.75                                               # tongue
        cross = np.minimum(np.mod((z + lateral) / 0.016, 1.0), np.mod((z - lateral) / 0.016, 1.0)) < 0.3
        garment[zone & cross] = np.asarray(shoes["laces"])
    return garment


# --- patterns (functions of 3D position, metres) -------------------------------------------------

def _fabric_colour(points, fabric, seed) -> np.ndarray:
    mix = _pattern_mix(points, fabric, seed)
    grain = _value_noise(points, 0.01, seed + 1, octaves=1)
    colour = np.asarray(fabric["colour"]) * (1 - mix)[:, None] + np.asarray(fabric["colour2"]) * mix[:, None]
    return colour * (0.97 + 0.06 * grain)[:, None]


def _pattern_mix(points, fabric, seed) -> np.ndarray:
    """0 -> colour, 1 -> colour2, soft over EDGE_M at pattern edges."""
    pattern = fabric["pattern"]
    if pattern == "solid":
        return np.zeros(len(points))
    if pattern == "stripes":
        return _stripes(points @ np.asarray(fabric["direction"], dtype=float), fabric["period"],
                        fabric["duty"], fabric["phase"])
    if pattern == "checks":
        angle = np.radians(fabric["angle"])
        across = np.array([np.cos(angle), 0.0, np.sin(angle)])
        first = _stripes(points @ across, fabric["period"], 0.5, fabric["phase"])
        second = _stripes(points[:, 1], fabric["period"], 0.5, fabric["phase"])
        return 0.5 * (first + second)
    if pattern == "noise":
        value = _value_noise(points, fabric["scale"], seed, octaves=fabric["octaves"])
        return np.clip(0.5 + fabric["contrast"] * (value - 0.5), 0.0, 1.0)
    return _print(points, fabric, seed)


def _stripes(coordinate, period, duty, phase) -> np.ndarray:
    """1 inside stripes of width duty * period, repeating every period along ``coordinate``."""
    u = np.mod(coordinate / period + phase, 1.0)
    inside = u < duty
    distance = np.where(inside, np.minimum(u, duty - u), -np.minimum(u - duty, 1.0 - u)) * period
    return np.clip(0.5 + distance / EDGE_M, 0.0, 1.0)


def _print(points, fabric, seed) -> np.ndarray:
    """One dot (or diamond) per cubic cell, jittered; where the surface meets it, it shows."""
    period = fabric["period"]
    cell = np.floor(points / period)
    jitter = np.stack([_hash01(cell, seed + axis) for axis in range(3)], axis=1) - 0.5
    offset = points / period - (cell + 0.5 + fabric["jitter"] * jitter)
    if fabric["motif"] == "dots":
        distance = np.sqrt((offset**2).sum(axis=1))
    else:
        distance = np.abs(offset).sum(axis=1) / np.sqrt(3.0)
    return np.clip(0.5 + (fabric["radius"] - distance) * period / EDGE_M, 0.0, 1.0)


_AXIS_MULTIPLIERS = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def _lattice_terms(cells) -> np.ndarray:
    """Each integer lattice coordinate (n x 3) times its axis's odd constant (uint64, wrapping):
    the per-axis parts of :func:`_hash01`, xor-ed together there."""
    return cells.astype(np.int64).view(np.uint64) * _AXIS_MULTIPLIERS


def _finalise(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser of ``h`` (changed in place), as a uniform float in [0, 1)."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _hash01(cells, seed: int) -> np.ndarray:
    """Deterministic uniform [0, 1) per integer lattice cell (n x 3), splitmix64 finaliser."""
    terms = _lattice_terms(cells)
    return _finalise(terms[:, 0] ^ terms[:, 1] ^ terms[:, 2] ^ np.uint64(seed & 0xFFFFFFFF))


def _value_noise(points, scale, seed, octaves: int = 1) -> np.ndarray:
    """Smooth 3D value noise in [0, 1] (trilinear, smoothstep-faded), ``octaves`` summed."""
    total = np.zeros(len(points))
    weight_sum = 0.0
    for octave in range(octaves):
        p = points / (scale * 0.5**octave)
        base = np.floor(p)
        f = p - base
        f = f * f * (3.0 - 2.0 * f)
        axis_weights = (1.0 - f, f)                  # weight of the lower / upper lattice point
        terms = (_lattice_terms(base), _lattice_terms(base + 1.0))   # hash terms of the lower / upper point
        octave_seed = np.uint64((seed + 104729 * octave) & 0xFFFFFFFF)
        value = np.zeros(len(points))
        for corner in range(8):
            x, y, z = corner & 1, (corner >> 1) & 1, (corner >> 2) & 1
            w = axis_weights[x][:, 0] * axis_weights[y][:, 1] * axis_weights[z][:, 2]
            value += w * _finalise(terms[x][:, 0] ^ terms[y][:, 1] ^ terms[z][:, 2] ^ octave_seed)
        amplitude = 0.5**octave
        total += amplitude * value
        weight_sum += amplitude
    return total / weight_sum


# --- island borders ------------------------------------------------------------------------------

def _dilate(image: np.ndarray, filled: np.ndarray, passes: int) -> np.ndarray:
    """Grow the UV islands by ``passes`` texels (each new texel: mean of its filled
    8-neighbours), then fill the rest with the islands' mean colour, so that bilinear filtering
    at island borders only sees island colours."""
    height, width = filled.shape
    padded_filled = np.pad(filled, 1)
    padded_image = np.pad(image * filled[..., None], ((1, 1), (1, 1), (0, 0)))
    flat_filled = padded_filled.reshape(-1)
    flat_image = padded_image.reshape(-1, 3)
    offsets = [dy * (width + 2) + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    for _ in range(passes):
        near = np.zeros_like(padded_filled)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                near[1:-1, 1:-1] |= padded_filled[dy:dy + height, dx:dx + width]
        grow = np.flatnonzero(near.reshape(-1) & ~flat_filled)
        total = np.zeros((len(grow), 3))
        count = np.zeros(len(grow))
        for offset in offsets:
            total += flat_image[grow + offset]      # unfilled texels hold 0
            count += flat_filled[grow + offset]
        flat_image[grow] = total / count[:, None]
        flat_filled[grow] = True
    inner_filled = padded_filled[1:-1, 1:-1]
    image = padded_image[1:-1, 1:-1].copy()
    if inner_filled.any():
        image[~inner_filled] = image[inner_filled].mean(axis=0)
    return image


# --- user-supplied textures --------------------------------------------------------------------

def load_texture_image(path) -> np.ndarray:
    """Read an RGB texture file (PNG/JPEG, e.g. SURREAL's, in the body's UV space) as uint8
    H x W x 3. RGBA is accepted when fully opaque. Raises TextureError otherwise."""
    # imported here: PlanOptions reads MIN_SIZE/MAX_SIZE, and the add-on must enable without Pillow
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise TextureError(f"texture file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            pixels = np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise TextureError(f"{path}: not a readable image file ({exc})") from exc
    if mode == "RGBA" and np.all(pixels[..., 3] == 255):
        pixels, mode = pixels[..., :3], "RGB"
    if mode != "RGB":
        raise TextureError(f"{path}: texture must be an 8-bit RGB image, got mode {mode!r} "
                           "(convert it to RGB; transparent or grey images cannot be used)")
    if min(pixels.shape[:2]) < 2:
        raise TextureError(f"{path}: texture is {pixels.shape[1]} x {pixels.shape[0]} pixels, too small")
    return np.ascontiguousarray(pixels, dtype=np.uint8)


# --- spec validation ------------------------------------------------------------------------------

def _check_spec(spec) -> None:
    if not isinstance(spec, dict):
        raise TextureError(f"texture spec must be a dict, got {type(spec).__name__}")
    if spec.get("version") != SPEC_VERSION:
        raise TextureError(f"texture spec field 'version' is {spec.get('version')!r}, expected {SPEC_VERSION} "
                           "(sample a new spec with sample_texture_spec)")
    _need(spec, "seed", int)
    _one_of(spec, "fitzpatrick", tuple(FITZPATRICK_ITA), "")
    _colour(spec, "skin", "")
    top = _need(spec, "top", dict)
    _one_of(top, "kind", TOP_KINDS, "top")
    _one_of(top, "neckline", NECKLINES, "top")
    for name in ("sleeve", "neck_depth", "neck_width", "hem"):
        _number(top, name, "top")
    _need(top, "tucked", bool, "top")
    _need(top, "collar", bool, "top")
    _check_fabric(_need(top, "fabric", dict, "top"), "top.fabric")
    _check_top_front(_need(top, "front", dict, "top"))
    bottom = spec.get("bottom")
    if top["kind"] == "dress" and bottom is not None:
        raise TextureError("texture spec: a dress covers the legs, so 'bottom' must be null")
    if top["kind"] != "dress":
        _need(spec, "bottom", dict)
        _one_of(bottom, "kind", BOTTOM_KINDS, "bottom")
        _number(bottom, "length", "bottom")
        _number(bottom, "waist", "bottom")
        _check_fabric(_need(bottom, "fabric", dict, "bottom"), "bottom.fabric")
        for name in ("waistband", "fly", "pockets"):
            _need(bottom, name, bool, "bottom")
        _optional_colour(bottom, "belt", "bottom")
    shoes = _need(spec, "shoes", dict)
    _number(shoes, "height", "shoes")
    _check_fabric(_need(shoes, "fabric", dict, "shoes"), "shoes.fabric")
    _colour(shoes, "sole", "shoes")
    _positive(shoes, "sole_height", "shoes", allow_zero=True)
    _optional_colour(shoes, "laces", "shoes")
    _need(shoes, "toe_cap", bool, "shoes")
    _check_hair(_need(spec, "hair", dict))
    face = _need(spec, "face", dict)
    for name in ("iris", "lips", "brows"):
        _colour(face, name, "face")


def _check_hair(hair) -> None:
    _one_of(hair, "style", HAIR_STYLES, "hair")
    _colour(hair, "colour", "hair")
    front, back = _number(hair, "front", "hair"), _number(hair, "back", "hair")
    if not back < front:
        raise TextureError(f"texture spec field 'hair.back' ({back}) must be below 'hair.front' ({front}): "
                           "the hairline is lower at the back of the head")


def _check_top_front(front) -> None:
    kind = _one_of(front, "kind", TOP_FRONTS, "top.front")
    if kind == "none":
        return
    _colour(front, "colour", "top.front")
    if kind == "buttons":
        _positive(front, "spacing", "top.front")
    elif kind == "open":
        _positive(front, "width", "top.front")
    else:
        _one_of(front, "motif", CHEST_MOTIFS, "top.front")
        _positive(front, "size", "top.front")
        _number(front, "height", "top.front")


def _positive(mapping, name, where, allow_zero: bool = False) -> float:
    value = _number(mapping, name, where)
    if value < 0 or (value == 0 and not allow_zero):
        raise TextureError(f"texture spec field '{where}.{name}' must be {'>= 0' if allow_zero else '> 0'}, "
                           f"got {value!r}")
    return value


def _optional_colour(mapping, name, where) -> None:
    if not isinstance(mapping, dict) or name not in mapping:
        raise TextureError(f"texture spec is missing field '{where}.{name}' (null for none)")
    if mapping[name] is not None:
        _colour(mapping, name, where)


def _check_fabric(fabric, where) -> None:
    _one_of(fabric, "pattern", PATTERNS, where)
    _colour(fabric, "colour", where)
    _colour(fabric, "colour2", where)
    required = {"stripes": ("period", "duty", "phase"), "checks": ("period", "angle", "phase"),
                "noise": ("scale", "contrast"), "print": ("period", "radius", "jitter")}
    for name in required.get(fabric["pattern"], ()):
        _number(fabric, name, where)
    for name in ("period", "scale"):
        if name in required.get(fabric["pattern"], ()) and not fabric[name] > 0:
            raise TextureError(f"texture spec field '{where}.{name}' must be > 0, got {fabric[name]!r}")
    if fabric["pattern"] == "stripes":
        direction = _need(fabric, "direction", list, where)
        if len(direction) != 3 or not np.all(np.isfinite(np.asarray(direction, dtype=float))):
            raise TextureError(f"texture spec field '{where}.direction' must be 3 finite numbers, got {direction!r}")
    if fabric["pattern"] == "noise":
        octaves = _need(fabric, "octaves", int, where)
        if not 1 <= octaves <= 6:
            raise TextureError(f"texture spec field '{where}.octaves' must be 1..6, got {octaves}")
    if fabric["pattern"] == "print":
        _one_of(fabric, "motif", PRINT_MOTIFS, where)


def _need(mapping, name, kind, where: str = ""):
    label = f"{where}.{name}" if where else name
    if not isinstance(mapping, dict) or name not in mapping:
        raise TextureError(f"texture spec is missing field '{label}'")
    value = mapping[name]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise TextureError(f"texture spec field '{label}' must be {kind.__name__}, got {value!r}")
    return value


def _number(mapping, name, where) -> float:
    value = mapping.get(name) if isinstance(mapping, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise TextureError(f"texture spec field '{where}.{name}' must be a finite number, got {value!r}")
    return float(value)


def _one_of(mapping, name, options, where) -> str:
    label = f"{where}.{name}" if where else name
    value = mapping.get(name) if isinstance(mapping, dict) else None
    if isinstance(value, bool) or value not in options:
        raise TextureError(f"texture spec field '{label}' is {value!r}, expected one of {options}")
    return value


def _colour(mapping, name, where) -> None:
    label = f"{where}.{name}" if where else name
    value = mapping.get(name) if isinstance(mapping, dict) else None
    try:
        rgb = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        rgb = np.zeros(0)
    if rgb.shape != (3,) or not np.all((rgb >= 0) & (rgb <= 1)):
        raise TextureError(f"texture spec field '{label}' must be 3 sRGB values in [0, 1], got {value!r}")

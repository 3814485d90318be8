"""Procedural skin and clothing textures in a body's UV space, sampled from a seed.

A texture **spec** is a small JSON-serialisable dict (:func:`sample_texture_spec`); it is the
whole description, :func:`make_texture` draws no random numbers. :func:`make_texture` turns it
into a size x size x 3 uint8 sRGB image for the body's ``vt``/``ft`` UVs (OBJ convention: v up,
so row 0 of the image is v = 1; texel centres at ``(i + 0.5) / size``).

Spec fields (version 1; colours are sRGB triples in [0, 1]; lengths are fractions between
the body's own rest joints, so one spec fits any SMPL-format body with UVs):

- ``seed``: seeds the noise (skin variation, fabric grain, noise and print patterns).
- ``skin``: skin colour; head, neck and hands are always skin (no hair).
- ``top``: ``kind`` tshirt | shirt | tank | dress; ``sleeve``: where sleeves end, fraction of
  shoulder -> wrist (negative: armholes inside the shoulder, a tank top); ``neckline`` crew |
  scoop | v with ``neck_depth`` (front, fraction of pelvis -> neck) and ``neck_width``
  (fraction of the shoulder joint's distance from the midline); ``hem``: fraction of pelvis ->
  neck above the pelvis (a dress: fraction of hip -> ankle down the legs); ``tucked``: the
  bottom is worn over the top where they overlap; ``fabric``.
- ``bottom`` (null under a dress): ``kind`` trousers | shorts | skirt; ``length`` fraction of
  hip -> ankle; ``waist`` fraction of pelvis -> neck; ``fabric``.
- ``shoes``: ``kind`` shoes | boots; ``height`` above the top of the foot, fraction of
  ankle -> knee; ``fabric``.
- fabric: ``pattern`` and ``colour``, ``colour2``. solid: ``colour``. stripes: ``colour2``
  where ``frac(p . direction / period + phase) < duty`` (``p`` in metres, ``direction`` a
  3-vector). checks: two stripe sets of duty 0.5 (across at ``angle`` degrees about Y, and
  along Y), averaged. noise: value noise of ``scale`` metres, ``octaves``, ``contrast``.
  print: ``motif`` dots | diamonds, one per cube of side ``period``, ``radius`` and ``jitter``
  as fractions of it. Pattern edges are soft over 2 mm; fabrics get a +-3 % grain.

How garments are placed: the UV triangles are rasterized and every texel gets the body's
rest-pose 3D position and its skinning weights summed per body region (head+neck, torso,
arms, hands, legs, feet), interpolated from the vertices. Regions decide what may be covered
(head, neck and hands stay skin; sleeve lengths apply to the arm region); the 3D position
decides where a garment ends, so a short sleeve ends part-way along the upper arm and shorts
part-way down the thigh. Patterns are functions of 3D position on the body posed with its
arms down 80 degrees (LBS, as :class:`~synth_core.body.BodyModel`), so stripes run around the
sleeves as on a real shirt and are continuous across UV seams (both UV copies of a seam
vertex get the same position). Colours are spread ``max(4, size // 128)`` texels beyond the
UV islands (the rest is their mean colour), so bilinear filtering at island borders never
picks up the background. Same spec and size -> byte-identical image.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from synth_core.errors import TextureError
from synth_core.raster import interpolate, rasterize

SPEC_VERSION = 1
TOP_KINDS = ("tshirt", "shirt", "tank", "dress")
BOTTOM_KINDS = ("trousers", "shorts", "skirt")
NECKLINES = ("crew", "scoop", "v")
PATTERNS = ("solid", "stripes", "checks", "noise", "print")
PRINT_MOTIFS = ("dots", "diamonds")
MIN_SIZE, MAX_SIZE = 16, 8192

# Skin tones, sRGB, light to dark: an anchor polyline sampled uniformly along its length.
SKIN_ANCHORS = np.array([
    [0.96, 0.86, 0.78], [0.92, 0.76, 0.65], [0.85, 0.65, 0.51], [0.75, 0.55, 0.40],
    [0.62, 0.43, 0.30], [0.48, 0.32, 0.22], [0.36, 0.24, 0.17], [0.25, 0.17, 0.13],
])

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
ARMS_DOWN_DEG = 80.0             # shoulder rotation of the pose the patterns are laid out in
EDGE_M = 0.002                   # soft pattern edges (metres), about a texel at 1024


# --- sampling -------------------------------------------------------------------------------

def sample_texture_spec(rng: np.random.Generator) -> dict:
    """A random outfit and skin tone as a JSON-serialisable spec (fields: module docstring).

    Skin tones are spread evenly along a light-to-dark polyline of sRGB tones; garment
    colours are common neutrals or random hues; sleeve, hem and leg lengths vary per kind."""
    top_kind = _choice(rng, TOP_KINDS, (0.35, 0.3, 0.15, 0.2))
    spec = {
        "version": SPEC_VERSION,
        "seed": int(rng.integers(0, 2**31 - 1)),
        "skin": _rounded(_sample_skin(rng)),
        "top": _sample_top(rng, top_kind),
        "bottom": None if top_kind == "dress" else _sample_bottom(rng),
        "shoes": _sample_shoes(rng),
    }
    return spec


def _choice(rng, options, p):
    return str(options[int(rng.choice(len(options), p=p))])


def _rounded(values, digits: int = 4):
    if np.ndim(values) == 0:
        return round(float(values), digits)
    return [round(float(v), digits) for v in values]


def _sample_skin(rng) -> np.ndarray:
    lengths = np.linalg.norm(np.diff(SKIN_ANCHORS, axis=0), axis=1)
    position = rng.uniform(0.0, lengths.sum())
    segment = min(int(np.searchsorted(np.cumsum(lengths), position)), len(lengths) - 1)
    t = (position - (np.cumsum(lengths)[segment] - lengths[segment])) / lengths[segment]
    tone = SKIN_ANCHORS[segment] * (1 - t) + SKIN_ANCHORS[segment + 1] * t
    undertone = 1.0 + rng.uniform(-0.03, 0.03, 3) * np.array([1.0, 0.5, 1.0])
    return np.clip(tone * undertone, 0.0, 1.0)


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
SLEEVES = {"tshirt": (0.15, 0.45), "shirt": (0.75, 0.97), "tank": (-0.25, -0.1)}
LEG_LENGTHS = {"trousers": (0.88, 1.05), "shorts": (0.2, 0.5), "skirt": (0.2, 0.75)}


def _sample_top(rng, kind: str) -> dict:
    sleeve_kind = kind if kind != "dress" else _choice(rng, ("tshirt", "shirt", "tank"), (0.4, 0.2, 0.4))
    neckline = _choice(rng, NECKLINES, (0.5, 0.3, 0.2))
    depth = {"crew": (0.0, 0.05), "scoop": (0.1, 0.25), "v": (0.12, 0.3)}[neckline]
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
    return top


def _sample_bottom(rng) -> dict:
    kind = _choice(rng, BOTTOM_KINDS, (0.5, 0.25, 0.25))
    return {
        "kind": kind,
        "length": _rounded(rng.uniform(*LEG_LENGTHS[kind])),  # fraction of hip -> ankle
        "waist": _rounded(rng.uniform(0.05, 0.25)),           # fraction of pelvis -> neck
        "fabric": _sample_fabric(rng, BOTTOM_PATTERN_P, 0.7),
    }


def _sample_shoes(rng) -> dict:
    boots = rng.uniform() < 0.15
    return {
        "kind": "boots" if boots else "shoes",
        "height": _rounded(rng.uniform(0.25, 0.6) if boots else rng.uniform(0.0, 0.08)),  # of ankle -> knee
        "fabric": _sample_fabric(rng, SHOE_PATTERN_P, 0.75),
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
    texels = _texel_geometry(model, int(size))
    colour = _paint_outfit(texels, spec)
    image = np.zeros((size * size, 3))
    image[texels["index"]] = colour
    filled = np.zeros(size * size, dtype=bool)
    filled[texels["index"]] = True
    image = _dilate(image.reshape(size, size, 3), filled.reshape(size, size), max(4, size // 128))
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _texel_geometry(model, size: int) -> dict:
    """Per covered texel: flat index, rest position, arms-down position, region weights."""
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
    texels = {"index": index, "rest": values[:, 0:3], "pattern": values[:, 3:6],
              "landmarks": _landmarks(model)}
    for k, name in enumerate(REGION_JOINTS):
        texels[name] = values[:, 6 + k]
    return texels


def _landmarks(model) -> dict:
    """Rest-pose joint positions the garment lengths are measured against (both sides averaged)."""
    data = model.data
    joints = data.J_regressor @ data.v_template
    foot = np.isin(model.part_labels, FOOT_PARTS)
    ankle_y = joints[[7, 8], 1].mean()
    return {
        "pelvis_y": joints[0, 1], "neck_y": joints[12, 1], "neck_z": joints[12, 2],
        "hip_y": joints[[1, 2], 1].mean(), "knee_y": joints[[4, 5], 1].mean(),
        "ankle_y": ankle_y, "foot_top_y": data.v_template[foot, 1].max(initial=ankle_y),
        "shoulder_x": np.abs(joints[[16, 17], 0]).mean(), "wrist_x": np.abs(joints[[20, 21], 0]).mean(),
    }


def _paint_outfit(texels: dict, spec: dict) -> np.ndarray:
    """n x 3 sRGB colours in [0, 1] of the texels (skin, then garments in layering order)."""
    marks = texels["landmarks"]
    rest = texels["rest"]
    skin_only = (texels["headneck"] >= 0.5) | (texels["hand"] >= 0.5)
    colour = _skin(texels, spec)

    top, bottom, shoes = spec["top"], spec["bottom"], spec["shoes"]
    layers = [(_top_mask(texels, top, marks), top["fabric"], 1)]
    if bottom is not None:
        bottom_layer = (_bottom_mask(rest, bottom, marks), bottom["fabric"], 2)
        layers = layers + [bottom_layer] if top["tucked"] else [bottom_layer] + layers
    shoe_top = marks["foot_top_y"] + shoes["height"] * (marks["knee_y"] - marks["ankle_y"])
    layers.append((rest[:, 1] <= shoe_top, shoes["fabric"], 3))
    for mask, fabric, salt in layers:
        mask = mask & ~skin_only
        colour[mask] = _fabric_colour(texels["pattern"][mask], fabric, spec["seed"] + 7919 * salt)
    return colour


def _skin(texels, spec) -> np.ndarray:
    variation = _value_noise(texels["pattern"], 0.05, spec["seed"], octaves=1)
    return np.asarray(spec["skin"]) * (0.96 + 0.08 * variation)[:, None]


def _top_mask(texels, top, marks) -> np.ndarray:
    rest = texels["rest"]
    x, y, z = rest[:, 0], rest[:, 1], rest[:, 2]
    if top["kind"] == "dress":
        hem_y = marks["hip_y"] + top["hem"] * (marks["ankle_y"] - marks["hip_y"])
    else:
        hem_y = marks["pelvis_y"] + top["hem"] * (marks["neck_y"] - marks["pelvis_y"])
    sleeve_x = marks["shoulder_x"] + top["sleeve"] * (marks["wrist_x"] - marks["shoulder_x"])
    in_sleeve = (texels["arm"] < 0.5) | (np.abs(x) <= sleeve_x)
    return (y >= hem_y) & in_sleeve & ~_neck_opening(x, y, z, top, marks)


def _neck_opening(x, y, z, top, marks) -> np.ndarray:
    """Texels above the neckline: a shallow crew at the back; at the front the spec's depth,
    shaped crew (rounded), scoop (wide and round) or v (straight to the centre)."""
    torso = marks["neck_y"] - marks["pelvis_y"]
    half_width = top["neck_width"] * marks["shoulder_x"]
    across = np.clip(np.abs(x) / half_width, 0.0, 1.0)
    shape = {"crew": 1.0 - across**2, "scoop": np.sqrt(1.0 - across**2), "v": 1.0 - across}
    back_depth = 0.04 * torso
    front_depth = back_depth + top["neck_depth"] * torso * shape[top["neckline"]]
    depth = np.where(z > marks["neck_z"], front_depth, back_depth)
    return (np.abs(x) < half_width) & (y > marks["neck_y"] - depth)


def _bottom_mask(rest, bottom, marks) -> np.ndarray:
    y = rest[:, 1]
    waist_y = marks["pelvis_y"] + bottom["waist"] * (marks["neck_y"] - marks["pelvis_y"])
    leg_end_y = marks["hip_y"] + bottom["length"] * (marks["ankle_y"] - marks["hip_y"])
    return (y <= waist_y) & (y >= leg_end_y)


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


def _hash01(cells, seed: int) -> np.ndarray:
    """Deterministic uniform [0, 1) per integer lattice cell (n x 3), splitmix64 finaliser."""
    c = cells.astype(np.int64).view(np.uint64)
    h = (c[:, 0] * np.uint64(0x9E3779B97F4A7C15)) ^ (c[:, 1] * np.uint64(0xC2B2AE3D27D4EB4F)) \
        ^ (c[:, 2] * np.uint64(0x165667B19E3779F9)) ^ np.uint64(seed & 0xFFFFFFFF)
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


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
        value = np.zeros(len(points))
        for corner in range(8):
            step = np.array([corner & 1, (corner >> 1) & 1, (corner >> 2) & 1])
            w = axis_weights[step[0]][:, 0] * axis_weights[step[1]][:, 1] * axis_weights[step[2]][:, 2]
            value += w * _hash01(base + step, seed + 104729 * octave)
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
        raise TextureError(f"texture spec field 'version' is {spec.get('version')!r}, expected {SPEC_VERSION}")
    _need(spec, "seed", int)
    _colour(spec, "skin", "")
    top = _need(spec, "top", dict)
    _one_of(top, "kind", TOP_KINDS, "top")
    _one_of(top, "neckline", NECKLINES, "top")
    for name in ("sleeve", "neck_depth", "neck_width", "hem"):
        _number(top, name, "top")
    _need(top, "tucked", bool, "top")
    _check_fabric(_need(top, "fabric", dict, "top"), "top.fabric")
    bottom = spec.get("bottom")
    if top["kind"] == "dress" and bottom is not None:
        raise TextureError("texture spec: a dress covers the legs, so 'bottom' must be null")
    if top["kind"] != "dress":
        _need(spec, "bottom", dict)
        _one_of(bottom, "kind", BOTTOM_KINDS, "bottom")
        _number(bottom, "length", "bottom")
        _number(bottom, "waist", "bottom")
        _check_fabric(_need(bottom, "fabric", dict, "bottom"), "bottom.fabric")
    shoes = _need(spec, "shoes", dict)
    _number(shoes, "height", "shoes")
    _check_fabric(_need(shoes, "fabric", dict, "shoes"), "shoes.fabric")


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
    value = mapping.get(name) if isinstance(mapping, dict) else None
    if value not in options:
        raise TextureError(f"texture spec field '{where}.{name}' is {value!r}, expected one of {options}")
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

"""Colourings of the ground-truth passes for people to look at (uint8 H x W x 3, pure numpy),
and a sheet of them side by side with titles: ``synth preview``'s contact sheet and the
add-on's "Render this frame" use the same colours.

Depth: turbo over a near..far range (near = red, background black); segmentation: the part
palette (background black); flow: the Middlebury colour wheel (white = still); normals:
(n + 1) / 2 as RGB (background black).
"""

from __future__ import annotations

import math

import numpy as np

from synth_core.body.parts import part_palette

# Middlebury colour wheel (Baker et al. 2011): numbers of hues between the six primaries
# red, yellow, green, cyan, blue, magenta, chosen so that perceptually similar steps follow.
WHEEL_SEGMENTS = (("RY", 15), ("YG", 6), ("GC", 4), ("CB", 11), ("BM", 13), ("MR", 6))
# Turbo (Google, Apache-2.0) as matplotlib's 256-colour table, rounded to bytes: the add-on
# runs inside Blender, which has no matplotlib. A test checks it against matplotlib's.
TURBO_HEX = (
    "30123b32154333184a341b51351e5836215f37246638276d392a733a2d793b2f803c32863d358b3e38913f3b973f3e9c"
    "4040a24143a74146ac4249b1424bb5434eba4451bf4454c34456c74559cb455ccf455ed34661d64664da4666dd4669e0"
    "466be3476ee64771e94773eb4776ee4778f0477bf2467df44680f64682f84685fa4687fb458afc458cfd448ffe4391fe"
    "4294ff4196ff4099ff3e9bfe3d9efe3ba0fd3aa3fc38a5fb37a8fa35abf833adf731aff52fb2f42eb4f22cb7f02ab9ee"
    "28bceb27bee925c0e723c3e422c5e220c7df1fc9dd1ecbda1ccdd81bd0d51ad2d21ad4d019d5cd18d7ca18d9c818dbc5"
    "18ddc218dec018e0bd19e2bb19e3b91ae4b61ce6b41de7b21fe9af20eaac22ebaa25eca727eea42aefa12cf09e2ff19b"
    "32f29835f39438f4913cf58e3ff68a43f78746f8844af8804ef97d52fa7a55fa7659fb735dfc6f61fc6c65fd6969fd66"
    "6dfe6271fe5f75fe5c79fe597dff5680ff5384ff5188ff4e8bff4b8fff4992ff4796fe4499fe429cfe409ffd3fa1fd3d"
    "a4fc3ca7fc3aa9fb39acfb38affa37b1f936b4f836b7f735b9f635bcf534bef434c1f334c3f134c6f034c8ef34cbed34"
    "cdec34d0ea34d2e935d4e735d7e535d9e436dbe236dde037dfdf37e1dd37e3db38e5d938e7d739e9d539ebd339ecd13a"
    "eecf3aefcd3af1cb3af2c93af4c73af5c53af6c33af7c13af8be39f9bc39faba39fbb838fbb637fcb336fcb136fdae35"
    "fdac34fea933fea732fea431fea130fe9e2ffe9b2dfe992cfe962bfe932afe9029fd8d27fd8a26fc8725fc8423fb8122"
    "fb7e21fa7b1ff9781ef9751df8721cf76f1af66c19f56918f46617f36315f26014f15d13f05b12ef5811ed5510ec530f"
    "eb500eea4e0de84b0ce7490ce5470be4450ae2430ae14109df3f08dd3d08dc3b07da3907d83706d63506d43305d23105"
    "d02f05ce2d04cc2b04ca2a04c82803c52603c32503c12302be2102bc2002b91e02b71d02b41b01b21a01af1801ac1701"
    "a91601a71401a41301a112019e10019b0f01980e01950d01920b018e0a018b09028808028507028106027e05027a0403"
)
TITLE_PX = 22         # band above each tile, for its title
MIN_TILE_PX = 160     # small frames are enlarged by an integer factor up to this width
SHEET_BACKGROUND = (30, 30, 30)


def turbo_table() -> np.ndarray:
    """256 x 3 uint8: turbo from dark blue (0) to dark red (255)."""
    return np.frombuffer(bytes.fromhex("".join(TURBO_HEX)), dtype=np.uint8).reshape(256, 3)


def colour_wheel() -> np.ndarray:
    """55 x 3 colours in [0, 1], red -> yellow -> green -> cyan -> blue -> magenta -> red."""
    rows = []
    for name, count in WHEEL_SEGMENTS:
        ramp = np.floor(255 * np.arange(count) / count) / 255
        up, down, full, zero = ramp, 1 - ramp, np.ones(count), np.zeros(count)
        rows.append({"RY": (full, up, zero), "YG": (down, full, zero), "GC": (zero, full, up),
                     "CB": (zero, down, full), "BM": (up, zero, full), "MR": (full, zero, down)}[name])
    return np.concatenate([np.stack(channels, axis=1) for channels in rows])


def flow_to_colour(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Middlebury flow colouring: hue = direction (dx right, dy down; right = red), saturation =
    magnitude / max_magnitude (white = no motion); beyond max_magnitude colours are darkened."""
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    if max_magnitude is None:
        max_magnitude = float(np.sqrt(u ** 2 + v ** 2).max(initial=0))
    scale = max(max_magnitude, 1e-9)
    u, v = u / scale, v / scale
    radius = np.sqrt(u ** 2 + v ** 2)
    wheel = colour_wheel()
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (len(wheel) - 1)
    k0 = np.floor(position).astype(int)
    k1 = (k0 + 1) % len(wheel)
    f = (position - k0)[..., None]
    colour = (1 - f) * wheel[k0] + f * wheel[k1]
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * 0.75)
    return np.round(colour * 255).astype(np.uint8)


def depth_to_colour(depth: np.ndarray, near: float, far: float) -> np.ndarray:
    """Turbo from near (red) to far (blue), as matplotlib maps [0, 1] onto its 256 colours;
    background (depth 0) black."""
    t = np.clip((far - depth) / max(far - near, 1e-9), 0, 1)  # near -> 1 (red end of turbo)
    colour = turbo_table()[np.minimum((t * 256).astype(np.int64), 255)]
    colour[depth <= 0] = 0
    return colour


def depth_range(depth: np.ndarray) -> tuple[float, float]:
    """(near, far) of the foreground (depth > 0); (0, 1) when there is none."""
    foreground = depth[depth > 0]
    return (float(foreground.min()), float(foreground.max())) if foreground.size else (0.0, 1.0)


def normals_to_colour(normals: np.ndarray) -> np.ndarray:
    colour = (normals + 1) / 2
    colour[np.all(normals == 0, axis=-1)] = 0
    return np.round(np.clip(colour, 0, 1) * 255).astype(np.uint8)


def segmentation_to_colour(segmentation: np.ndarray) -> np.ndarray:
    return part_palette()[segmentation]


def pass_to_colour(name: str, array: np.ndarray) -> tuple[np.ndarray, str]:
    """(colours, title) of one frame's pass, its scales from this frame alone."""
    if name == "rgb":
        return array, "RGB"
    if name == "depth":
        near, far = depth_range(array)
        return depth_to_colour(array, near, far), f"depth {near:.2f}-{far:.2f} m"
    if name == "segmentation":
        return segmentation_to_colour(array), "parts"
    if name == "normals":
        return normals_to_colour(array), "normals (camera)"
    if name in ("flow_forward", "flow_backward"):
        largest = float(np.linalg.norm(array, axis=-1).max(initial=0))
        return flow_to_colour(array, largest), f"{name.replace('_', ' ')} (max {largest:.1f} px)"
    raise ValueError(f"no colouring for pass {name!r}")


def tile_scale(width: int) -> int:
    """The integer factor that enlarges a frame ``width`` pixels wide to MIN_TILE_PX or more."""
    return max(1, math.ceil(MIN_TILE_PX / width))


def pass_sheet(passes: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """The passes of one frame coloured and side by side, in the order given, each enlarged by
    :func:`tile_scale` (nearest neighbour: one pixel, one block) under a TITLE_PX band with its
    title. Returns (sheet, {pass: (x0, x1, y0, y1) of its tile}), sheet uint8 with row 0 on top."""
    from PIL import Image, ImageDraw

    height, width = next(iter(passes.values())).shape[:2]
    scale = tile_scale(width)
    tile_w, tile_h = width * scale, height * scale
    sheet = np.empty((TITLE_PX + tile_h, tile_w * len(passes), 3), dtype=np.uint8)
    sheet[:] = SHEET_BACKGROUND
    boxes, titles = {}, {}
    for column, (name, array) in enumerate(passes.items()):
        colours, titles[name] = pass_to_colour(name, array)
        x0 = column * tile_w
        sheet[TITLE_PX:, x0:x0 + tile_w] = np.repeat(np.repeat(colours, scale, axis=0), scale, axis=1)
        boxes[name] = (x0, x0 + tile_w, TITLE_PX, TITLE_PX + tile_h)
    image = Image.fromarray(sheet)
    draw = ImageDraw.Draw(image)
    for name, (x0, x1, _, _) in boxes.items():
        draw.text(((x0 + x1) / 2, TITLE_PX / 2), titles[name], fill="white", anchor="mm")
    sheet[:TITLE_PX] = np.asarray(image)[:TITLE_PX]  # the titles only: the tiles stay exact
    return sheet, boxes

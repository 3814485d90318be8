"""Clothing texture transfer from a photo with a person mask onto the body's UV map
(after Chen et al. 2016, "Synthesizing Training Images for Boosting Human 3D Pose Estimation",
section 3.2).

The method, step by step:

1. **Body view.** The body (rest shape, arms lowered :data:`VIEW_ARMS_DOWN_DEG` from SMPL's
   T-pose, as people stand in clothing photos) is rendered from the front, orthographically,
   with :func:`synth_core.raster.rasterize` and a z-buffer: a silhouette and, per pixel, the
   visible surface.
2. **Contour matching.** The outer contours of the body silhouette and of the photo's person
   mask are traced (marching squares), oriented the same way, started at the top of the head and
   resampled by arc length; dynamic time warping (as the paper's continuous DTW) pairs them,
   comparing positions after an affine alignment (first the bounding boxes, then refitted on the
   pairs, DTW_ROUNDS times) and tangent directions. Each body point takes the mean position of
   its photo partners.
3. **Smooth warp.** A thin-plate spline with smoothing (:class:`scipy.interpolate.RBFInterpolator`)
   maps body-view pixels to photo pixels through those correspondences (the paper: moving
   least squares); its affine part carries the interior.
4. **Front texels.** Every texel gets its 3D position on the viewed body (barycentric over the UV
   triangles); a texel whose depth matches the z-buffer is visible from the front and takes the
   photo's colour at its warped position. Photo pixels outside the mask are first replaced by the
   nearest person pixel, so no background is ever sampled.
5. **Hidden texels.** As in the paper, the front is mirrored to the back: a hidden texel takes the
   photo colour seen at its own view pixel when the surface seen there is the same body region
   (the 14 training classes: torso, head, each upper arm, forearm, hand, thigh, shin, foot), so
   the back of the torso gets the front of the shirt at the same height; texels whose pixel
   shows another region (the torso's sides behind the arms, inner limbs) take the colour of the
   nearest coloured texel of their own region in 3D. A chest print is mirrored to the back too.
6. **Skin.** The head and hands are one skin tone: the median photo colour of the face (front of
   the head below the eyes), or a given tone. Texels outside the UV islands take their nearest
   island colour, so bilinear filtering at island borders sees only island colours.

The photo should show one person from the front, standing, arms a little away from the body;
the mask is that person (any non-zero pixel).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage
from scipy.interpolate import RBFInterpolator
from scipy.spatial import cKDTree

from synth_core.body.parts import PART_TO_CLASS14
from synth_core.errors import TextureError
from synth_core.raster import Raster, interpolate, rasterize

VIEW_ARMS_DOWN_DEG = 60.0    # shoulder rotation of the viewed body (0: SMPL's T-pose)
VIEW_HEIGHT = 512            # pixels of the body view, head to toe plus margins
VIEW_MARGIN = 8              # pixels around the body in the view
CONTOUR_POINTS = 400         # correspondences along the contour
DTW_ROUNDS = 4               # contour matchings, each after refitting the affine alignment
TANGENT_WEIGHT = 0.1        # weight of tangent directions against positions in the matching
SMOOTHING = 1000.0           # thin-plate spline smoothing (view pixels; larger: closer to affine)
WARP_GRID = 4                # the warp is evaluated every WARP_GRID view pixels, then bilinear
VISIBLE_DEPTH_M = 0.01       # a texel within this of the z-buffer is visible from the front
HEAD_PART, HAND_PARTS = 16, (21, 22, 23, 24)   # SURREAL's 1-based parts (head; hands, fingers)
HEAD_JOINT = 15
DEFAULT_SKIN_SRGB = (0.85, 0.65, 0.51)
WARPS = ("contour", "box")
MIN_MASK_PIXELS = 100


@dataclass(frozen=True, eq=False)
class BodyView:
    """The body seen from the front: orthographic, x right, y down, pixels."""

    raster: Raster
    vertices: np.ndarray     # V x 3 posed vertices (metres, Y up, facing +Z)
    scale: float             # pixels per metre
    origin: np.ndarray       # (x, y) in metres at pixel (0, 0)

    @property
    def mask(self) -> np.ndarray:
        return self.raster.mask

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        """Body points (n x 3, metres) -> view pixel coordinates (n x 2: x, y)."""
        return np.column_stack([(points[:, 0] - self.origin[0]) * self.scale,
                                (self.origin[1] - points[:, 1]) * self.scale])

    def depth_of(self, points: np.ndarray) -> np.ndarray:
        """Distance from the (orthographic) camera in front of the body, metres."""
        return self.z_front - points[:, 2]

    @property
    def z_front(self) -> float:
        return float(self.vertices[:, 2].max()) + 1.0


def arms_down_pose(degrees: float = VIEW_ARMS_DOWN_DEG) -> np.ndarray:
    """24 x 3 axis-angle pose: shoulders rotated down by ``degrees`` (SMPL's left arm is +X)."""
    pose = np.zeros((24, 3))
    pose[16, 2], pose[17, 2] = -np.radians(degrees), np.radians(degrees)
    return pose


def front_view(model, height: int = VIEW_HEIGHT, arms_down_deg: float = VIEW_ARMS_DOWN_DEG,
               betas=None) -> BodyView:
    """Rasterize the body's front view (orthographic, with a z-buffer) ``height`` pixels tall."""
    vertices = model(betas=betas, pose=arms_down_pose(arms_down_deg)).vertices[0]
    low, high = vertices[:, :2].min(axis=0), vertices[:, :2].max(axis=0)
    scale = (height - 2 * VIEW_MARGIN) / (high[1] - low[1])
    width = int(np.ceil((high[0] - low[0]) * scale)) + 2 * VIEW_MARGIN
    origin = np.array([low[0] - VIEW_MARGIN / scale, high[1] + VIEW_MARGIN / scale])
    view = BodyView(raster=None, vertices=vertices, scale=scale, origin=origin)
    raster = rasterize(view.to_pixels(vertices), model.faces, height, width, depth=view.depth_of(vertices))
    return BodyView(raster=raster, vertices=vertices, scale=scale, origin=origin)


# --- contours ----------------------------------------------------------------------------------

def outer_contour(mask: np.ndarray) -> np.ndarray:
    """The longest boundary of ``mask`` as n x 2 (x, y) pixel points, counter-clockwise on screen
    (y down), first point the top of the shape (head)."""
    from skimage.measure import find_contours

    contours = find_contours(np.pad(mask.astype(np.float64), 1), 0.5)
    contour = max(contours, key=len)[:-1, ::-1] - 1.0          # (row, col) -> (x, y), unpadded
    x, y = contour[:, 0], contour[:, 1]
    if np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0:    # clockwise on screen: reverse
        contour = contour[::-1]
    top = _top_point(contour)
    return np.roll(contour, -top, axis=0)


def _top_point(contour: np.ndarray) -> int:
    y = contour[:, 1]
    candidates = np.flatnonzero(y <= y.min() + 0.5)
    centre = np.median(contour[:, 0])
    return int(candidates[np.argmin(np.abs(contour[candidates, 0] - centre))])


def matched_contour_points(body_mask: np.ndarray, photo_mask: np.ndarray,
                           count: int = CONTOUR_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Corresponding points (count x 2 each, x, y pixels) on the body's and the photo's outer
    contours, both starting at the top of the head: dynamic time warping of the two contours
    (resampled by arc length), comparing positions after an affine alignment (first the bounding
    boxes, then refitted on the matches) and tangent directions."""
    body = _resample(outer_contour(body_mask), count)
    photo = _resample(outer_contour(photo_mask), count)
    align = _box_affine(body, photo)
    for _ in range(DTW_ROUNDS):
        pairs = _dtw_pairs(_apply(align, body), photo)
        matched = _matched_positions(pairs, photo, count)
        align = _fit_affine(body, matched)
    return body, matched


def _resample(contour: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along a closed contour, from its first point."""
    closed = np.vstack([contour, contour[:1]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    at = np.arange(count) * arc[-1] / count
    return np.column_stack([np.interp(at, arc, closed[:, 0]), np.interp(at, arc, closed[:, 1])])


def _box_affine(body: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """2 x 3 affine map taking the body contour's bounding box onto the photo contour's."""
    scale = np.ptp(photo, axis=0) / np.ptp(body, axis=0)
    shift = photo.min(axis=0) - body.min(axis=0) * scale
    return np.array([[scale[0], 0.0, shift[0]], [0.0, scale[1], shift[1]]])


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def _fit_affine(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    design = np.column_stack([source, np.ones(len(source))])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return solution.T


def _tangents(points: np.ndarray) -> np.ndarray:
    step = np.roll(points, -2, axis=0) - points
    return step / np.maximum(np.linalg.norm(step, axis=1, keepdims=True), 1e-9)


def _dtw_pairs(body: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """Monotone pairs (i, j) from (0, 0) to (n-1, m-1) minimising the summed cost: distance
    in units of the photo contour's height plus TANGENT_WEIGHT x (1 - cos) of the angle between
    tangents."""
    height = np.ptp(photo[:, 1])
    distance = np.sqrt(((body[:, None, :] - photo[None, :, :]) ** 2).sum(axis=2)) / height
    turn = 1.0 - _tangents(body) @ _tangents(photo).T
    cost = distance + TANGENT_WEIGHT * turn
    total = np.full(cost.shape, np.inf)
    total[0] = np.cumsum(cost[0])
    for i in range(1, len(cost)):
        diagonal = np.concatenate([[np.inf], total[i - 1, :-1]])
        arrive = cost[i] + np.minimum(diagonal, total[i - 1])       # from the row above
        running = np.cumsum(cost[i])                                 # or along this row
        total[i] = running + np.minimum.accumulate(arrive - running)
    return _backtrack(total)


def _backtrack(total: np.ndarray) -> np.ndarray:
    i, j = total.shape[0] - 1, total.shape[1] - 1
    pairs = [(i, j)]
    while i > 0 or j > 0:
        steps = [(i - 1, j - 1), (i - 1, j), (i, j - 1)]
        steps = [(a, b) for a, b in steps if a >= 0 and b >= 0]
        i, j = min(steps, key=lambda step: total[step])
        pairs.append((i, j))
    return np.array(pairs[::-1])


def _matched_positions(pairs: np.ndarray, photo: np.ndarray, count: int) -> np.ndarray:
    """Per body point, the mean position of the photo points it is paired with."""
    matched = np.zeros((count, 2))
    np.add.at(matched, pairs[:, 0], photo[pairs[:, 1]])
    return matched / np.bincount(pairs[:, 0], minlength=count)[:, None]


# --- the warp --------------------------------------------------------------------------------

def fit_warp(body_mask: np.ndarray, photo_mask: np.ndarray, kind: str = "contour"):
    """A function mapping body-view pixels (n x 2, x y) to photo pixels. ``contour``: the
    thin-plate spline through matched contour points; ``box``: the scale and shift that maps the
    silhouette's bounding box onto the mask's (no contour matching; for comparison)."""
    if kind not in WARPS:
        raise TextureError(f"unknown warp {kind!r}; expected one of {WARPS}")
    if kind == "box":
        body_low, body_high = _box(body_mask)
        photo_low, photo_high = _box(photo_mask)
        scale = (photo_high - photo_low) / (body_high - body_low)
        return lambda points: photo_low + (points - body_low) * scale
    body_points, photo_points = matched_contour_points(body_mask, photo_mask)
    spline = RBFInterpolator(body_points, photo_points, kernel="thin_plate_spline", smoothing=SMOOTHING)
    return _gridded(spline, body_mask.shape)


def _box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(mask)
    return np.array([cols.min(), rows.min()], float), np.array([cols.max(), rows.max()], float)


def _gridded(spline, shape):
    """The spline evaluated on a grid every WARP_GRID pixels, interpolated bilinearly between
    (the spline is smooth at that scale; evaluating it per texel would cost 100 times more)."""
    height, width = shape
    rows = np.arange(0, height + WARP_GRID, WARP_GRID, dtype=float)
    cols = np.arange(0, width + WARP_GRID, WARP_GRID, dtype=float)
    grid = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
    values = spline(grid).reshape(len(rows), len(cols), 2)

    def warp(points: np.ndarray) -> np.ndarray:
        coords = [points[:, 1] / WARP_GRID, points[:, 0] / WARP_GRID]
        return np.column_stack([ndimage.map_coordinates(values[..., c], coords, order=1, mode="nearest")
                                for c in range(2)])
    return warp


# --- texels ----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class _Texels:
    index: np.ndarray      # flat texel index of each covered texel
    position: np.ndarray   # n x 3 on the viewed (arms-down) body
    part: np.ndarray       # n, 1-based SURREAL part of the texel's face


def _texels(model, view: BodyView, size: int) -> _Texels:
    data = model.data
    uv = np.column_stack([data.vt[:, 0] * size - 0.5, (1.0 - data.vt[:, 1]) * size - 0.5])
    raster = rasterize(uv, data.ft, size, size)
    index = np.flatnonzero(raster.mask.ravel())
    position = interpolate(raster, view.vertices, faces=data.faces).reshape(-1, 3)[index]
    face = raster.face.ravel()[index]
    corner = np.argmax(raster.barycentric.reshape(-1, 3)[index], axis=1)
    part = model.part_labels[data.faces[face, corner]]
    return _Texels(index=index, position=position, part=part)


def _view_lookup(view: BodyView, pixels: np.ndarray) -> np.ndarray:
    """Flat index of the view pixel nearest each point (clipped into the image)."""
    height, width = view.mask.shape
    cols = np.clip(np.rint(pixels[:, 0]).astype(int), 0, width - 1)
    rows = np.clip(np.rint(pixels[:, 1]).astype(int), 0, height - 1)
    return rows * width + cols


def _view_parts(model, view: BodyView) -> np.ndarray:
    """Flat array: 1-based part of the surface seen at each view pixel, 0 off the body."""
    face = view.raster.face.ravel()
    corner = np.argmax(view.raster.barycentric.reshape(-1, 3), axis=1)
    parts = model.part_labels[model.faces[np.maximum(face, 0), corner]]
    return np.where(face >= 0, parts, 0)


# --- the transfer ------------------------------------------------------------------------------

def transfer_clothing(model, photo: np.ndarray, mask: np.ndarray, size: int = 1024, skin=None,
                      warp: str = "contour") -> tuple[np.ndarray, np.ndarray]:
    """The clothing of ``photo`` (H x W x 3 uint8 sRGB) inside ``mask`` (H x W, person where
    non-zero) transferred onto ``model``'s UV map (a BodyModel with vt/ft).

    Returns (texture size x size x 3 uint8, coverage size x size bool: texels that took their
    colour straight from the photo, i.e. seen from the front). ``skin``: sRGB triple in [0, 1]
    for the head and hands (default: the photo's face colour). ``warp``: "contour" (the method)
    or "box" (bounding boxes only, for comparison). See the module docstring."""
    photo, mask = _check_inputs(model, photo, mask, size)
    view = front_view(model)
    texels = _texels(model, view, size)
    to_photo = fit_warp(view.mask, mask, warp)
    filled_photo = _fill_outside(photo, mask)

    pixels = view.to_pixels(texels.position)
    seen = _view_lookup(view, pixels)
    visible = view.depth_of(texels.position) <= view.raster.depth.ravel()[seen] + VISIBLE_DEPTH_M
    same_class = PART_TO_CLASS14[_view_parts(model, view)[seen]] == PART_TO_CLASS14[texels.part]
    mirrored = ~visible & same_class
    from_photo = visible | mirrored
    colour = np.zeros((len(texels.index), 3))
    colour[from_photo] = _sample(filled_photo, to_photo(pixels[from_photo]))
    _propagate_within_parts(colour, from_photo, texels)

    skin_texels = np.isin(texels.part, (HEAD_PART,) + HAND_PARTS)
    tone = np.asarray(skin, dtype=float) if skin is not None else _face_colour(model, view, texels, visible, colour)
    colour[skin_texels] = tone

    texture = _spread_over_texture(colour, texels.index, size)
    coverage = np.zeros(size * size, dtype=bool)
    coverage[texels.index[visible & ~skin_texels]] = True
    return texture, coverage.reshape(size, size)


def _check_inputs(model, photo, mask, size):
    data = model.data
    if data.vt is None or data.ft is None:
        raise TextureError(f"body model {data.source} has no UV coordinates (vt/ft): nothing to transfer onto")
    if not isinstance(size, (int, np.integer)) or not 16 <= size <= 8192:
        raise TextureError(f"texture size must be an integer in 16..8192, got {size!r}")
    photo, mask = np.asarray(photo), np.asarray(mask)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise TextureError(f"photo must be H x W x 3 uint8 RGB, got {photo.shape} {photo.dtype}")
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.shape != photo.shape[:2]:
        raise TextureError(f"mask is {mask.shape[1]} x {mask.shape[0]} pixels but the photo is "
                           f"{photo.shape[1]} x {photo.shape[0]}: they must be the same size")
    mask = mask > 0
    if mask.sum() < MIN_MASK_PIXELS:
        raise TextureError(f"the person mask has {int(mask.sum())} pixels; it needs at least "
                           f"{MIN_MASK_PIXELS} (is it empty, or inverted?)")
    return photo, mask


def _fill_outside(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo with every pixel outside the mask replaced by its nearest person pixel."""
    _, (rows, cols) = ndimage.distance_transform_edt(~mask, return_indices=True)
    return photo[rows, cols].astype(np.float64) / 255.0


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear colours (n x 3) of ``image`` at pixel points (x, y)."""
    coords = [points[:, 1], points[:, 0]]
    return np.column_stack([ndimage.map_coordinates(image[..., c], coords, order=1, mode="nearest")
                            for c in range(3)])


def _propagate_within_parts(colour: np.ndarray, known: np.ndarray, texels: _Texels) -> None:
    """Give every texel without a colour that of the nearest coloured texel (3D, same body
    region: the 14 training classes, e.g. torso, left forearm; any region if it has none)."""
    region = PART_TO_CLASS14[texels.part]
    for label in np.unique(region[~known]):
        todo = np.flatnonzero(~known & (region == label))
        source = np.flatnonzero(known & (region == label))
        if not len(source):
            source = np.flatnonzero(known)
        if not len(source):
            continue
        _, nearest = cKDTree(texels.position[source]).query(texels.position[todo])
        colour[todo] = colour[source[nearest]]


def _face_colour(model, view: BodyView, texels: _Texels, visible: np.ndarray, colour: np.ndarray):
    """Median colour of the front of the face below the eyes and above the chin (the photo's skin)."""
    joints = model.data.J_regressor @ view.vertices
    head = joints[HEAD_JOINT]
    p = texels.position
    face = (visible & (texels.part == HEAD_PART) & (np.abs(p[:, 0] - head[0]) < 0.04)
            & (p[:, 1] < head[1] + 0.02) & (p[:, 1] > head[1] - 0.06) & (p[:, 2] > head[2]))
    if face.sum() < 10:
        return np.asarray(DEFAULT_SKIN_SRGB)
    return np.median(colour[face], axis=0)


def _spread_over_texture(colour: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
    """size x size x 3 uint8: texel colours, every other texel the colour of its nearest texel."""
    image = np.zeros((size * size, 3))
    image[index] = colour
    covered = np.zeros(size * size, dtype=bool)
    covered[index] = True
    _, (rows, cols) = ndimage.distance_transform_edt(~covered.reshape(size, size), return_indices=True)
    image = image.reshape(size, size, 3)[rows, cols]
    return np.floor(np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


# --- files -------------------------------------------------------------------------------------

def read_photo(path: str | Path) -> np.ndarray:
    """An RGB photo as H x W x 3 uint8 (grey is repeated, alpha dropped); TextureError names the file."""
    return _read(path, "photo", "RGB")


def read_mask(path: str | Path) -> np.ndarray:
    """A person mask as H x W bool (non-zero pixels; an alpha channel is used where present)."""
    path = Path(path)
    image = _read(path, "mask", None)
    return (image[..., -1] if image.ndim == 3 else image) > 0


def _read(path, what: str, mode: str | None) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise TextureError(f"{what} file not found: {path}")
    try:
        with Image.open(path) as image:
            image.load()
            if mode is not None:
                image = image.convert(mode)
            elif image.mode not in ("1", "L", "LA", "RGBA"):
                image = image.convert("L")
            return np.asarray(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise TextureError(f"{path}: {what} is not a readable image file ({exc})") from exc


def write_texture_png(path: str | Path, texture: np.ndarray) -> None:
    """Write a texture as PNG atomically (a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(texture).save(tmp, format="PNG")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)

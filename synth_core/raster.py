"""A vectorised numpy triangle rasterizer with a z-buffer (for UV maps and for checking renders).

Conventions:

- ``points`` are pixel coordinates, 0-based, the centre of pixel ``(row, col)`` at
  ``(x, y) = (col, row)``; x right, y down (the project's OpenCV convention).
- A pixel is covered when its centre is inside the triangle. Centres exactly on an edge follow
  the **top-left rule** (as Direct3D and most GPUs): they belong to the triangle when the edge
  is a top edge (horizontal, interior below it) or a left edge (interior to its right). So the
  triangles of a closed mesh cover each pixel centre once, with neither gaps nor double cover
  along shared edges. Edge functions are evaluated with the edge's end points in a canonical
  order, so two triangles sharing an edge get exactly opposite values (no rounding cracks).
- With ``depth`` (per-vertex camera z, > 0), the nearest fragment wins; exact ties go to the
  lower face index (coplanar overlapping faces can still z-fight by rounding, as on a GPU).
  Without it, the lower face index wins. Triangles with a non-positive or
  non-finite depth, non-finite points or zero area cover nothing (no near-plane clipping).
- ``barycentric`` holds the weights of the face's three vertices for the surface point seen
  at the pixel centre. With ``depth`` they are perspective-correct: 1/z is linear in screen
  space, so ``1/z = sum(s_i / z_i)`` with screen-space weights ``s_i``, and the surface
  weights are ``b_i = (s_i / z_i) * z``. ``interpolate`` then gives exact attribute values
  (positions, UVs, normals) of the visible point, as a pinhole renderer sees it.

Work is done in chunks of triangles grouped by bounding-box size; triangles larger than
:data:`TILE` pixels are split into tiles first, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TILE = 128          # largest bounding-box side handled in one piece (bigger boxes are tiled)
CHUNK_PIXELS = 1 << 20  # candidate pixels evaluated per vectorised step
_SIZE_CLASSES = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128])


@dataclass(frozen=True, eq=False)
class Raster:
    """What :func:`rasterize` returns. Arrays are H x W (x 3)."""

    face: np.ndarray         # H x W int32, visible face index, -1 where empty
    barycentric: np.ndarray  # H x W x 3 float64, weights of the face's vertices, 0 where empty
    depth: np.ndarray        # H x W float64, camera z of the visible point (inf where empty;
    #                          0 where covered when no depth was given)
    faces: np.ndarray        # F x 3 int64, the rasterized triangles (vertex indices)

    @property
    def mask(self) -> np.ndarray:
        """H x W bool, True where a triangle covers the pixel centre."""
        return self.face >= 0


@dataclass(frozen=True, eq=False)
class _Fragments:
    pixel: np.ndarray   # flat pixel index row * W + col
    face: np.ndarray
    weights: np.ndarray  # n x 3 screen-space barycentric weights


def rasterize(points, faces, height: int, width: int, depth=None) -> Raster:
    """Rasterize triangles ``faces`` (F x 3) over 2D ``points`` (N x 2, pixels) into H x W.

    ``depth`` (N, optional): per-vertex camera z for the z-buffer and perspective-correct
    interpolation. See the module docstring for the exact conventions.
    """
    points = np.asarray(points, dtype=np.float64)
    faces = np.asarray(faces)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be N x 2 pixel coordinates, got shape {points.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces must be F x 3 integer indices, got shape {faces.shape} {faces.dtype}")
    faces = faces.astype(np.int64)
    if faces.size and (faces.min() < 0 or faces.max() >= len(points)):
        raise ValueError(f"faces index points outside 0..{len(points) - 1}")
    if int(height) <= 0 or int(width) <= 0:
        raise ValueError(f"image size must be positive, got {height} x {width}")
    height, width = int(height), int(width)
    if depth is not None:
        depth = np.asarray(depth, dtype=np.float64)
        if depth.shape != (len(points),):
            raise ValueError(f"depth must have one value per point ({len(points)}), got shape {depth.shape}")

    fragments = _all_fragments(points, faces, height, width, depth)
    return _resolve(fragments, faces, depth, height, width)


def interpolate(raster: Raster, vertex_values, faces=None, fill: float = np.nan) -> np.ndarray:
    """Barycentric interpolation of per-vertex values over a raster.

    vertex_values: V or V x C. Returns H x W (x C) float64, ``fill`` where no face covers the
    pixel. ``faces`` (F x 3) indexes ``vertex_values``; default: the rasterized faces. Pass
    other faces with the same rows to interpolate per-vertex data over a raster of per-corner
    UVs (rasterize ``ft`` over ``vt``, interpolate with ``f``).
    """
    values = np.asarray(vertex_values, dtype=np.float64)
    faces = raster.faces if faces is None else np.asarray(faces, dtype=np.int64)
    if faces.shape != raster.faces.shape:
        raise ValueError(f"faces must be {raster.faces.shape}, like the rasterized ones, got {faces.shape}")
    flat_values = values.reshape(len(values), -1)
    height, width = raster.face.shape
    out = np.full((height * width, flat_values.shape[1]), fill, dtype=np.float64)
    covered = np.flatnonzero(raster.face.ravel() >= 0)
    weights = raster.barycentric.reshape(-1, 3)
    for start in range(0, len(covered), 1 << 18):
        pixels = covered[start:start + (1 << 18)]
        corners = faces[raster.face.ravel()[pixels]]                 # n x 3
        w = weights[pixels]
        out[pixels] = (w[:, 0:1] * flat_values[corners[:, 0]] + w[:, 1:2] * flat_values[corners[:, 1]]
                       + w[:, 2:3] * flat_values[corners[:, 2]])
    return out.reshape((height, width) + values.shape[1:])


# --- fragment generation -------------------------------------------------------------------

def _all_fragments(points, faces, height, width, depth) -> _Fragments:
    corners = points[faces]                                      # F x 3 x 2
    signed_area = _cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    usable = np.isfinite(corners).all(axis=(1, 2)) & (signed_area != 0)
    if depth is not None:
        face_depth = depth[faces]
        usable &= np.isfinite(face_depth).all(axis=1) & (face_depth > 0).all(axis=1)
    # Orient every triangle so that signed_area > 0: interior is where all edge functions > 0.
    flipped = signed_area < 0
    corners = np.where(flipped[:, None, None], corners[:, [0, 2, 1]], corners)

    with np.errstate(invalid="ignore"):
        lo = np.ceil(corners.min(axis=1))
        hi = np.floor(corners.max(axis=1))
    usable &= np.isfinite(lo).all(axis=1) & np.isfinite(hi).all(axis=1)
    lo = np.clip(np.nan_to_num(lo), 0, [width, height])
    hi = np.clip(np.nan_to_num(hi), -1, [width - 1, height - 1])
    usable &= (hi >= lo).all(axis=1)
    tri = np.flatnonzero(usable)
    edges = _edge_setup(corners[tri])
    items = _tiles(tri, lo[tri].astype(np.int64), hi[tri].astype(np.int64))

    parts = []
    for chunk in _chunks(items):
        parts.append(_chunk_fragments(chunk, edges, width))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return _Fragments(empty, empty, np.zeros((0, 3)))
    pixel = np.concatenate([p[0] for p in parts])
    local = np.concatenate([p[1] for p in parts])
    weights = np.concatenate([p[2] for p in parts])
    weights = np.where(flipped[tri[local]][:, None], weights[:, [0, 2, 1]], weights)
    return _Fragments(pixel, tri[local], weights)


def _cross(a, b):
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def _edge_setup(corners) -> dict:
    """Per triangle, per edge k (opposite vertex k): canonical start point, direction, the
    sign that turns the canonical edge function into the triangle's, and the top-left flag."""
    start = corners[:, [1, 2, 0]]                                # edge k runs start -> end
    end = corners[:, [2, 0, 1]]
    swap = (end[..., 0] < start[..., 0]) | ((end[..., 0] == start[..., 0]) & (end[..., 1] < start[..., 1]))
    canon_start = np.where(swap[..., None], end, start)
    canon_end = np.where(swap[..., None], start, end)
    direction = end - start
    # y is down: a left edge goes up (dy < 0); a top edge is horizontal and goes right.
    top_left = (direction[..., 1] < 0) | ((direction[..., 1] == 0) & (direction[..., 0] > 0))
    return {
        "ox": canon_start[..., 0], "oy": canon_start[..., 1],
        "dx": canon_end[..., 0] - canon_start[..., 0], "dy": canon_end[..., 1] - canon_start[..., 1],
        "sign": np.where(swap, -1.0, 1.0), "top_left": top_left,
    }


def _tiles(tri, lo, hi) -> dict:
    """Split each triangle's pixel box into tiles of at most TILE x TILE."""
    size = hi - lo + 1
    count = -(-size // TILE)                                     # F' x 2 tiles along x, y
    per_tri = count[:, 0] * count[:, 1]
    owner = np.repeat(np.arange(len(tri)), per_tri)
    first = np.cumsum(per_tri) - per_tri
    index = np.arange(per_tri.sum()) - first[owner]
    tx, ty = index % count[owner, 0], index // count[owner, 0]
    x0 = lo[owner, 0] + tx * TILE
    y0 = lo[owner, 1] + ty * TILE
    w = np.minimum(TILE, hi[owner, 0] - x0 + 1)
    h = np.minimum(TILE, hi[owner, 1] - y0 + 1)
    return {"local": owner, "x0": x0, "y0": y0, "w": w, "h": h}


def _chunks(items):
    """Group tiles by size class and yield chunks of at most CHUNK_PIXELS candidates."""
    cw = np.searchsorted(_SIZE_CLASSES, items["w"])
    ch = np.searchsorted(_SIZE_CLASSES, items["h"])
    key = cw * len(_SIZE_CLASSES) + ch
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for group in np.split(order, bounds):
        if not len(group):
            continue
        box_w = int(_SIZE_CLASSES[cw[group[0]]])
        box_h = int(_SIZE_CLASSES[ch[group[0]]])
        step = max(1, CHUNK_PIXELS // (box_w * box_h))
        for start in range(0, len(group), step):
            sel = group[start:start + step]
            yield {name: value[sel] for name, value in items.items()} | {"box": (box_w, box_h)}


def _chunk_fragments(chunk, edges, width):
    box_w, box_h = chunk["box"]
    local = chunk["local"]
    cols = np.arange(box_w)[None, None, :]
    rows = np.arange(box_h)[None, :, None]
    inside = (cols < chunk["w"][:, None, None]) & (rows < chunk["h"][:, None, None])
    px = (chunk["x0"][:, None, None] + cols).astype(np.float64)   # n x 1 x box_w
    py = (chunk["y0"][:, None, None] + rows).astype(np.float64)   # n x box_h x 1
    values = []
    for k in range(3):
        e = {name: value[local, k][:, None, None] for name, value in edges.items()}
        canonical = e["dx"] * (py - e["oy"]) - e["dy"] * (px - e["ox"])
        value = e["sign"] * canonical
        inside &= (value > 0) | ((value == 0) & e["top_left"])
        values.append(value)
    n, r, c = np.nonzero(inside)
    weights = np.stack([v[n, r, c] for v in values], axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    pixel = (chunk["y0"][n] + r) * width + chunk["x0"][n] + c
    return pixel, local[n], weights


# --- visibility -----------------------------------------------------------------------------

def _resolve(fragments: _Fragments, faces, depth, height, width) -> Raster:
    weights = fragments.weights
    if depth is None:
        frag_depth = np.zeros(len(fragments.pixel))
    else:
        inverse = weights / depth[faces[fragments.face]]          # s_i / z_i
        frag_depth = 1.0 / inverse.sum(axis=1)
        weights = inverse * frag_depth[:, None]
    order = _nearest_first(fragments.pixel, frag_depth, fragments.face, height * width)
    pixel = fragments.pixel[order]

    face_image = np.full(height * width, -1, dtype=np.int32)
    bary_image = np.zeros((height * width, 3))
    depth_image = np.full(height * width, np.inf)
    face_image[pixel] = fragments.face[order]
    bary_image[pixel] = weights[order]
    depth_image[pixel] = frag_depth[order]
    return Raster(face=face_image.reshape(height, width),
                  barycentric=bary_image.reshape(height, width, 3),
                  depth=depth_image.reshape(height, width), faces=faces)


def _nearest_first(pixel, depth, face, num_pixels) -> np.ndarray:
    """Indices of the winning fragment of each covered pixel (nearest, then lowest face)."""
    if not len(pixel) or np.bincount(pixel, minlength=num_pixels).max() <= 1:
        return np.arange(len(pixel))
    order = np.lexsort((face, depth, pixel))
    sorted_pixel = pixel[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_pixel[1:] != sorted_pixel[:-1]
    return order[first]

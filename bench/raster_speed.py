"""Rasterizer speed: synth_core.raster against a per-triangle loop, on the default body.

The baseline, measured in the same run, is the textbook z-buffer: one Python iteration per
triangle, numpy edge functions over its bounding box. Both rasterize the same triangles; the
script prints seconds, the speed-up, and how far the two agree (covered pixels, depth), so a
fast but wrong rasterizer shows up here too. Run: .venv/bin/python bench/raster_speed.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from synth_core.body.catalog import load_body_model  # noqa: E402
from synth_core.raster import rasterize  # noqa: E402


def best_of(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def per_triangle_zbuffer(points, faces, height, width, depth=None):
    """(face index image, depth image) by looping over triangles; pixel centres on an edge count
    as inside (no top-left rule), so a few edge pixels may differ from synth_core.raster."""
    face_image = np.full((height, width), -1)
    depth_image = np.full((height, width), np.inf)
    for index, face in enumerate(faces):
        corners = points[face]
        x0, y0 = np.maximum(np.ceil(corners.min(0)), 0).astype(int)
        x1, y1 = np.minimum(np.floor(corners.max(0)), [width - 1, height - 1]).astype(int)
        if x1 < x0 or y1 < y0:
            continue
        ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        (ax, ay), (bx, by), (cx, cy) = corners
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if area == 0:
            continue
        w0 = ((bx - xs) * (cy - ys) - (by - ys) * (cx - xs)) / area
        w1 = ((cx - xs) * (ay - ys) - (cy - ys) * (ax - xs)) / area
        w2 = 1.0 - w0 - w1
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        if depth is None:
            z = np.zeros_like(w0)
        else:
            z = 1.0 / (w0 / depth[face[0]] + w1 / depth[face[1]] + w2 / depth[face[2]])
        window = depth_image[y0:y1 + 1, x0:x1 + 1]
        nearer = inside & (z < window)
        window[nearer] = z[nearer]
        face_image[y0:y1 + 1, x0:x1 + 1][nearer] = index
    return face_image, depth_image


def body_in_camera(body, distance: float, width: int, height: int):
    """The default body's rest mesh seen from ``distance`` m, OpenCV axes, fx = fy = 600 px
    scaled with the width (a 60 mm lens on a 32 mm sensor)."""
    vertices = body.data.v_template - np.array([0.0, 0.0, distance])
    camera = vertices * np.array([1.0, -1.0, -1.0])               # y down, z forward
    focal = 600.0 * width / 320.0
    points = camera[:, :2] / camera[:, 2:] * focal + [(width - 1) / 2, (height - 1) / 2]
    return points, camera[:, 2]


def main() -> None:
    body = load_body_model()
    data = body.data
    cases = []
    for width, height, distance in ((320, 240, 8.0), (640, 480, 3.0)):
        points, z = body_in_camera(body, distance, width, height)
        cases.append((f"body {width}x{height} at {distance:g} m", points, data.faces, height, width, z))
    uv = np.column_stack([data.vt[:, 0] * 1024 - 0.5, (1 - data.vt[:, 1]) * 1024 - 0.5])
    cases.append(("UV map 1024x1024", uv, data.ft, 1024, 1024, None))

    print(f"{len(data.faces)} triangles; seconds are the best of 3 (ours) and of 1 (loop)")
    print(f"{'case':<26} {'covered px':>10} {'ours s':>8} {'loop s':>8} {'speed-up':>8} "
          f"{'mask agree':>10} {'depth diff':>10}")
    for name, points, faces, height, width, z in cases:
        ours_s, ours = best_of(lambda: rasterize(points, faces, height, width, depth=z), 3)
        loop_s, (loop_face, loop_depth) = best_of(
            lambda: per_triangle_zbuffer(points, faces, height, width, z), 1)
        agree = np.mean(ours.mask == (loop_face >= 0))
        both = ours.mask & (loop_face >= 0)
        depth_diff = np.abs(ours.depth[both] - loop_depth[both]).max() if z is not None else 0.0
        print(f"{name:<26} {ours.mask.sum():>10} {ours_s:>8.3f} {loop_s:>8.3f} {loop_s / ours_s:>7.1f}x "
              f"{agree:>10.5f} {depth_diff:>10.1e}")


if __name__ == "__main__":
    main()

"""The numpy rasterizer against brute force, analytic pinhole depth and z-buffer order."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.body.catalog import load_body_model
from synth_core.raster import interpolate, rasterize


def _pixel_centres(height, width):
    rows, cols = np.mgrid[0:height, 0:width]
    return cols.astype(float), rows.astype(float)


def _brute_force_barycentric(triangle, height, width):
    """Barycentric coordinates of every pixel centre w.r.t. one triangle (textbook formula)."""
    x, y = _pixel_centres(height, width)
    (x0, y0), (x1, y1), (x2, y2) = triangle
    det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
    b0 = ((y1 - y2) * (x - x2) + (x2 - x1) * (y - y2)) / det
    b1 = ((y2 - y0) * (x - x2) + (x0 - x2) * (y - y2)) / det
    return np.stack([b0, b1, 1 - b0 - b1], axis=-1)


@pytest.mark.parametrize("height, width, trials, sizes", [
    (37, 53, 200, [0.7, 3.0, 15.0, 200.0]),
    (300, 290, 8, [150.0, 400.0]),                            # boxes bigger than a tile
])
def test_coverage_and_weights_match_brute_force_on_random_triangles(height, width, trials, sizes):
    rng = np.random.default_rng(height)
    for _ in range(trials):
        size = rng.choice(sizes)
        centre = rng.uniform([-5, -5], [width + 5, height + 5])
        triangle = centre + rng.normal(0, size, (3, 2))
        raster = rasterize(triangle, [[0, 1, 2]], height, width)
        bary = _brute_force_barycentric(triangle, height, width)
        margin = bary.min(axis=-1)
        clear = np.abs(margin) > 1e-9                           # not on an edge
        np.testing.assert_array_equal(raster.mask[clear], (margin > 0)[clear])
        np.testing.assert_allclose(raster.barycentric[raster.mask], bary[raster.mask], atol=1e-9)
        assert np.all(raster.face[raster.mask] == 0)
        assert np.all(raster.barycentric[~raster.mask] == 0)
        assert np.all(np.isinf(raster.depth[~raster.mask]))


def test_top_left_rule_on_a_square_through_pixel_centres():
    # Square with corners on pixel centres (1,1)..(5,4): the top and left edges are inside,
    # the bottom and right ones are not, whichever way the two triangles are wound.
    corners = np.array([[1, 1], [5, 1], [5, 4], [1, 4]], dtype=float)
    for faces in ([[0, 1, 2], [0, 2, 3]], [[0, 2, 1], [0, 3, 2]], [[1, 3, 0], [1, 2, 3]]):
        raster = rasterize(corners, faces, 8, 8)
        expected = np.zeros((8, 8), dtype=bool)
        expected[1:4, 1:5] = True
        np.testing.assert_array_equal(raster.mask, expected)


def test_a_closed_mesh_covers_every_inside_pixel_centre_exactly_once():
    # A jittered grid whose vertices sit on quarter pixels: many centres lie exactly on
    # shared edges and shared vertices.
    rng = np.random.default_rng(1)
    n = 7
    gx, gy = np.meshgrid(np.arange(n) * 4.0, np.arange(n) * 4.0)
    points = np.stack([gx, gy], -1).reshape(-1, 2) + 2.0
    inner = (gx > 0) & (gx < gx.max()) & (gy > 0) & (gy < gy.max())
    points[inner.ravel()] += rng.integers(-4, 5, (inner.sum(), 2)) * 0.25
    index = np.arange(n * n).reshape(n, n)
    a, b, c, d = index[:-1, :-1], index[:-1, 1:], index[1:, :-1], index[1:, 1:]
    faces = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3),
                            np.stack([a, d, c], -1).reshape(-1, 3)])
    faces[::3] = faces[::3, ::-1]                                # mixed winding
    height = width = 32
    count = sum(rasterize(points, [face], height, width).mask.astype(int) for face in faces)
    # Pixel centres in the mesh's outline square [2, 26): top/left edges in, bottom/right out.
    expected = np.zeros((height, width), dtype=int)
    expected[2:26, 2:26] = 1
    np.testing.assert_array_equal(count, expected)
    # And the single-call raster agrees with the union.
    np.testing.assert_array_equal(rasterize(points, faces, height, width).mask, expected == 1)


def _pinhole(points_3d, focal, cx, cy):
    return np.stack([focal * points_3d[:, 0] / points_3d[:, 2] + cx,
                     focal * points_3d[:, 1] / points_3d[:, 2] + cy], axis=1)


def test_depth_is_perspective_correct_for_a_tilted_plane():
    focal, cx, cy, height, width = 300.0, 40.0, 30.0, 60, 80
    normal = np.array([0.3, -0.4, 1.0])                           # plane normal . X = offset
    offset = 5.0
    # Triangle vertices on the plane, spanning a big depth range.
    xy = np.array([[-2.0, -1.5], [2.5, -1.0], [0.0, 2.0]])
    z = (offset - xy @ normal[:2]) / normal[2]
    vertices = np.column_stack([xy, z])
    raster = rasterize(_pinhole(vertices, focal, cx, cy), [[0, 1, 2]], height, width, depth=z)
    assert raster.mask.sum() > 500

    x, y = _pixel_centres(height, width)
    rays = np.stack([(x - cx) / focal, (y - cy) / focal, np.ones_like(x)], -1)
    analytic = offset / (rays @ normal)                           # ray-plane intersection z
    np.testing.assert_allclose(raster.depth[raster.mask], analytic[raster.mask], rtol=1e-12)
    # The visible 3D point from the weights is the ray-plane intersection.
    point = interpolate(raster, vertices)
    np.testing.assert_allclose(point[raster.mask], (rays * analytic[..., None])[raster.mask], atol=1e-9)
    # Screen-space linear depth would be measurably wrong here, so the test can tell.
    screen = _brute_force_barycentric(_pinhole(vertices, focal, cx, cy), height, width)
    linear = screen @ z
    assert np.abs(linear - analytic)[raster.mask].max() > 0.05


def test_z_buffer_keeps_the_nearest_surface_of_two_crossing_triangles():
    focal, cx, cy, height, width = 100.0, 32.0, 32.0, 64, 64
    # Two large triangles on planes z = 4 + 0.5 x and z = 4 - 0.5 x: they cross at x = 0.
    xy = np.array([[-3.0, -3.0], [3.0, -3.0], [0.0, 3.0]])
    first = np.column_stack([xy, 4 + 0.5 * xy[:, 0]])
    second = np.column_stack([xy * 1.01, 4 - 0.5 * xy[:, 0] * 1.01])
    vertices = np.concatenate([first, second])
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    x, y = _pixel_centres(height, width)
    rays = np.stack([(x - cx) / focal, (y - cy) / focal, np.ones_like(x)], -1)
    depth_first = 4 / (rays @ np.array([-0.5, 0, 1]))
    depth_second = 4 / (rays @ np.array([0.5, 0, 1]))
    points = _pinhole(vertices, focal, cx, cy)
    both = np.abs(x - cx) > 1
    for face in faces:
        both &= rasterize(points, [face], height, width, depth=vertices[:, 2]).mask
    assert both.sum() > 1000
    for order in (faces, faces[::-1]):
        raster = rasterize(points, order, height, width, depth=vertices[:, 2])
        winner = order[raster.face[both]][:, 0] // 3              # 0 = first, 1 = second
        expected = np.where(depth_first < depth_second, 0, 1)[both]
        np.testing.assert_array_equal(winner, expected)
        np.testing.assert_allclose(raster.depth[both],
                                   np.minimum(depth_first, depth_second)[both], rtol=1e-12)


def test_ties_go_to_the_lower_face_index():
    points = np.array([[0, 0], [20, 0], [0, 20]], dtype=float)
    raster = rasterize(points, [[0, 1, 2], [2, 1, 0], [1, 2, 0]], 16, 16)
    assert set(np.unique(raster.face[raster.mask])) == {0}
    raster = rasterize(points, [[0, 1, 2], [0, 1, 2]], 16, 16, depth=np.array([3.0, 4.0, 5.0]))
    assert set(np.unique(raster.face[raster.mask])) == {0}


def test_unusable_triangles_cover_nothing():
    points = np.array([[0, 0], [10, 0], [0, 10], [5, 0], [np.nan, 1]], dtype=float)
    faces = [[0, 1, 3], [0, 1, 4]]                               # zero area, NaN point
    assert not rasterize(points, faces, 12, 12).mask.any()
    behind = rasterize(points, [[0, 1, 2]], 12, 12, depth=np.array([1.0, -1.0, 1.0, 1.0, 1.0]))
    assert not behind.mask.any()
    outside = rasterize(points + 100, [[0, 1, 2]], 12, 12)
    assert not outside.mask.any()


def test_empty_input_gives_an_empty_raster():
    raster = rasterize(np.zeros((0, 2)), np.zeros((0, 3), dtype=int), 5, 6)
    assert raster.face.shape == (5, 6) and not raster.mask.any()


def test_interpolate_fills_empty_pixels_and_keeps_value_shape():
    points = np.array([[0, 0], [8, 0], [0, 8]], dtype=float)
    raster = rasterize(points, [[0, 1, 2]], 10, 10)
    values = interpolate(raster, np.array([1.0, 2.0, 3.0]))
    assert values.shape == (10, 10)
    assert np.isnan(values[~raster.mask]).all()
    x, y = _pixel_centres(10, 10)
    np.testing.assert_allclose(values[raster.mask], (1 + x / 8 + 2 * y / 8)[raster.mask])
    assert interpolate(raster, np.ones((3, 4)), fill=0.0).shape == (10, 10, 4)
    with pytest.raises(ValueError):
        rasterize(points, [[0, 1, 3]], 10, 10)


def test_the_body_uv_map_covers_its_islands_area_without_gaps_or_double_cover():
    # Speed is measured by bench/raster_speed.py, not asserted here.
    data = load_body_model().data
    uv = np.column_stack([data.vt[:, 0] * 1024 - 0.5, (1 - data.vt[:, 1]) * 1024 - 0.5])
    uv_raster = rasterize(uv, data.ft, 1024, 1024)
    # Texel count matches the UV islands' area (no gaps, no double cover).
    corners = data.vt[data.ft]
    area = 0.5 * np.abs(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])).sum()
    assert uv_raster.mask.mean() == pytest.approx(area, rel=2e-3)

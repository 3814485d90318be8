"""Blender's armature + shape-key body equals the numpy body model, vertex for vertex.

Checks the bone matrices (rest frames, parents, translation of the root), vertex-group
skinning and SMPL's pose correctives as shape keys, on the default body and on an
SMPL-format file with non-zero pose blend shapes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synth_core.body.catalog import load_body_model
from synth_core.body.model import BodyModel
from synth_core.scene import camera as cam
from tests.conftest import make_smpl_arrays, write_pkl

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "blender_scripts" / "skinned_vertices.py"
ROOT = Path(__file__).resolve().parent.parent


def _blender_pose(model_path: Path, model: BodyModel, tmp_path: Path, seed: int) -> tuple:
    rng = np.random.default_rng(seed)
    frames = 3
    inputs = {"betas": rng.normal(0, 1, model.num_betas), "pose": rng.normal(0, 0.4, (frames, 24, 3)),
              "transl": rng.normal(0, 0.3, (frames, 3)), "yaw": rng.uniform(0, 2 * np.pi)}
    np.savez(tmp_path / "in.npz", **inputs)
    subprocess.run([sys.executable, str(SCRIPT), str(model_path), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                   check=True, cwd=ROOT, capture_output=True)
    blender = np.load(tmp_path / "out.npz")
    out = model(betas=inputs["betas"], pose=inputs["pose"], transl=inputs["transl"])
    to_world = cam.body_to_world(inputs["yaw"])
    return blender, cam.transform_points(to_world, out.vertices), cam.transform_points(to_world, out.joints)


def test_default_body_skinned_by_blender_equals_numpy(tmp_path):
    from synth_core import assets

    model_path = assets.require("body/default")
    blender, vertices, joints = _blender_pose(model_path, load_body_model(), tmp_path, seed=1)
    assert np.abs(blender["vertices"] - vertices).max() < 1e-5
    assert np.abs(blender["joints"] - joints).max() < 1e-5


def test_smpl_pose_correctives_become_shape_keys(tmp_path):
    path = tmp_path / "smpl_like.pkl"  # SMPL's own layout: chumpy-free pickle, sparse regressor
    write_pkl(path, make_smpl_arrays(seed=3, num_vertices=2000))
    model = BodyModel.from_file(path)
    assert np.any(model.data.posedirs)
    blender, vertices, _ = _blender_pose(path, model, tmp_path, seed=2)
    assert np.abs(blender["vertices"] - vertices).max() < 1e-5
    # Without the correctives the match would fail: they move vertices by millimetres here.
    no_correctives = BodyModel(type(model.data)(**{**model.data.__dict__, "posedirs": np.zeros_like(model.data.posedirs)}))
    data = np.load(tmp_path / "in.npz")
    plain = no_correctives(betas=data["betas"], pose=data["pose"], transl=data["transl"]).vertices
    plain = cam.transform_points(cam.body_to_world(float(data["yaw"])), plain)
    assert np.abs(blender["vertices"] - plain).max() > 1e-3


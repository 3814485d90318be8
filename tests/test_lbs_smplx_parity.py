"""Our numpy forward against the smplx package's SMPL on the same generated model files."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.body import BodyModel, load_model_file
from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.motion.rotations import matrix_to_axis_angle
from synth_core.body.parts import SMPL_PARENTS
from tests.conftest import write_pkl

torch = pytest.importorskip("torch", reason="smplx parity needs torch (pip install torch==2.13.0)")
smplx = pytest.importorskip("smplx", reason="smplx parity needs the smplx package (dev extra)")


def _smplx_forward(path, betas, pose, transl):
    model = smplx.SMPL(model_path=str(path), num_betas=betas.shape[1], dtype=torch.float64)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    with torch.no_grad():
        out = model(betas=as_t(betas), global_orient=as_t(pose[:, :3]), body_pose=as_t(pose[:, 3:]),
                    transl=as_t(transl))
    return out.vertices.numpy(), out.joints.numpy()[:, :24]


@pytest.mark.parametrize("fmt", ["pkl-sparse", "pkl-protocol0", "npz"])
def test_forward_matches_smplx(tmp_path, smpl_arrays, fmt):
    rng = np.random.default_rng(1)
    pkl = tmp_path / "model.pkl"
    write_pkl(pkl, smpl_arrays, sparse_regressor=True, protocol=0 if fmt == "pkl-protocol0" else 2)
    ours_path = pkl
    if fmt == "npz":
        ours_path = tmp_path / "model.npz"
        np.savez(ours_path, **smpl_arrays)

    batch = 6
    betas = rng.normal(0, 1.5, size=(batch, 10))
    pose = rng.normal(0, 0.6, size=(batch, 72))
    transl = rng.normal(0, 1.0, size=(batch, 3))

    ours = BodyModel.from_file(ours_path)(betas=betas, pose=pose, transl=transl)
    ref_vertices, ref_joints = _smplx_forward(pkl, betas, pose, transl)
    assert np.abs(ours.vertices - ref_vertices).max() <= 1e-5
    assert np.abs(ours.joints - ref_joints).max() <= 1e-5
    # The pose correctives matter in this model: without them the answer would differ.
    no_correctives = dict(smpl_arrays, posedirs=np.zeros_like(smpl_arrays["posedirs"]))
    np.savez(tmp_path / "flat.npz", **no_correctives)
    flat = BodyModel.from_file(tmp_path / "flat.npz")(betas=betas, pose=pose, transl=transl)
    assert np.abs(flat.vertices - ref_vertices).max() > 1e-3


def test_joint_transforms_compose_the_kinematic_chain(smpl_arrays, tmp_path):
    np.savez(tmp_path / "m.npz", **smpl_arrays)
    model = BodyModel.from_file(tmp_path / "m.npz")
    rng = np.random.default_rng(2)
    pose = rng.normal(0, 0.5, size=(24, 3))
    transl = np.array([0.3, -0.2, 1.5])
    out = model(pose=pose, transl=transl)
    local = axis_angle_to_matrix(pose)
    for joint in range(24):
        chain, j = [], joint
        while j >= 0:
            chain.append(j)
            j = SMPL_PARENTS[j]
        expected = np.eye(3)
        for j in reversed(chain):
            expected = expected @ local[j]
        np.testing.assert_allclose(out.joint_transforms[0, joint, :3, :3], expected, atol=1e-12)
    np.testing.assert_allclose(out.joint_transforms[0, :, :3, 3], out.joints[0], atol=1e-12)
    # Without pose correctives, a vertex weighted fully to joint j moves by skinning[j].
    flat = dict(smpl_arrays, posedirs=np.zeros_like(smpl_arrays["posedirs"]))
    np.savez(tmp_path / "flat.npz", **flat)
    out = BodyModel.from_file(tmp_path / "flat.npz")(pose=pose, transl=transl)
    rigid = np.flatnonzero(smpl_arrays["weights"].max(axis=1) == 1.0)[:50]
    owner = smpl_arrays["weights"][rigid].argmax(axis=1)
    rest = np.concatenate([out.shaped_vertices[0, rigid], np.ones((len(rigid), 1))], axis=1)
    moved = np.einsum("nrc,nc->nr", out.skinning_transforms[0, owner, :3], rest)
    np.testing.assert_allclose(moved, out.vertices[0, rigid], atol=1e-12)


def test_axis_angle_round_trip():
    rng = np.random.default_rng(3)
    axis_angle = rng.normal(0, 1, size=(100, 3))
    axis_angle *= (rng.uniform(0, 3.1, size=(100, 1)) / np.linalg.norm(axis_angle, axis=1, keepdims=True))
    np.testing.assert_allclose(matrix_to_axis_angle(axis_angle_to_matrix(axis_angle)), axis_angle, atol=1e-9)
    np.testing.assert_allclose(axis_angle_to_matrix(np.zeros(3)), np.eye(3))


def test_broadcasting_and_unbatched_inputs(smpl_arrays, tmp_path):
    np.savez(tmp_path / "m.npz", **smpl_arrays)
    model = BodyModel.from_file(tmp_path / "m.npz")
    rng = np.random.default_rng(4)
    poses = rng.normal(0, 0.4, size=(3, 24, 3))
    betas = rng.normal(0, 1, size=5)  # fewer than the model's 10: the rest are zero
    batched = model(betas=betas, pose=poses)
    for i in range(3):
        single = model(betas=np.pad(betas, (0, 5)), pose=poses[i].reshape(72))
        np.testing.assert_allclose(batched.vertices[i], single.vertices[0], atol=1e-12)
    assert load_model_file(tmp_path / "m.npz").num_betas == 10

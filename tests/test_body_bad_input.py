"""Bad model files and bad forward inputs give clear errors naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.body import BodyModel, load_model_file
from synth_core.body.catalog import body_asset_id, load_body_model
from synth_core.errors import AssetError, BodyInputError, BodyModelFileError
from tests.conftest import make_smpl_arrays


@pytest.fixture
def small():
    return make_smpl_arrays(num_vertices=300)


def _save(tmp_path, arrays, name="m.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(BodyModelFileError, match="not found.*nothing.npz"):
        load_model_file(tmp_path / "nothing.npz")


def test_unknown_extension(tmp_path):
    path = tmp_path / "model.obj"
    path.write_text("v 0 0 0\n")
    with pytest.raises(BodyModelFileError, match="unknown body model format '.obj'"):
        load_model_file(path)


@pytest.mark.parametrize("field", ["v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                                   "kintree_table", "f"])
def test_missing_field_is_named(tmp_path, small, field):
    del small[field]
    path = _save(tmp_path, small)
    with pytest.raises(BodyModelFileError, match=f"missing field '{field}'") as info:
        load_model_file(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("field, bad, message", [
    ("v_template", lambda a: a[:, :2], r"'v_template' has shape \(300, 2\), expected \? x 3"),
    ("shapedirs", lambda a: a[:100], r"'shapedirs' has shape \(100, 3, 10\), expected 300 x 3 x \?"),
    ("posedirs", lambda a: a[:, :, :50], r"'posedirs' has shape .* expected 300 x 3 x 207"),
    ("J_regressor", lambda a: a.T, r"'J_regressor' has shape \(300, 24\)"),
    ("weights", lambda a: a * 2.0, r"'weights' rows must be non-negative and sum to 1"),
    ("f", lambda a: a + 1000, r"'f' indexes vertices outside"),
    ("v_template", lambda a: np.where(np.arange(300)[:, None] == 7, np.nan, a), "'v_template' contains NaN"),
    ("shapedirs", lambda a: np.full(a.shape, "x"), r"'shapedirs' has dtype <U1, expected floats"),
    ("f", lambda a: a + 0.5, r"'f' has dtype float64, expected integers"),
])
def test_wrong_field_is_named(tmp_path, small, field, bad, message):
    small[field] = bad(small[field])
    with pytest.raises(BodyModelFileError, match=message):
        load_model_file(_save(tmp_path, small))


def test_smplh_joint_count_is_refused(tmp_path, small):
    small["kintree_table"] = np.zeros((2, 52), dtype=np.int64)
    with pytest.raises(BodyModelFileError, match="52 joints; only the 24-joint SMPL layout"):
        load_model_file(_save(tmp_path, small))


def test_truncated_npz(tmp_path, small):
    path = _save(tmp_path, small)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(BodyModelFileError, match="truncated or corrupt"):
        load_model_file(path)


def test_npz_with_pickled_objects_is_refused(tmp_path, small):
    small["evil"] = np.array([object()], dtype=object)
    path = tmp_path / "m.npz"
    np.savez(path, **small)
    with pytest.raises(BodyModelFileError, match="pickled objects"):
        load_model_file(path)


@pytest.fixture
def model(tmp_path, small):
    return BodyModel.from_file(_save(tmp_path, small))


@pytest.mark.parametrize("kwargs, message", [
    (dict(betas=np.zeros(11)), "betas has 11 coefficients but the model .* at most 10"),
    (dict(pose=np.full(72, np.nan)), "pose contains NaN or infinite"),
    (dict(pose=np.full(72, np.inf)), "pose contains NaN or infinite"),
    (dict(betas=[np.inf]), "betas contains NaN or infinite"),
    (dict(pose=np.zeros((24, 4))), r"pose must be 72, 24 x 3"),
    (dict(transl=np.zeros(2)), "transl must be 3 or B x 3"),
    (dict(pose=np.zeros((3, 72)), transl=np.zeros((2, 3))), "transl has batch size 2, expected 1 or 3"),
    (dict(pose="walk"), "pose must be numeric"),
])
def test_bad_forward_inputs(model, kwargs, message):
    with pytest.raises(BodyInputError, match=message):
        model(**kwargs)


def test_unknown_gender_and_source():
    with pytest.raises(BodyInputError, match="unknown gender 'robot'"):
        body_asset_id("smpl", "robot")
    with pytest.raises(BodyInputError, match="unknown body source 'star'"):
        body_asset_id("star", "male")


def test_licensed_smpl_missing_says_how_to_get_it():
    load_body_model.cache_clear()
    with pytest.raises(AssetError, match="SYNTH_SMPL_DIR"):
        load_body_model("smpl", "female")

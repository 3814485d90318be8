"""`synth export --format surreal`: every clip is exported whole or not at all (a bad clip is
reported, the others still exported, exit 1), and the body's betas are written under the
body model they belong to, so they rebuild the clip's joints with that model."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from synth_cli.exporters import surreal
from synth_cli.main import cli
from synth_core.body.catalog import load_body_model
from synth_core.dataset import read_clip
from synth_core.scene import camera as cam
from synth_core.scene.clip import pose_body
from tests.conftest import make_smpl_arrays, write_pkl
from tests.test_dataset_format import (_flip, _member_data_offset, make_annotations, make_frames,
                                       make_meta, write_clip)

N_FRAMES = 3
SUFFIXES = ("_info.mat", "_depth.mat", "_segm.mat", "_gtflow.mat", ".mp4")
GENDER_OF_CODE = {0: "female", 1: "male", 2: "neutral"}  # SURREAL's gender field


@pytest.fixture(scope="module")
def frames() -> list[dict]:
    return make_frames(N_FRAMES, height=48, width=64, seed=5)


def _invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def _export(source, out):
    return _invoke("export", "--format", "surreal", source, "--out", out)


def _corrupt_depth(clip_path) -> None:
    """Garble frame 1 of the depth archive: the clip opens, frame 0 decodes, frame 1 does not."""
    archive = clip_path / "depth.npz"
    _flip(archive, _member_data_offset(archive, "000001.npy") + 40)


def _assert_fully_exported(out, name: str, frames: list[dict]) -> None:
    for suffix, prefix in (("_depth.mat", "depth"), ("_segm.mat", "segm"), ("_gtflow.mat", "gtflow")):
        arrays = scipy.io.loadmat(out / f"{name}{suffix}")
        assert sorted(k for k in arrays if not k.startswith("__")) == sorted(
            f"{prefix}_{t}" for t in range(1, len(frames) + 1)), suffix
    for t, frame in enumerate(frames):
        segm = scipy.io.loadmat(out / f"{name}_segm.mat")[f"segm_{t + 1}"]
        np.testing.assert_array_equal(segm, frame["segmentation"])
    assert scipy.io.loadmat(out / f"{name}_info.mat")["joints3D"].shape == (3, 24, len(frames))
    reader = imageio.get_reader(out / f"{name}.mp4", format="FFMPEG")
    assert sum(1 for _ in reader) == len(frames)
    reader.close()


# ---------------------------------------------------------------------------------------------
# One clip at a time, all or nothing


def test_a_bad_clip_is_reported_and_the_others_are_exported(tmp_path, frames):
    root = tmp_path / "run"
    for name in ("a_clip", "b_[clip]", "c_clip"):  # brackets: rich markup must not eat the name
        write_clip(root / name, frames, meta=make_meta(), annotations=make_annotations(N_FRAMES))
    _corrupt_depth(root / "b_[clip]")  # exported second; fails after its _info.mat was written
    out = tmp_path / "out"
    result = _export(root, out)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert "Error: b_[clip] not exported" in text and "000001.npy of depth.npz" in text
    assert text.index("b_[clip] not exported") < text.index("c_clip: c_clip_info.mat")  # it went on
    assert "Exported 2 of 3 clip(s) (10 files)" in text and text.count("not SMPL betas") == 1  # noted once
    assert "1 clip(s) failed and left no file: b_[clip]: clip" in text
    # Both good clips complete; nothing of the bad one, no staging folder or temporary file.
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{c}_clip{s}" for c in "ac" for s in SUFFIXES)
    for name in ("a_clip", "c_clip"):
        _assert_fully_exported(out, name, frames)


def test_a_failed_reexport_keeps_the_earlier_export(tmp_path, frames):
    out = tmp_path / "out"
    write_clip(tmp_path / "first" / "clip", frames, annotations=make_annotations(N_FRAMES))
    assert _export(tmp_path / "first" / "clip", out).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == sorted(f"clip{s}" for s in SUFFIXES)
    # A new version of the clip (other annotations) whose depth cannot be read.
    newer = write_clip(tmp_path / "again" / "clip", frames, annotations=make_annotations(N_FRAMES, seed=1))
    _corrupt_depth(newer)
    result = _export(newer, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # not even its _info.mat
    assert result.exit_code == 1 and "not exported" in result.output


def test_a_reexport_drops_files_of_passes_the_clip_no_longer_has(tmp_path, frames):
    out = tmp_path / "out"
    write_clip(tmp_path / "first" / "clip", frames, annotations=make_annotations(N_FRAMES))
    assert _export(tmp_path / "first" / "clip", out).exit_code == 0
    write_clip(tmp_path / "again" / "clip", frames, passes=["segmentation"], annotations=make_annotations(N_FRAMES))
    result = _export(tmp_path / "again" / "clip", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["clip_info.mat", "clip_segm.mat"]
    assert "removed clip_depth.mat of an earlier export" in " ".join(result.output.split())


# ---------------------------------------------------------------------------------------------
# Which body the betas belong to


def _posed_clip(path, frames, model, betas, body: dict, seed: int = 0):
    """A clip whose joints are the body model's own: posed with random pose, placed by yaw."""
    rng = np.random.default_rng(seed)
    n = len(frames)
    pose, transl = rng.normal(0, 0.3, (n, 24, 3)), rng.normal(0, 0.1, (n, 3)) + [0, 0.9, 0]
    yaw = rng.uniform(0, 2 * np.pi)
    geometry = pose_body(model, betas, pose, transl, cam.body_to_world(yaw), np.arange(n), with_vertices=False)
    annotations = make_annotations(n, seed)
    k, rt = annotations["camera_K"], annotations["camera_Rt"]
    annotations.update(joints3d_world=geometry.joints_world, joints2d=cam.project(k, rt, geometry.joints_world)[0],
                       joints3d_camera=cam.world_to_camera(rt, geometry.joints_world), pose=pose, transl=transl,
                       betas=np.asarray(betas), yaw=np.float64(yaw), body_to_world=geometry.body_to_world)
    meta = dict(make_meta(), body=body)
    return write_clip(path, frames, passes=["segmentation"], meta=meta, annotations=annotations)


def _rebuilt_joints_error(info: dict, betas_field: str) -> float:
    """What a SURREAL loader does, from the file alone: load the model the file names (and its
    gender), shape it with ``betas_field``, pose it, turn it by zrot; compare joints3D with the
    pelvis as origin (SURREAL's files hold no translation). Returns the largest error, metres."""
    model = load_body_model(str(info["body_model"][0]), GENDER_OF_CODE[int(info["gender"][0, 0])])
    worst = 0.0
    for t in range(info["pose"].shape[1]):
        joints = model(betas=info[betas_field][:, t], pose=info["pose"][:, t].reshape(24, 3)).joints[0]
        rebuilt = cam.transform_points(cam.body_to_world(float(info["zrot"][t, 0])), joints)
        stored = info["joints3D"][:, :, t].T
        worst = max(worst, np.abs((rebuilt - rebuilt[0]) - (stored - stored[0])).max())
    return worst


def test_default_body_betas_rebuild_the_joints_and_are_not_offered_as_smpl_shape(tmp_path, frames):
    model = load_body_model("default")
    betas = np.random.default_rng(7).normal(0, 1, model.num_betas)
    clip = _posed_clip(tmp_path / "clip", frames, model, betas, {"source": "default", "gender": "male"})
    result = _export(clip, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "the default body's betas are not SMPL betas: no 'shape' field" in " ".join(result.output.split())
    info = scipy.io.loadmat(tmp_path / "out" / "clip_info.mat")
    assert info["body_model"][0] == "default" and info["betas_default"].shape == (16, N_FRAMES)
    assert "shape" not in info  # an SMPL loader's info['shape'] fails instead of building a wrong body
    assert _rebuilt_joints_error(info, "betas_default") < 1e-5  # float32 in the file
    # Ten of the sixteen betas (the old `shape`) give another body: the test can tell.
    info["first_ten"] = np.vstack([info["betas_default"][:10], np.zeros((6, N_FRAMES))])
    assert _rebuilt_joints_error(info, "first_ten") > 1e-4


@pytest.fixture
def smpl_female(tmp_path, monkeypatch):
    """A generated SMPL-format female model where SMPL's files would be."""
    folder = tmp_path / "smpl"
    folder.mkdir()
    write_pkl(folder / "basicmodel_f_lbs_10_207_0_v1.1.0.pkl", make_smpl_arrays(seed=2, num_vertices=600))
    monkeypatch.setenv("SYNTH_SMPL_DIR", str(folder))
    load_body_model.cache_clear()
    yield load_body_model("smpl", "female")
    load_body_model.cache_clear()


def test_smpl_clips_keep_surreals_shape_field(tmp_path, frames, smpl_female):
    betas = np.random.default_rng(8).normal(0, 1, 10)
    clip = _posed_clip(tmp_path / "clip", frames, smpl_female, betas, {"source": "smpl", "gender": "female"})
    assert _export(clip, tmp_path / "out").exit_code == 0
    info = scipy.io.loadmat(tmp_path / "out" / "clip_info.mat")
    assert info["body_model"][0] == "smpl" and int(info["gender"][0, 0]) == 0
    np.testing.assert_array_equal(info["shape"], info["betas_smpl"])
    assert _rebuilt_joints_error(info, "shape") < 1e-5  # SURREAL's own use: info['shape'][:, t]


def test_smpl_betas_past_the_tenth_are_not_cut_to_a_wrong_shape(frames, tmp_path):
    clip = read_clip(write_clip(tmp_path / "clip", frames, passes=["segmentation"],
                                annotations=make_annotations(N_FRAMES)))
    clip.meta = dict(clip.meta, body={"source": "smpl", "gender": "male"})
    betas = np.r_[np.ones(10), 0.5, np.zeros(5)]
    clip.annotations = dict(clip.annotations, betas=betas)
    info = surreal.info_dict(clip)
    assert "shape" not in info
    np.testing.assert_array_equal(info["betas_smpl"][:, 0], betas)
    clip.annotations = dict(clip.annotations, betas=np.r_[np.ones(10), np.zeros(6)])  # zeros past 10: fine
    np.testing.assert_array_equal(surreal.info_dict(clip)["shape"][:, 0], np.ones(10))


def test_an_unknown_body_model_is_refused(frames, tmp_path):
    clip = write_clip(tmp_path / "clip", frames, passes=["segmentation"],
                      meta=dict(make_meta(), body={"source": "smplx", "gender": "male"}),
                      annotations=make_annotations(N_FRAMES))
    result = _export(clip, tmp_path / "out")
    assert result.exit_code == 1
    assert "meta body.source 'smplx' is not one of default, smpl" in " ".join(result.output.split())
    assert list((tmp_path / "out").iterdir()) == []

"""`synth export --format surreal` and `synth preview`: files read back with scipy/imageio equal
the clip; the contact sheet has the promised layout and colours; CLI errors exit 1."""

from __future__ import annotations

import json

import imageio.v2 as imageio
import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner
from PIL import Image

from synth_cli.exporters import surreal
from synth_cli.main import cli
from synth_core.body.parts import part_palette
from synth_core.dataset import read_clip
from synth_core.visualize import colour_wheel, flow_to_colour
from tests.test_dataset_format import H, W, make_annotations, make_frames, make_meta, write_clip

N_FRAMES = 5
CAMERA_LOCATION = (0.3, -8.0, 1.1)  # make_annotations builds camera_Rt looking from here


@pytest.fixture(scope="module")
def frames() -> list[dict]:
    return make_frames(N_FRAMES, seed=3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, frames):
    """A folder with two finished clips (female, male) and one unfinished."""
    root = tmp_path_factory.mktemp("dataset")
    write_clip(root / "clip_a", frames, meta=make_meta(gender="female"))
    write_clip(root / "clip_b", frames[:2], meta=make_meta(gender="male"), annotations=make_annotations(2, seed=1))
    (root / "clip_c.partial-host-1").mkdir()
    return root


def _invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


# ---------------------------------------------------------------------------------------------
# SURREAL export


@pytest.fixture(scope="module")
def exported(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("surreal")
    result = _invoke("export", "--format", "surreal", dataset, "--out", out)
    assert result.exit_code == 0, result.output
    assert "Exported 2 clip(s) (10 files)" in result.output
    return out


def test_export_writes_surreal_files_for_every_finished_clip(exported):
    names = sorted(path.name for path in exported.iterdir())
    assert names == sorted(f"clip_{c}{suffix}" for c in "ab" for suffix in
                           ("_info.mat", "_depth.mat", "_segm.mat", "_gtflow.mat", ".mp4"))


def test_info_mat_matches_the_clip(dataset, exported):
    clip = read_clip(dataset / "clip_a")
    a, T = clip.annotations, N_FRAMES
    info = scipy.io.loadmat(exported / "clip_a_info.mat")
    for field, expected in {
        "joints2D": np.stack([a["joints2d"][:, :, 0].T, a["joints2d"][:, :, 1].T]),
        "joints3D": np.stack([a["joints3d_world"][:, :, k].T for k in range(3)]),
        "pose": np.concatenate([a["pose"][:, j, :].T for j in range(24)]),  # row 3j+k = joint j, axis k
        "betas_default": np.tile(a["betas"][:, None], (1, T)),  # all 16: the default body's
        "light": np.tile(a["sh"][:, None], (1, T)),
        "zrot": np.full((T, 1), a["yaw"]),
    }.items():
        assert info[field].dtype == np.float32, field
        np.testing.assert_array_equal(info[field], expected.astype(np.float32), err_msg=field)
    np.testing.assert_allclose(info["camLoc"], np.reshape(CAMERA_LOCATION, (3, 1)), atol=1e-9)
    assert info["camDist"][0, 0] == pytest.approx(np.linalg.norm(np.subtract(CAMERA_LOCATION,
                                                                             a["joints3d_world"][0, 0])))
    assert info["gender"].shape == (T, 1) and np.all(info["gender"] == 0)  # female = 0 in SURREAL's data
    assert scipy.io.loadmat(exported / "clip_b_info.mat")["gender"][0, 0] == 1  # male
    assert [cell[0] for cell in info["bg"][:, 0]] == ["photo/astronaut"] * T
    assert [cell[0] for cell in info["cloth"][:, 0]] == ["texture/stripes"] * T
    assert info["sequence"][0] == "walk_07_c0001" and info["source"][0] == "procedural"
    assert info["clipNo"][0, 0] == 1 and info["stride"][0, 0] == 4  # frame_indices step 4
    # SURREAL loaders: info['zrot'][0][0], info['gender'][0] == 1; no SMPL 'shape' for this body
    assert info["zrot"][0][0] == np.float32(a["yaw"])
    assert info["body_model"][0] == "default" and "shape" not in info


def test_short_smpl_betas_are_zero_padded(dataset):
    clip = read_clip(dataset / "clip_a")
    clip.meta = dict(clip.meta, body={"source": "smpl", "gender": "female"})
    clip.annotations = dict(clip.annotations, betas=np.array([1.0, -2.0, 3.0]))
    info = surreal.info_dict(clip)
    np.testing.assert_array_equal(info["shape"][:, 0], [1, -2, 3, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(info["betas_smpl"][:, 0], [1, -2, 3])


def test_label_mats_match_the_clip(dataset, exported, frames):
    clip = read_clip(dataset / "clip_a")
    depth = scipy.io.loadmat(exported / "clip_a_depth.mat")
    segm = scipy.io.loadmat(exported / "clip_a_segm.mat")
    gtflow = scipy.io.loadmat(exported / "clip_a_gtflow.mat")
    assert sorted(k for k in depth if not k.startswith("__")) == sorted(f"depth_{t}" for t in range(1, N_FRAMES + 1))
    for t in range(N_FRAMES):
        ours = clip.frame(t)
        d = depth[f"depth_{t + 1}"]
        assert d.dtype == np.float32 and d.shape == (H, W)
        foreground = ours["depth"] > 0
        np.testing.assert_array_equal(d[foreground], ours["depth"][foreground])
        assert np.all(d[~foreground] == 1e10)
        original_background = ~np.isfinite(frames[t]["depth"]) | (frames[t]["depth"] == 0)
        np.testing.assert_array_equal(~foreground, original_background)
        s = segm[f"segm_{t + 1}"]
        assert s.dtype == np.uint8
        np.testing.assert_array_equal(s, frames[t]["segmentation"])
        g = gtflow[f"gtflow_{t + 1}"]
        assert g.dtype == np.float32 and g.shape == (H, W, 2)
        np.testing.assert_array_equal(g[..., 0], ours["flow_backward"][..., 0])
        np.testing.assert_array_equal(g[..., 1], -ours["flow_backward"][..., 1])


def test_gtflow_has_blenders_vector_pass_signs(tmp_path, frames):
    """A point now at p was at p + (-3, +2) px (y down) one frame earlier: it moved 3 px right
    and 2 px up. Blender's vector pass X, Y (previous - current, y up) is then (-3, -2), and
    SURREAL users' fix (negate X) gives (+3, -2) = the motion in image coordinates."""
    moved = [dict(frame, flow_backward=np.tile(np.float32([-3.0, 2.0]), (H, W, 1))) for frame in frames[:2]]
    write_clip(tmp_path / "clip", moved, annotations=make_annotations(2))
    assert _invoke("export", "--format", "surreal", tmp_path / "clip", "--out", tmp_path / "out").exit_code == 0
    gtflow = scipy.io.loadmat(tmp_path / "out" / "clip_gtflow.mat")["gtflow_2"]
    np.testing.assert_array_equal(gtflow[5, 7], [-3.0, -2.0])
    users_fix = gtflow[5, 7] * [-1, 1]
    np.testing.assert_array_equal(users_fix, [3.0, -2.0])


def test_mp4_holds_the_rgb_frames(dataset, exported, frames):
    reader = imageio.get_reader(exported / "clip_a.mp4", format="FFMPEG")
    assert reader.get_meta_data()["fps"] == pytest.approx(30)
    video = [np.asarray(image) for image in reader]
    reader.close()
    assert len(video) == N_FRAMES
    for t, image in enumerate(video):
        assert image.shape == (H, W, 3)
        assert np.abs(image.astype(int) - frames[t]["rgb"]).mean() < 6  # H.264 CRF 18, 4:2:0


def test_default_out_is_a_sibling_and_missing_passes_are_skipped(tmp_path, frames):
    clip = write_clip(tmp_path / "run" / "only_parts", frames[:2], passes=["segmentation"],
                      annotations=make_annotations(2))
    result = _invoke("export", "--format", "surreal", clip)
    assert result.exit_code == 0, result.output
    out = tmp_path / "run" / "only_parts_surreal"
    assert sorted(p.name for p in out.iterdir()) == ["only_parts_info.mat", "only_parts_segm.mat"]
    text = " ".join(result.output.split())
    assert "no depth pass" in text and "no flow_backward pass" in text and "no rgb pass" in text


def test_a_failing_write_leaves_no_file(tmp_path, frames, monkeypatch):
    clip = write_clip(tmp_path / "clip", frames[:2], passes=["segmentation"], annotations=make_annotations(2))

    def crash(handle, arrays, **kwargs):
        handle.write(b"MATLAB half-written")
        raise OSError("disk full")

    monkeypatch.setattr(scipy.io, "savemat", crash)
    with pytest.raises(OSError, match="disk full"):
        surreal.export_clip(read_clip(clip), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Contact sheet


def _sheet(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_preview_cli_writes_the_contact_sheet(dataset, frames):
    clip_dir = dataset / "clip_a"
    result = _invoke("preview", clip_dir)
    assert result.exit_code == 0, result.output
    png = clip_dir / "preview.png"
    assert result.output.strip() == str(png)
    sheet = _sheet(png)
    rows = 4  # default: 4 evenly spaced frames of 5 -> 0, 1, 3, 4
    assert sheet.shape[1] == 6 * W  # six panels at the clip's resolution
    band = sheet.shape[0] / rows - H
    assert band == int(band) and 10 <= band <= 40
    band = int(band)
    # Row 2 shows frame 3. Sample well inside uniform regions of its panels.
    top = 2 * (H + band) + band
    frame = frames[3]
    y, x = 127, int(W * (0.45 + 0.06)) + 10  # inside the ellipse body, right half, part band 6
    part = frame["segmentation"][y, x]
    assert part > 0 and np.all(frame["segmentation"][y - 2:y + 3, x - 2:x + 3] == part)
    np.testing.assert_array_equal(sheet[top + y, 2 * W + x], part_palette()[part])
    assert np.all(sheet[top + 3, 1 * W + 3] == 0)  # depth background is black
    assert np.all(sheet[top + 3, 4 * W + 3] == 0)  # normals background is black
    assert np.all(sheet[top + 3, 3 * W + 3] == 255)  # no flow on the background: white
    rgb_patch = sheet[top + 10:top + 30, 10:30].astype(int)
    assert np.abs(rgb_patch - frame["rgb"][10:30, 10:30]).mean() < 3
    assert read_clip(clip_dir).verify()  # the preview does not disturb the clip


def test_preview_frames_and_out_options(dataset, tmp_path):
    out = tmp_path / "sheets" / "two.png"
    result = _invoke("preview", dataset / "clip_b", "--frames", "1,0", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    rows = 2
    sheet = _sheet(out)
    assert sheet.shape[1] == 6 * W and sheet.shape[0] % rows == 0 and sheet.shape[0] > rows * H
    assert not list(out.parent.glob(".*tmp*"))


def test_preview_of_a_clip_without_some_passes(tmp_path, frames):
    clip = write_clip(tmp_path / "clip", frames[:2], passes=["rgb", "segmentation"],
                      annotations=make_annotations(2))
    result = _invoke("preview", clip, "--frames", "1")
    assert result.exit_code == 0, result.output
    assert _sheet(clip / "preview.png").shape[1] == 6 * W


def test_small_clips_are_enlarged(tmp_path):
    small = make_frames(1, height=48, width=64)
    clip = write_clip(tmp_path / "small", small, annotations=make_annotations(1))
    assert _invoke("preview", clip).exit_code == 0
    assert _sheet(clip / "preview.png").shape[1] == 6 * 64 * 3  # 3x up to >= 160 px per panel


def test_flow_colour_wheel_follows_middlebury():
    wheel = colour_wheel()
    assert wheel.shape == (55, 3) and wheel.min() == 0 and wheel.max() == 1
    np.testing.assert_array_equal(wheel[0], [1, 0, 0])        # red, then towards yellow
    np.testing.assert_array_equal(wheel[15], [1, 1, 0])       # yellow after 15 steps
    np.testing.assert_array_equal(wheel[21], [0, 1, 0])       # green after 6 more
    np.testing.assert_array_equal(wheel[25], [0, 1, 1])       # cyan after 4 more
    np.testing.assert_array_equal(wheel[36], [0, 0, 1])       # blue after 11 more
    np.testing.assert_array_equal(wheel[49], [1, 0, 1])       # magenta after 13 more
    directions = np.array([[[0.0, 0.0], [4.0, 0.0], [-4.0, 0.0], [0.0, 4.0], [0.0, -4.0],
                            [2.0, 0.0], [8.0, 0.0]]], dtype=np.float32)
    still, right, left, down, up, half_right, beyond = flow_to_colour(directions, max_magnitude=4.0)[0].astype(int)
    assert list(still) == [255, 255, 255]
    assert right[0] == 255 and right[1] == 0 and right[2] < 50          # right: red
    assert left[0] == 0 and left[1] > 150 and left[2] == 255            # left: cyan-blue
    assert down[0] == 255 and down[1] > 150 and down[2] == 0            # down (y down): yellow-orange
    assert up[2] == 255 and up[1] == 0 and 50 < up[0] < 200             # up: violet
    np.testing.assert_allclose(half_right, (255 + right) / 2, atol=1)   # half way to white
    np.testing.assert_allclose(beyond, 0.75 * right, atol=1)            # saturated, darkened


# ---------------------------------------------------------------------------------------------
# CLI errors


def _one_line_error(result, message):
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "Error:" in text and message in text, text
    assert "Traceback" not in result.output


def test_cli_errors_exit_1_with_the_message(tmp_path, dataset, frames):
    _one_line_error(_invoke("export", "--format", "surreal", tmp_path / "nowhere"), "is not a folder")
    (tmp_path / "empty").mkdir()
    _one_line_error(_invoke("export", "--format", "surreal", tmp_path / "empty"), "holds no clips")
    _one_line_error(_invoke("preview", tmp_path / "empty"), "is not a clip: meta.json is missing")
    _one_line_error(_invoke("preview", dataset / "clip_c"), "is unfinished")
    _one_line_error(_invoke("preview", dataset / "clip_b", "--frames", "0,7"), "the clip has frames 0..1")
    broken = write_clip(tmp_path / "broken", frames[:1], annotations=make_annotations(1))
    meta = json.loads((broken / "meta.json").read_text())
    (broken / "meta.json").write_text(json.dumps(dict(meta, version=2)))
    _one_line_error(_invoke("export", "--format", "surreal", broken), "format version 2 is unknown")
    assert _invoke("preview", dataset / "clip_b", "--frames", "one").exit_code == 2  # usage error


def test_commands_have_help():
    for command in (["export"], ["preview"]):
        result = _invoke(*command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output

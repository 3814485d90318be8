"""The clip format v1: round trips within the stated tolerances, sizes, atomic writes,
corruption detection, bad input, and the numpy-only reading example of FORMAT.md."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synth_core.dataset import ClipWriter, find_clips, read_clip
from synth_core.dataset import format as fmt
from synth_core.errors import DatasetFormatError

ROOT = Path(__file__).resolve().parent.parent
H, W = 240, 320
ALL_PASSES = ["rgb", "depth", "segmentation", "flow_forward", "flow_backward", "normals"]
BUDGET_BYTES = 150 * 1024


# ---------------------------------------------------------------------------------------------
# Synthetic clips: a textured ellipse "body" moving over a photo, smooth labels


def _photo(height: int, width: int) -> np.ndarray:
    from skimage import data  # CC0 photo shipped inside scikit-image

    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.BILINEAR))


def _smooth_field(rng, yy, xx, amplitude: float) -> np.ndarray:
    field = np.zeros_like(xx)
    for _ in range(6):
        kx, ky = rng.uniform(-0.05, 0.05, size=2)
        field += amplitude / 6 * np.sin(kx * xx + ky * yy + rng.uniform(0, 2 * np.pi))
    return field


def make_frames(n_frames: int, height: int = H, width: int = W, seed: int = 0,
                camera_motion: bool = False) -> list[dict]:
    """Frames in the renderer's input convention (see FORMAT.md). The background has depth 0
    on even frames and inf on odd ones (both mean background); flow is zero there unless the
    camera moves."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    photo = _photo(height, width)
    frames = []
    for t in range(n_frames):
        cx, cy, ax, ay = width * (0.45 + 0.02 * t), height * 0.5, width * 0.11, height * 0.37
        u, v = (xx - cx) / ax, (yy - cy) / ay
        r2 = u ** 2 + v ** 2
        body = r2 < 1
        bulge = np.sqrt(np.clip(1 - r2, 0, 1))
        band = np.clip(((yy - (cy - ay)) / (2 * ay) * 12).astype(int), 0, 11)
        segmentation = np.where(body, 1 + band * 2 + (xx > cx), 0).astype(np.uint8)
        depth = np.where(body, 8.0 - 0.3 * bulge, np.inf if t % 2 else 0.0).astype(np.float32)
        stripes = 0.5 + 0.5 * np.sin(xx * 0.7 + yy * 0.3)
        texture = np.stack([200 * stripes, 90 + 60 * bulge, 160 - 80 * stripes], -1)
        texture += rng.normal(0, 6, texture.shape)
        rgb = np.where(body[..., None], texture, photo).clip(0, 255).astype(np.uint8)
        flows = []
        for direction in (1, -1):
            flow = np.stack([_smooth_field(rng, yy, xx, 3) + 6 * direction,
                             _smooth_field(rng, yy, xx, 3) - direction], -1)
            if camera_motion:
                flow += np.stack([_smooth_field(rng, yy, xx, 8), _smooth_field(rng, yy, xx, 8)], -1)
            else:
                flow *= body[..., None]
            flows.append(flow.astype(np.float32))
        normals = np.stack([u, v, -bulge - 0.2], -1)
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
        normals = (normals * body[..., None]).astype(np.float32)
        frames.append({"rgb": rgb, "depth": depth, "segmentation": segmentation,
                       "flow_forward": flows[0], "flow_backward": flows[1], "normals": normals})
    return frames


def look_at_Rt(location, target) -> np.ndarray:
    """World (Z up) -> OpenCV camera (x right, y down, z forward) looking from location at target."""
    location, target = np.asarray(location, float), np.asarray(target, float)
    forward = (target - location) / np.linalg.norm(target - location)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    return np.hstack([rotation, -rotation @ location[:, None]])


def make_annotations(n_frames: int, seed: int = 0, camera_location=(0.3, -8.0, 1.1)) -> dict:
    rng = np.random.default_rng(seed)
    joints3d_world = rng.normal(0, 0.4, (n_frames, 24, 3)) + [0, 0, 1.0]
    Rt = look_at_Rt(camera_location, joints3d_world[0, 0])
    K = np.array([[600.0, 0, 160], [0, 600, 120], [0, 0, 1]])
    camera = joints3d_world @ Rt[:, :3].T + Rt[:, 3]
    projected = camera @ K.T
    return {
        "joints2d": projected[..., :2] / projected[..., 2:],
        "joints3d_world": joints3d_world,
        "joints3d_camera": camera,
        "joints_visible": rng.uniform(size=(n_frames, 24)) < 0.8,
        "pose": rng.normal(0, 0.3, (n_frames, 24, 3)),
        "transl": rng.normal(0, 0.1, (n_frames, 3)),
        "betas": rng.normal(0, 1, 16),
        "body_to_world": np.eye(4),
        "camera_K": K,
        "camera_Rt": Rt,
        "sh": rng.uniform(-0.7, 0.7, 9),
        "yaw": np.float64(rng.uniform(0, 2 * np.pi)),
        "frame_indices": np.arange(n_frames) * 4 + 100,
    }


def make_meta(seed: int = 0, gender: str = "female") -> dict:
    return {"seed": seed, "plan": {"resolution": [W, H]}, "fps": 30, "texture_id": "texture/stripes",
            "background_id": "photo/astronaut", "versions": {"synth": "0.1.0", "blender": "5.0.1"},
            "camera": {"K": [[600, 0, 160], [0, 600, 120], [0, 0, 1]], "Rt": np.eye(3, 4),
                       "location": [0.3, -8.0, 1.1]},
            "body": {"source": "default", "gender": gender},
            "motion": {"source": "procedural", "name": "walk_07", "start": 100}}


def write_clip(path: Path, frames: list[dict], passes=ALL_PASSES, rgb_format="jpeg",
               meta=None, annotations=None) -> Path:
    height, width = frames[0]["segmentation"].shape
    with ClipWriter(path, height, width, len(frames), passes, rgb_format=rgb_format) as writer:
        for i, frame in enumerate(frames):
            writer.write_frame(i, **{name: frame[name] for name in passes})
        return writer.finish(make_meta() if meta is None else meta,
                             make_annotations(len(frames)) if annotations is None else annotations)


@pytest.fixture(scope="module")
def frames() -> list[dict]:
    return make_frames(3)


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory, frames) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip_000", frames)


# ---------------------------------------------------------------------------------------------
# Round trips


def test_round_trip_within_stated_tolerances(clip_path, frames):
    clip = read_clip(clip_path)
    assert (clip.n_frames, clip.height, clip.width, clip.passes) == (3, H, W, tuple(ALL_PASSES))
    for i, original in enumerate(frames):
        got = clip.frame(i)
        assert {name: array.dtype for name, array in got.items()} == {
            "rgb": np.uint8, "depth": np.float32, "segmentation": np.uint8,
            "flow_forward": np.float32, "flow_backward": np.float32, "normals": np.float32}
        np.testing.assert_array_equal(got["segmentation"], original["segmentation"])
        background = ~np.isfinite(original["depth"]) | (original["depth"] == 0)
        assert np.all(got["depth"][background] == 0) and np.all(got["depth"][~background] > 0)
        assert np.abs(got["depth"][~background] - original["depth"][~background]).max() <= 0.5e-3 + 1e-6
        for name in ("flow_forward", "flow_backward"):
            assert got[name].shape == (H, W, 2)
            assert np.abs(got[name] - original[name]).max() <= 1 / 128 + 1e-6
        assert np.abs(got["normals"] - original["normals"]).max() <= 0.5 / 127 + 1e-6
        assert np.all(got["normals"][background] == 0)
        assert np.abs(got["rgb"].astype(int) - original["rgb"]).mean() < 2.0  # JPEG q95 4:4:4


def test_meta_and_annotations_round_trip(clip_path):
    clip = read_clip(clip_path)
    expected_meta = make_meta()
    assert clip.meta["format"] == "synth-clip" and clip.meta["version"] == 1
    assert clip.meta["passes"] == ALL_PASSES
    assert set(clip.meta["encodings"]) == set(ALL_PASSES)
    assert clip.meta["body"] == expected_meta["body"] and clip.meta["motion"] == expected_meta["motion"]
    assert clip.meta["camera"]["Rt"] == np.eye(3, 4).tolist()  # numpy in meta becomes lists
    expected = make_annotations(3)
    assert set(clip.annotations) == set(expected)
    for name, array in expected.items():
        np.testing.assert_array_equal(clip.annotations[name], array, err_msg=name)
    assert clip.annotations["joints_visible"].dtype == np.bool_
    assert clip.annotations["frame_indices"].dtype == np.int64
    assert clip.annotations["yaw"].shape == ()
    assert clip.verify() == 3 + 5 + 2  # rgb files, pass files, meta + annotations


def test_png_rgb_is_exact_and_passes_subset(tmp_path, frames):
    path = write_clip(tmp_path / "png_clip", frames, passes=["segmentation", "rgb"], rgb_format="png")
    clip = read_clip(path)
    assert clip.passes == ("rgb", "segmentation")
    assert sorted(p.name for p in (path / "rgb").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    for i, original in enumerate(frames):
        np.testing.assert_array_equal(clip.frame(i)["rgb"], original["rgb"])
        only = clip.frame(i, passes=["segmentation"])
        assert list(only) == ["segmentation"] and list(clip.frame(i, passes="rgb")) == ["rgb"]
    assert not (path / "depth.npz").exists()


def test_extreme_values_survive_the_wrapping_filter(tmp_path):
    """Row differences wrap in the stored integer type; alternating extremes must round-trip."""
    rows = np.arange(H)[:, None] % 2 == 0
    depth = np.where(rows, 65.535, 0.0) * np.ones((1, W))
    flow = np.where(rows[..., None], 511.98, -511.98) * np.ones((1, W, 2))
    normals = np.where(rows[..., None], 1.0, -1.0) * np.ones((1, W, 3))
    path = tmp_path / "extreme"
    with ClipWriter(path, H, W, 1, ["depth", "flow_forward", "normals"]) as writer:
        writer.write_frame(0, depth=depth.astype(np.float32), flow_forward=flow.astype(np.float32),
                           normals=normals.astype(np.float32))
        writer.finish({}, make_annotations(1))
    got = read_clip(path).frame(0)
    assert np.abs(got["depth"] - depth).max() <= 1e-6 * 65.535 + 0.5e-3
    assert np.abs(got["flow_forward"] - flow).max() <= 1 / 128
    np.testing.assert_array_equal(got["normals"], normals)


def test_same_content_gives_the_same_bytes(tmp_path, frames):
    first = write_clip(tmp_path / "a", frames[:2])
    second = write_clip(tmp_path / "b", frames[:2])
    assert (first / "checksums.sha256").read_text() == (second / "checksums.sha256").read_text()


# ---------------------------------------------------------------------------------------------
# Sizes


def _per_frame_kib(path: Path) -> tuple[dict, float]:
    sizes = read_clip(path).frame_nbytes()
    per_pass = {name: float(values.mean()) / 1024 for name, values in sizes.items()}
    total_max = max(sum(int(values[i]) for values in sizes.values()) for i in range(len(sizes["rgb"])))
    return per_pass, total_max / 1024


def test_realistic_frames_fit_the_budget(tmp_path, frames, capsys):
    per_pass, total = _per_frame_kib(write_clip(tmp_path / "static", frames))
    moving, moving_total = _per_frame_kib(write_clip(tmp_path / "moving", make_frames(2, camera_motion=True)))
    with capsys.disabled():
        print(f"\n  KiB/frame, static camera: {', '.join(f'{k} {v:.1f}' for k, v in per_pass.items())}; "
              f"max total {total:.1f}")
        print(f"  KiB/frame, moving camera (flow everywhere): "
              f"{', '.join(f'{k} {v:.1f}' for k, v in moving.items())}; max total {moving_total:.1f}")
    assert total * 1024 <= BUDGET_BYTES
    assert moving_total * 1024 <= BUDGET_BYTES
    for name in ("depth", "flow_forward", "normals"):  # labels are far below their raw size
        raw = H * W * {"depth": 2, "flow_forward": 4, "normals": 3}[name]
        assert per_pass[name] * 1024 < raw / 4


# ---------------------------------------------------------------------------------------------
# Atomicity


def test_exception_mid_write_leaves_no_clip(tmp_path, frames):
    path = tmp_path / "clip"
    writer = ClipWriter(path, H, W, 3, ["rgb", "segmentation"])
    writer.write_frame(0, rgb=frames[0]["rgb"], segmentation=frames[0]["segmentation"])
    with pytest.raises(DatasetFormatError, match="frames not written: 1, 2"):
        writer.finish(make_meta(), make_annotations(3))
    assert not path.exists() and writer.partial_dir.is_dir()
    assert writer.partial_dir.name == f"clip.partial-{fmt.process_tag()}"
    with pytest.raises(DatasetFormatError, match="unfinished"):
        read_clip(path)
    assert find_clips(tmp_path) == []
    # The next writer of the same clip in this process starts again from scratch.
    write_clip(path, frames, passes=["rgb", "segmentation"])
    assert not writer.partial_dir.exists() and read_clip(path).verify()


def test_two_writers_of_one_clip_never_touch_each_others_files(tmp_path, frames):
    """Two shards given overlapping seeds: each writes its own partial folder; the first to
    finish publishes the clip, the second is told and leaves the finished clip alone."""
    path = tmp_path / "clip"
    first = ClipWriter(path, H, W, 1, ["segmentation"], owner="hostA-1")
    first.write_frame(0, segmentation=frames[0]["segmentation"])
    second = ClipWriter(path, H, W, 1, ["segmentation"], owner="hostB-2")
    assert first.partial_dir.is_dir(), "the second writer deleted the first one's partial folder"
    second.write_frame(0, segmentation=frames[0]["segmentation"])
    first.finish(make_meta(), make_annotations(1))
    with pytest.raises(DatasetFormatError, match="appeared while writing"):
        second.finish(make_meta(), make_annotations(1))
    assert read_clip(path).verify() and sorted(p.name for p in tmp_path.iterdir()) == ["clip"]


def test_context_manager_removes_the_partial_folder(tmp_path, frames):
    path = tmp_path / "clip"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        with ClipWriter(path, H, W, 3, ["segmentation"]) as writer:
            writer.write_frame(0, segmentation=frames[0]["segmentation"])
            raise RuntimeError("renderer crashed")
    assert list(tmp_path.iterdir()) == []


def test_crash_while_finishing_leaves_no_clip(tmp_path, frames, monkeypatch):
    path = tmp_path / "clip"
    writer = ClipWriter(path, H, W, 1, ["segmentation"])
    writer.write_frame(0, segmentation=frames[0]["segmentation"])
    monkeypatch.setattr(fmt, "format_checksums", lambda digests: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        writer.finish(make_meta(), make_annotations(1))
    assert list(tmp_path.iterdir()) == []  # neither the clip nor its partial folder


def test_killed_process_leaves_no_clip(tmp_path):
    code = (
        "import os, numpy as np\n"
        "from synth_core.dataset import ClipWriter\n"
        f"w = ClipWriter({str(tmp_path / 'clip')!r}, 24, 32, 5, ['segmentation'])\n"
        "w.write_frame(0, segmentation=np.zeros((24, 32), np.uint8))\n"
        "os._exit(9)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT)
    assert result.returncode == 9
    assert not (tmp_path / "clip").exists() and len(list(tmp_path.glob("clip.partial-*"))) == 1


def test_a_finished_clip_is_never_overwritten(clip_path, frames):
    before = (clip_path / "checksums.sha256").read_text()
    with pytest.raises(DatasetFormatError, match="already exists"):
        ClipWriter(clip_path, H, W, 3, ALL_PASSES)
    assert (clip_path / "checksums.sha256").read_text() == before


# ---------------------------------------------------------------------------------------------
# Corruption


def _member_data_offset(archive_path: Path, member: str) -> int:
    with zipfile.ZipFile(archive_path) as archive:
        info = archive.getinfo(member)
    with open(archive_path, "rb") as handle:
        handle.seek(info.header_offset + 26)
        name_length, extra_length = np.frombuffer(handle.read(4), dtype="<u2")
    return info.header_offset + 30 + int(name_length) + int(extra_length)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("pass_name", ["depth", "flow_backward", "segmentation"])
def test_flipped_bytes_in_a_member_are_detected(tmp_path, frames, pass_name):
    path = write_clip(tmp_path / "clip", frames)
    archive = path / f"{pass_name}.npz"
    _flip(archive, _member_data_offset(archive, "000001.npy") + 40)
    clip = read_clip(path)
    with pytest.raises(DatasetFormatError, match=rf"000001.npy of {pass_name}.npz .*corrupt"):
        clip.frame(1)
    for i in (0, 2):  # random access: the other members still decode
        np.testing.assert_array_equal(clip.frame(i)["segmentation"], frames[i]["segmentation"])
    with pytest.raises(DatasetFormatError, match=rf"{pass_name}.npz \(checksum mismatch\)"):
        clip.verify()


def test_corrupt_rgb_and_truncated_files_are_detected(tmp_path, frames):
    path = write_clip(tmp_path / "clip", frames)
    _flip(path / "rgb" / "000002.jpg", 2000)  # JPEG decoders may not notice; the checksum does
    clip = read_clip(path, verify=True)
    with pytest.raises(DatasetFormatError, match=r"rgb/000002.jpg is corrupt"):
        clip.frame(2)
    depth = path / "depth.npz"
    depth.write_bytes(depth.read_bytes()[: depth.stat().st_size // 2])
    clip = read_clip(path)
    with pytest.raises(DatasetFormatError, match="depth.npz is not a readable zip"):
        clip.frame(0)
    with pytest.raises(DatasetFormatError, match=r"depth.npz \(checksum mismatch\).*000002.jpg"):
        clip.verify()
    annotations = path / "annotations.npz"
    annotations.write_bytes(annotations.read_bytes()[:100])
    with pytest.raises(DatasetFormatError, match="annotations.npz is truncated or corrupt"):
        read_clip(path)


# ---------------------------------------------------------------------------------------------
# Bad input: reading


def _rewrite_meta(path: Path, **changes) -> None:
    meta = json.loads((path / "meta.json").read_text())
    meta.update(changes)
    (path / "meta.json").write_text(json.dumps(meta))


def test_reader_errors_name_the_problem(tmp_path, frames):
    with pytest.raises(DatasetFormatError, match="does not exist"):
        read_clip(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match="meta.json is missing"):
        read_clip(tmp_path / "empty")
    path = write_clip(tmp_path / "clip", frames[:2])
    clip = read_clip(path)
    for bad in (2, -1, "0"):
        with pytest.raises(DatasetFormatError, match=r"outside 0\.\.1"):
            clip.frame(bad)
    with pytest.raises(DatasetFormatError, match="no pass albedo"):
        clip.frame(0, passes=["albedo"])
    with pytest.raises(DatasetFormatError, match="is a file; a clip is a folder"):
        read_clip(path / "meta.json")
    (path / "flow_forward.npz").unlink()
    with pytest.raises(DatasetFormatError, match="missing flow_forward.npz"):
        read_clip(path)


@pytest.mark.parametrize("changes, message", [
    ({"version": 2}, "format version 2 is unknown; this reader understands version 1"),
    ({"format": "surreal"}, "format is 'surreal', expected 'synth-clip'"),
    ({"n_frames": "two"}, "field 'n_frames' must be a int"),
    ({"passes": ["rgb", "albedo"]}, "unknown pass albedo"),
])
def test_reader_rejects_unknown_meta(tmp_path, frames, changes, message):
    path = write_clip(tmp_path / "clip", frames[:2])
    _rewrite_meta(path, **changes)
    with pytest.raises(DatasetFormatError, match=re.escape(message)):
        read_clip(path)


def test_reader_rejects_an_unknown_encoding(tmp_path, frames):
    path = write_clip(tmp_path / "clip", frames[:2])
    meta = json.loads((path / "meta.json").read_text())
    meta["encodings"]["depth"]["scale"] = 10000
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetFormatError, match="encoding of 'depth'"):
        read_clip(path)


def test_find_clips(tmp_path, frames):
    write_clip(tmp_path / "b", frames[:1])
    write_clip(tmp_path / "a", frames[:1])
    (tmp_path / "c.partial-host-1").mkdir()
    (tmp_path / "c.partial-host-1" / "meta.json").write_text("{}")
    assert find_clips(tmp_path) == [tmp_path / "a", tmp_path / "b"]
    assert find_clips(tmp_path / "a") == [tmp_path / "a"]


# ---------------------------------------------------------------------------------------------
# Bad input: writing


def _frame_with(frames, **changes) -> dict:
    frame = dict(frames[0])
    frame.update(changes)
    return frame


@pytest.mark.parametrize("changes, message", [
    ({"rgb": np.zeros((H, W, 3), np.float32)}, "'rgb' of frame 0: expected uint8"),
    ({"rgb": np.zeros((H, W, 4), np.uint8)}, "'rgb' of frame 0: expected shape (240, 320, 3)"),
    ({"segmentation": np.full((H, W), 26, np.uint8)}, "part ids must lie in 0..24 (25: an occluder), got 26"),
    ({"segmentation": np.zeros((H, W), np.int32)}, "expected uint8 part ids"),
    ({"depth": np.full((H, W), -1.0, np.float32)}, "negative depth"),
    ({"depth": np.full((H, W), np.nan, np.float32)}, "non-finite value nan"),
    ({"depth": np.zeros((H, W), np.uint16)}, "'depth' of frame 0: expected a float array"),
    ({"flow_backward": np.full((H, W, 2), np.inf, np.float32)}, "'flow_backward' of frame 0: non-finite"),
    ({"flow_forward": np.zeros((H, W, 3), np.float32)}, "expected shape (240, 320, 2)"),
    ({"normals": np.full((H, W, 3), 2.0, np.float32)}, "normal components must lie in [-1, 1]"),
])
def test_writer_rejects_bad_frames(tmp_path, frames, changes, message):
    with ClipWriter(tmp_path / "clip", H, W, 1, ALL_PASSES) as writer:
        with pytest.raises(DatasetFormatError, match=re.escape(message)):
            writer.write_frame(0, **_frame_with(frames, **changes))
        writer.abort()
    assert not list(tmp_path.iterdir())


def test_writer_rejects_bad_calls(tmp_path, frames):
    with pytest.raises(DatasetFormatError, match="unknown pass 'albedo'"):
        ClipWriter(tmp_path / "x", H, W, 1, ["rgb", "albedo"])
    with pytest.raises(DatasetFormatError, match="rgb_format must be one of"):
        ClipWriter(tmp_path / "x", H, W, 1, ["rgb"], rgb_format="webp")
    with pytest.raises(DatasetFormatError, match="height must be a positive integer"):
        ClipWriter(tmp_path / "x", 0, W, 1, ["rgb"])
    seg = frames[0]["segmentation"]
    with ClipWriter(tmp_path / "clip", H, W, 2, ["segmentation", "depth"]) as writer:
        with pytest.raises(DatasetFormatError, match="frame 0: missing depth"):
            writer.write_frame(0, segmentation=seg)
        with pytest.raises(DatasetFormatError, match="unexpected rgb"):
            writer.write_frame(0, segmentation=seg, depth=frames[0]["depth"], rgb=frames[0]["rgb"])
        with pytest.raises(DatasetFormatError, match=r"frame index 2 is outside 0\.\.1"):
            writer.write_frame(2, segmentation=seg, depth=frames[0]["depth"])
        writer.write_frame(0, segmentation=seg, depth=frames[0]["depth"])
        with pytest.raises(DatasetFormatError, match="frame 0 was already written"):
            writer.write_frame(0, segmentation=seg, depth=frames[0]["depth"])
        writer.write_frame(1, segmentation=seg, depth=frames[1]["depth"])
        bad = make_annotations(2)
        bad["joints2d"] = bad["joints2d"][:1]
        with pytest.raises(DatasetFormatError, match=r"'joints2d' must be Tx24x2 \(T = 2 frames\)"):
            writer.finish(make_meta(), bad)
        del bad["sh"]
        with pytest.raises(DatasetFormatError, match="annotations lack sh"):
            writer.finish(make_meta(), bad)
        with pytest.raises(DatasetFormatError, match="meta keys version"):
            writer.finish({"version": 3}, make_annotations(2))
        with pytest.raises(DatasetFormatError, match="not JSON-serialisable"):
            writer.finish({"when": object()}, make_annotations(2))
        writer.finish(make_meta(), make_annotations(2))
        with pytest.raises(DatasetFormatError, match="the writer is finished"):
            writer.write_frame(0, segmentation=seg, depth=frames[0]["depth"])


# ---------------------------------------------------------------------------------------------
# FORMAT.md's numpy-only reading example


def test_format_md_reading_example_matches_the_reader(clip_path):
    text = (ROOT / "FORMAT.md").read_text()
    example = re.search(r"```python\n(# numpy-only.*?)```", text, re.S).group(1)
    assert len(example.strip().splitlines()) <= 12
    namespace = {"clip_dir": str(clip_path), "i": 1}
    exec(compile(example, "FORMAT.md", "exec"), namespace)
    expected = read_clip(clip_path).frame(1)
    for name in ("depth", "flow_forward", "normals", "segmentation"):
        np.testing.assert_array_equal(namespace[name], expected[name], err_msg=name)
    np.testing.assert_array_equal(namespace["rgb"], expected["rgb"])


def test_reading_hashes_rgb_only_when_asked(tmp_path, frames, monkeypatch):
    """A training loader reads millions of frames: verification is on demand, not per read."""
    from synth_core.dataset import reader

    path = write_clip(tmp_path / "clip", frames)
    calls = []
    real = reader.hashlib.sha256
    monkeypatch.setattr(reader.hashlib, "sha256", lambda data=b"": calls.append(1) or real(data))
    clip = read_clip(path)
    for i in range(clip.n_frames):
        clip.frame(i)
    assert calls == []
    read_clip(path, verify=True).frame(0)
    assert calls == [1]


def test_many_open_clips_hold_a_bounded_number_of_file_handles(tmp_path, frames):
    from synth_core.dataset import reader

    before = len(os.listdir("/proc/self/fd"))
    clips = []
    for index in range(40):  # 40 clips x 5 label files: 200 zips if each clip kept its own open
        clips.append(read_clip(write_clip(tmp_path / f"clip_{index}", frames[:1])))
        clips[-1].frame(0)
    assert len(os.listdir("/proc/self/fd")) - before <= reader._open_zips.limit
    for clip in clips:  # evicted files reopen transparently
        np.testing.assert_array_equal(clip.frame(0)["depth"], read_clip(clip.path).frame(0)["depth"])

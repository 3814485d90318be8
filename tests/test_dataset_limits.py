"""The clip format at its limits: labels outside the compact encodings' range (wide frames) and
a disk that fills up while a clip is written (on a real, small tmpfs)."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from synth_core.dataset import ClipWriter, read_clip
from synth_core.errors import DatasetFormatError
from tests.test_dataset_format import ROOT, make_annotations, make_frames, make_meta

H, W = 48, 64
LABELS = ["depth", "flow_forward", "flow_backward"]
OLD_FLOW_LIMIT = 32767 / 64  # the largest flow int16 in 1/64 px holds: 511.984375 px
OLD_DEPTH_LIMIT = 65.535     # the largest depth uint16 millimetres hold


# ---------------------------------------------------------------------------------------------
# Wide frames: depth and flow beyond the compact encodings' range


def _labels(depth: float, flow: float, seed: int) -> dict:
    """A frame whose depth and flow reach the given magnitudes (both signs for the flow), with
    smooth variation below them and a background corner."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.5, 1.0, H * W).reshape(H, W)
    depth_image = (depth * ramp).astype(np.float32)
    depth_image[0, 0], depth_image[-1, -1], depth_image[:4, -4:] = depth, 0.001, 0.0
    flows = {}
    for name in ("flow_forward", "flow_backward"):
        field = flow * np.stack([ramp, -ramp[::-1]], -1) * rng.choice([-1, 1], size=(1, W, 2))
        field[0, 0], field[1, 1] = (flow, -flow), (-flow, flow)
        flows[name] = field.astype(np.float32)
    return {"depth": depth_image, **flows}


def _step_error(name: str) -> float:
    """The largest decoding error FORMAT.md states for the integer encodings (+ float32 rounding)."""
    return 0.5e-3 + 1e-5 if name == "depth" else 1 / 128


@pytest.fixture(scope="module")
def wide_clip(tmp_path_factory) -> tuple[Path, list[dict]]:
    frames = [
        {name: make_frames(1, H, W)[0][name] for name in LABELS},      # 0: ordinary
        _labels(OLD_DEPTH_LIMIT, OLD_FLOW_LIMIT, 1),                    # 1: exactly at the old limits
        _labels(120.0, 2000.0, 2),                                      # 2: fast motion, far wall
        _labels(1e7, 4e7, 3),                                           # 3: beyond int32 in the step
    ]
    frames[3]["depth"][5, 5] = 0.0002  # a surface nearer than the 0.5 mm that rounds to background
    path = tmp_path_factory.mktemp("wide") / "clip"
    with ClipWriter(path, H, W, len(frames), LABELS) as writer:
        for i, frame in enumerate(frames):
            writer.write_frame(i, **frame)
        writer.finish(make_meta(), make_annotations(len(frames)))
    return path, frames


def test_out_of_range_labels_round_trip(wide_clip):
    path, frames = wide_clip
    clip = read_clip(path)
    for i in (0, 1, 2):  # integers in the stated step, whatever their magnitude
        got = clip.frame(i)
        for name in LABELS:
            assert np.abs(got[name] - frames[i][name]).max() <= _step_error(name), (i, name)
    got = clip.frame(3)
    assert got["depth"][5, 5] == np.float32(0.0002)
    for name in LABELS:  # values beyond the wide integers: float32 as given, exactly
        np.testing.assert_array_equal(got[name], frames[3][name], err_msg=name)
    assert np.abs(got["flow_forward"]).max() == np.float32(4e7)


def test_the_choice_is_recorded_per_frame_and_member(wide_clip):
    path, _ = wide_clip
    encodings = json.loads((path / "meta.json").read_text())["encodings"]
    assert encodings["depth"]["wide_frames"] == {"uint32": [2], "float32": [3]}
    for name in ("flow_forward", "flow_backward"):
        assert encodings[name]["wide_frames"] == {"int32": [2], "float32": [3]}
    for name, compact in (("depth", np.uint16), ("flow_forward", np.int16), ("flow_backward", np.int16)):
        with np.load(path / f"{name}.npz") as archive:  # what the files hold, read without the library
            dtypes = [archive[f"{i:06d}"].dtype for i in range(4)]
        assert dtypes == [compact, compact, np.uint32 if name == "depth" else np.int32, np.float32]


def test_ordinary_frames_keep_the_compact_encoding_byte_for_byte(tmp_path, wide_clip):
    """Frame 0 of the wide clip, and a clip of ordinary frames, hold exactly FORMAT.md's integers
    (computed here with numpy from its description), in members of the same size as before."""
    path, frames = wide_clip
    normal = tmp_path / "normal"
    with ClipWriter(normal, H, W, 1, LABELS) as writer:
        writer.write_frame(0, **frames[0])
        writer.finish(make_meta(), make_annotations(1))
    assert "wide_frames" not in json.loads((normal / "meta.json").read_text())["encodings"]["depth"]
    for name, scale, dtype in (("depth", 1000, np.uint16), ("flow_forward", 64, np.int16)):
        values = np.where(np.isfinite(frames[0][name]), frames[0][name], 0).astype(np.float64)
        integers = np.round(values * scale).astype(dtype)
        if integers.ndim == 3:
            integers = np.moveaxis(integers, -1, 0)
        expected = np.diff(integers, axis=-2, prepend=np.zeros_like(integers[..., :1, :]))
        sizes = []
        for clip_dir in (path, normal):
            with zipfile.ZipFile(clip_dir / f"{name}.npz") as archive:
                sizes.append(archive.getinfo("000000.npy").compress_size)
            with np.load(clip_dir / f"{name}.npz") as archive:
                np.testing.assert_array_equal(archive["000000"], expected, err_msg=name)
                assert archive["000000"].dtype == dtype
        assert sizes[0] == sizes[1]


def test_format_md_reading_example_reads_wide_frames(wide_clip):
    path, _ = wide_clip
    example = re.search(r"```python\n(# numpy-only.*?)```", (ROOT / "FORMAT.md").read_text(), re.S).group(1)
    example = "\n".join(line for line in example.splitlines()
                        if "segmentation" not in line and "normals" not in line and "rgb" not in line)
    for i in range(4):
        namespace = {"clip_dir": str(path), "i": i}
        exec(compile(example, "FORMAT.md", "exec"), namespace)
        expected = read_clip(path).frame(i)
        for name in ("depth", "flow_forward"):
            np.testing.assert_array_equal(namespace[name], expected[name], err_msg=f"{name} {i}")


def test_non_finite_labels_are_still_an_invalid_render(tmp_path):
    frame = _labels(120.0, 2000.0, 0)
    frame["flow_forward"][3, 4, 1] = np.nan
    with ClipWriter(tmp_path / "clip", H, W, 1, LABELS) as writer:
        with pytest.raises(DatasetFormatError, match=r"'flow_forward' of frame 0: non-finite value nan "
                                                     r"at \(3, 4, 1\) \(an invalid render"):
            writer.write_frame(0, **frame)
        writer.abort()


def _edit_wide_frames(path: Path, name: str, wide_frames) -> None:
    meta = json.loads((path / "meta.json").read_text())
    meta["encodings"][name]["wide_frames"] = wide_frames
    (path / "meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("wide_frames, message", [
    ({"int64": [2]}, "bad wide_frames entry"),
    ({"uint32": [2, 7]}, "frame 7 is repeated or outside 0..3"),
    ({"uint32": [2], "float32": [2, 3]}, "frame 2 is repeated"),
    ([2], "bad wide_frames entry"),
])
def test_reader_rejects_a_bad_wide_frames_entry(tmp_path, wide_clip, wide_frames, message):
    path = tmp_path / "clip"
    shutil.copytree(wide_clip[0], path)
    _edit_wide_frames(path, "depth", wide_frames)
    with pytest.raises(DatasetFormatError, match=re.escape(message)):
        read_clip(path)


def test_reader_checks_each_member_against_its_listed_type(tmp_path, wide_clip):
    path = tmp_path / "clip"
    shutil.copytree(wide_clip[0], path)
    _edit_wide_frames(path, "depth", {"float32": [2], "uint32": [3]})
    clip = read_clip(path)
    with pytest.raises(DatasetFormatError,
                       match=r"depth.npz/000002.npy holds uint32 \(48, 64\), expected float32"):
        clip.frame(2)
    assert clip.frame(1)["depth"].shape == (H, W)  # not listed: the compact type, read as before


# ---------------------------------------------------------------------------------------------
# A full disk: a real 2 MiB tmpfs, filled by the clip itself


@pytest.fixture
def small_disk(tmp_path) -> Path:
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 2 MiB tmpfs to fill (needs root with CAP_SYS_ADMIN): "
                    f"{mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], check=False)  # never leave a mount behind


def _free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bfree * stats.f_frsize


def _noise_frame(rng, passes) -> dict:
    """Incompressible labels (and PNG RGB): every frame takes its full size on the disk."""
    frame = {"depth": rng.uniform(1.0, 60.0, (150, 200)).astype(np.float32),
             "flow_forward": rng.uniform(-500, 500, (150, 200, 2)).astype(np.float32),
             "rgb": rng.integers(0, 256, (150, 200, 3), dtype=np.uint8)}
    return {name: frame[name] for name in passes}


def _assert_disk_error(error: pytest.ExceptionInfo, clip_dir: Path) -> None:
    assert error.type is OSError and error.value.errno == errno.ENOSPC, repr(error.value)
    message = str(error.value)
    assert "No space left on device" in message and str(clip_dir) in message
    assert "the unfinished clip was deleted" in message
    assert isinstance(error.value.__cause__, OSError) and error.value.__cause__.errno == errno.ENOSPC


@pytest.mark.parametrize("passes", [["depth", "flow_forward"], ["rgb", "depth"]])
def test_a_full_disk_while_writing_frames_leaves_nothing(small_disk, passes):
    free = _free_bytes(small_disk)
    clip_dir = small_disk / "clip_000001"
    rng = np.random.default_rng(0)
    with pytest.raises(OSError) as error:
        with ClipWriter(clip_dir, 150, 200, 60, passes, rgb_format="png") as writer:
            for i in range(60):  # ~10 frames fill 2 MiB
                writer.write_frame(i, **_noise_frame(rng, passes))
            writer.finish(make_meta(), make_annotations(60))
    assert i < 59  # the disk, not the clip's end, stopped it
    assert list(small_disk.iterdir()) == []
    assert _free_bytes(small_disk) == free  # every file deleted and closed: the space is back
    _assert_disk_error(error, clip_dir)


def test_a_full_disk_while_finishing_leaves_nothing(small_disk):
    free = _free_bytes(small_disk)
    clip_dir = small_disk / "clip_000002"
    rng = np.random.default_rng(1)
    filler = small_disk / "other_data"
    writer = ClipWriter(clip_dir, 150, 200, 3, ["depth", "flow_forward"])  # no `with`: finish alone
    for i in range(3):
        writer.write_frame(i, **_noise_frame(rng, ["depth", "flow_forward"]))
    with open(filler, "wb", buffering=0) as handle:  # someone else fills the disk
        with pytest.raises(OSError):
            while True:
                handle.write(b"\xff" * 4096)
    with pytest.raises(OSError) as error:
        writer.finish(make_meta(), make_annotations(3))
    assert sorted(path.name for path in small_disk.iterdir()) == ["other_data"]
    filler.unlink()
    assert _free_bytes(small_disk) == free
    _assert_disk_error(error, clip_dir)
    assert "while writing the clip's last files" in str(error.value)

"""`synth status`, `synth validate`, `synth inspect` on small datasets written without Blender
(ClipWriter + DatasetIndex records, as `synth render` leaves them). Each corruption is made by
hand, bypassing the writer where the writer would refuse it, and must be named by clip."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from synth_cli.main import cli
from synth_core.assets import sha256_of
from synth_core.dataset import format as fmt
from synth_core.dataset import read_clip
from synth_core.dataset.index import DatasetIndex
from synth_core.scene.plan import PlanOptions
from tests.test_dataset_format import make_annotations, make_frames, make_meta, write_clip

H, W, N_FRAMES = 48, 64, 2
CAMERA = (0.3, -8.0, 1.1)  # make_annotations' camera location
FIRST_SEED = 100


def _invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def _name(seed: int) -> str:
    return f"clip_{seed:08d}"


def consistent_annotations(seed: int) -> dict:
    """make_annotations' joints and camera, with intrinsics for a W x H image: joints2d is the
    projection and only joints inside the image are visible (what validate demands)."""
    annotations = make_annotations(N_FRAMES, seed, camera_location=CAMERA)
    k = np.array([[120.0, 0, (W - 1) / 2], [0, 120.0, (H - 1) / 2], [0, 0, 1]])
    camera = annotations["joints3d_camera"]
    uv = (camera @ k.T)[..., :2] / camera[..., 2:]
    pixel = np.rint(uv)
    inside = (pixel[..., 0] >= 0) & (pixel[..., 0] < W) & (pixel[..., 1] >= 0) & (pixel[..., 1] < H)
    annotations.update(camera_K=k, joints2d=uv, joints_visible=annotations["joints_visible"] & inside)
    return annotations


@pytest.fixture(scope="module")
def frames() -> list[dict]:
    return make_frames(N_FRAMES, height=H, width=W, seed=3)


def make_dataset(root: Path, frames, seeds, requested: int, metas: dict | None = None) -> Path:
    """A dataset as `synth render --seed FIRST_SEED --n requested` leaves it, with ``seeds`` done."""
    index = DatasetIndex(root)
    options = PlanOptions(width=W, height=H, n_frames=N_FRAMES).to_dict()
    index.claim_config({"identity": {"first_seed": FIRST_SEED, "options": options}})
    index.record_request("host-1", requested)
    for seed in seeds:
        meta = (metas or {}).get(seed, make_meta(seed))
        write_clip(root / _name(seed), frames, meta=meta, annotations=consistent_annotations(seed))
        index.record_done("host-1", _name(seed), seed, N_FRAMES)
    return root


# ---------------------------------------------------------------------------------------------
# Writing past the writer: replace a file's content and refresh checksums.sha256 so that only
# the check under test can notice


def _refresh_checksums(clip: Path) -> None:
    listed = fmt.parse_checksums((clip / fmt.CHECKSUMS_FILE).read_text(), "test")
    (clip / fmt.CHECKSUMS_FILE).write_text(fmt.format_checksums({p: sha256_of(clip / p) for p in listed}))


def _replace_member(clip: Path, pass_name: str, frame: int, stored: np.ndarray) -> None:
    archive_path = clip / fmt.LABEL_PASSES[pass_name].file
    with zipfile.ZipFile(archive_path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members[fmt.member_name(frame)] = fmt.npy_bytes(stored)
    with zipfile.ZipFile(archive_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    _refresh_checksums(clip)


def _replace_label(clip: Path, pass_name: str, frame: int, change) -> None:
    """Decode frame, apply ``change`` to the array, store it encoded as the writer would."""
    array = change(read_clip(clip).frame(frame)[pass_name].copy())
    _replace_member(clip, pass_name, frame, fmt.encode_label(pass_name, frame, array, H, W))


def _rewrite_annotations(clip: Path, **changes) -> None:
    with np.load(clip / fmt.ANNOTATIONS_FILE) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    (clip / fmt.ANNOTATIONS_FILE).write_bytes(buffer.getvalue())
    _refresh_checksums(clip)


def _rewrite_meta(clip: Path, change) -> None:
    meta = json.loads((clip / fmt.META_FILE).read_text())
    change(meta)
    (clip / fmt.META_FILE).write_text(json.dumps(meta))
    _refresh_checksums(clip)


def _flow_with_nan(clip: Path) -> None:
    """A float32 'wide' frame (declared in meta.json, as the writer would) holding a NaN."""
    flow = np.moveaxis(read_clip(clip).frame(0)["flow_forward"], -1, 0).copy()
    flow[0, 5, 7] = np.nan
    _rewrite_meta(clip, lambda m: m["encodings"]["flow_forward"].update(wide_frames={"float32": [0]}))
    _replace_member(clip, "flow_forward", 0, flow.astype(np.float32))


def _part_31(segmentation: np.ndarray) -> np.ndarray:
    """Part id 31 on one body pixel: the writer refuses it, so it is stored directly."""
    rows, columns = np.nonzero(segmentation)
    segmentation[rows[0], columns[0]] = 31
    return segmentation


def _hole_in_depth(depth: np.ndarray) -> np.ndarray:
    rows, columns = np.nonzero(depth)
    depth[rows[0], columns[0]] = 0.0
    return depth


def _wrong_digest(clip: Path) -> None:
    text = (clip / fmt.CHECKSUMS_FILE).read_text().splitlines()
    line = next(i for i, entry in enumerate(text) if entry.endswith("segmentation.npz"))
    text[line] = "0" * 64 + text[line][64:]
    (clip / fmt.CHECKSUMS_FILE).write_text("\n".join(text) + "\n")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


# corruption of the middle clip -> what the report line says (after "<clip>[ frame i]: ")
CORRUPTIONS = {
    "truncated zip": (lambda c: _truncate(c / "depth.npz"), None, "depth.npz (checksum mismatch)"),
    "wrong checksum": (_wrong_digest, None, "segmentation.npz (checksum mismatch)"),
    "missing file": (lambda c: (c / "rgb" / "000001.jpg").unlink(), None, "missing rgb/000001.jpg"),
    "part id above 24": (lambda c: _replace_member(c, "segmentation", 1, _part_31(
        read_clip(c).frame(1)["segmentation"].copy())), 1, "segmentation holds ids above 25 (max 31"),
    "depth hole on the body": (lambda c: _replace_label(c, "depth", 0, _hole_in_depth), 0,
                               "depth > 0 and segmentation > 0 disagree"),
    "normals not unit": (lambda c: _replace_label(c, "normals", 1, lambda n: n * 0.5), 1,
                         "normals are neither unit length nor 0: "),
    "normals on background": (lambda c: _replace_label(c, "normals", 0, lambda n: np.where(
        n.any(axis=-1, keepdims=True), n, np.float32([0, 0, -1]))), 0, "normals != 0 and segmentation > 0 disagree"),
    "flow not finite": (_flow_with_nan, 0, "flow_forward is not finite: 1 pixel(s), first at row 5, column 7"),
    "visibility stored as integers": (lambda c: _rewrite_annotations(
        c, joints_visible=read_clip(c).annotations["joints_visible"].astype(np.int64)), None,
        "annotation 'joints_visible' is stored as int64, FORMAT.md says bool"),
    "joints2d off the projection": (lambda c: _rewrite_annotations(
        c, joints2d=read_clip(c).annotations["joints2d"] + [0.0, 2.0]), 0,
        "joints2d is not the projection of joints3d_camera through camera_K in 2 frame(s), by up to 2 px"),
    "joint visible outside the image": (lambda c: _rewrite_annotations(
        c, joints2d=read_clip(c).annotations["joints2d"] + [500.0, 0.0],
        joints_visible=np.ones((N_FRAMES, 24), bool)), 0, "joints_visible marks joints visible that lie outside"),
    "seed of another clip": (lambda c: _rewrite_meta(c, lambda m: m.update(seed=7)), None,
                             "meta.json says seed 7, but the folder is named for seed 101"),
    "meta.json missing": (lambda c: (c / fmt.META_FILE).unlink(), None, "meta.json is missing"),
}


# ---------------------------------------------------------------------------------------------
# synth status


def test_status_counts_done_failed_in_progress_and_remaining(tmp_path, frames):
    root = make_dataset(tmp_path / "data", frames, seeds=[100, 101, 103], requested=8)
    index = DatasetIndex(root)
    index.record_failed(_name(102), 102, "timed out after 60 s", 3, "host-1")
    index.record_failed(_name(104), 104, "killed", 1, "host-2")  # failed once, then done by another shard:
    (root / _name(104)).mkdir()                                   # the folder is the truth
    (root / f"{_name(105)}.partial-host-2-77").mkdir()  # two shards writing the same clip:
    (root / f"{_name(105)}.partial-host-3-12").mkdir()  # one clip in progress
    (root / f"{_name(103)}.partial-host-3-12").mkdir()  # done by another shard meanwhile
    (root / _name(110)).mkdir()  # beyond what was asked for
    index.record_request("host-2", 5)  # a smaller, earlier request does not shrink the dataset
    result = _invoke("status", root, "--json")
    assert result.exit_code == 0, result.output
    state = json.loads(result.output)
    assert {k: state[k] for k in ("requested", "done", "failed", "in_progress", "remaining", "outside_request",
                                  "frames_done")} == {"requested": 8, "done": 4, "failed": 1, "in_progress": 1,
                                                      "remaining": 2, "outside_request": 1, "frames_done": 8}
    assert state["first_remaining"] == [_name(106), _name(107)]
    assert state["failures"][0]["clip"] == _name(102) and state["failures"][0]["reason"] == "timed out after 60 s"
    text = _invoke("status", root).output
    assert "8 clip(s) of 2 frames, seeds 100..107" in text
    for label, count in (("done", 4), ("failed", 1), ("in progress", 1), ("remaining", 2)):
        assert f"  {label} ".ljust(15) + f"{count:>9}" in text, (label, text)
    assert "clip_00000106, clip_00000107" in text and "clip_00000105" in text
    assert "clip_00000102 after 3 attempt(s): timed out after 60 s" in text


def test_status_without_a_recorded_request_says_remaining_is_unknown(tmp_path, frames):
    root = tmp_path / "data"
    write_clip(root / _name(0), frames, annotations=consistent_annotations(0))
    (root / f"{_name(1)}.partial-host-1-5").mkdir()
    state = json.loads(_invoke("status", root, "--json").output)
    assert (state["done"], state["in_progress"], state["remaining"], state["requested"]) == (1, 1, None, None)
    assert "remaining      unknown" in _invoke("status", root).output


def test_status_text_lists_the_first_failures_and_json_all(tmp_path):
    index = DatasetIndex(tmp_path)
    index.claim_config({"identity": {"first_seed": 0, "options": {"n_frames": 5}}})
    index.record_request("host-1", 30)
    for seed in range(25):
        index.record_failed(_name(seed), seed, f"reason {seed}", 2, "host-1")
    text = _invoke("status", tmp_path).output
    assert "clip_00000019 after 2 attempt(s): reason 19" in text and "clip_00000020" not in text
    assert "... and 5 more (all of them: synth status --json)" in text
    state = json.loads(_invoke("status", tmp_path, "--json").output)
    assert [f["reason"] for f in state["failures"]] == [f"reason {seed}" for seed in range(25)]
    assert (state["failed"], state["remaining"], state["done"]) == (25, 5, 0)


def test_status_of_a_missing_folder_is_a_one_line_error(tmp_path):
    result = _invoke("status", tmp_path / "nowhere")
    text = " ".join(result.output.split())  # the error line may be wrapped
    assert result.exit_code == 1 and "nowhere is not a folder" in text and "Traceback" not in text


def test_requested_clips_is_the_largest_request_and_skips_torn_files(tmp_path):
    index = DatasetIndex(tmp_path)
    assert index.requested_clips() is None
    index.record_request("a-1", 10)
    index.record_request("b-2", 300)
    index.record_request("a-1", 20)  # the same process asks again: replaced, not added
    (tmp_path / ".synth" / "requests" / "c-3.json").write_text('{"n_clips": 9')  # torn
    assert index.requested_clips() == 300
    assert sorted(p.name for p in (tmp_path / ".synth" / "requests").iterdir()) == ["a-1.json", "b-2.json", "c-3.json"]


# ---------------------------------------------------------------------------------------------
# synth validate


@pytest.mark.parametrize("jobs", [1, 2])
def test_validate_passes_a_clean_dataset(tmp_path, frames, jobs):
    root = make_dataset(tmp_path / "data", frames, seeds=[100, 101, 102], requested=3)
    result = _invoke("validate", root, "--jobs", jobs)
    assert result.exit_code == 0, result.output
    assert f"Checked 3 clip(s), {3 * N_FRAMES} frame(s) decoded: no problems." in result.output
    assert _invoke("validate", root / _name(101)).exit_code == 0  # one clip folder works too


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_validate_names_each_corruption(tmp_path, frames, corruption):
    root = make_dataset(tmp_path / "data", frames, seeds=[100, 101, 102], requested=3)
    corrupt, frame, message = CORRUPTIONS[corruption]
    corrupt(root / _name(101))
    result = _invoke("validate", root)
    assert result.exit_code == 1, result.output
    where = _name(101) if frame is None else f"{_name(101)} frame {frame}"
    lines = [line for line in result.output.splitlines() if line.startswith(f"{where}: ")]
    assert any(message in line for line in lines), result.output
    assert _name(100) not in result.output and _name(102) not in result.output  # the good clips are quiet
    assert "Traceback" not in result.output and "in 1 clip(s): clip_00000101" in result.output


def test_validate_reports_every_bad_clip_and_missing_clips_and_goes_on(tmp_path, frames):
    root = make_dataset(tmp_path / "data", frames, seeds=[100, 101, 102, 103], requested=6)
    DatasetIndex(root).record_failed(_name(104), 104, "killed", 3, "host-1")
    _truncate(root / _name(100) / "segmentation.npz")
    (root / _name(102) / fmt.ANNOTATIONS_FILE).write_bytes(b"not a zip")
    (root / "clip_00000200").mkdir()  # a clip folder without anything in it
    outputs = {}
    for jobs in (1, 2):
        result = _invoke("validate", root, "--jobs", jobs)
        assert result.exit_code == 1
        outputs[jobs] = sorted(line for line in result.output.splitlines() if not line.startswith("Checked"))
        text = result.output
        assert "dataset: 2 clip(s) asked for are missing (1 failed, 1 not rendered yet): clip_00000104, " \
               "clip_00000105" in text
        assert f"{_name(100)} frame 0: member 000000.npy of segmentation.npz" in text or \
               f"{_name(100)} frame 0: segmentation.npz is not a readable zip" in text
        assert f"{_name(102)}: annotations.npz is truncated or corrupt" in text
        assert "clip_00000200: clip_00000200 is not a clip: meta.json is missing" in text
        assert "Checked 5 clip(s)" in text and "in 3 clip(s): clip_00000100, clip_00000102, clip_00000200" in text
        assert _name(101) not in text and _name(103) not in text
        assert str(root) not in text  # clips are named by their folder, not their full path
    assert outputs[1] == outputs[2]  # the process pool finds the same problems


def test_validate_checks_clips_against_the_dataset_options(tmp_path, frames):
    root = make_dataset(tmp_path / "data", frames, seeds=[100], requested=2)
    small = make_frames(N_FRAMES, height=H // 2, width=W // 2, seed=1)
    write_clip(root / _name(101), small, passes=["rgb", "segmentation"], annotations=consistent_annotations(101),
               meta=make_meta(101))
    text = _invoke("validate", root).output
    assert f"{_name(101)}: resolution {W // 2}x{H // 2}, but the dataset was rendered at {W}x{H}" in text
    assert f"{_name(101)}: passes rgb, segmentation, but the dataset has rgb, depth" in text


# ---------------------------------------------------------------------------------------------
# synth inspect


def test_inspect_prints_counts_and_writes_readable_plots(tmp_path, frames):
    seeds = [100, 101, 102, 103]
    metas = {seed: make_meta(seed, gender) for seed, gender in zip(seeds, ["female", "male", "male", "male"])}
    metas[103]["motion"] = dict(metas[103]["motion"], name="jump")
    metas[102]["background_id"] = "hdri/studio"
    root = make_dataset(tmp_path / "data", frames, seeds=seeds, requested=4, metas=metas)
    _truncate(root / _name(101) / fmt.ANNOTATIONS_FILE)  # unreadable: skipped and named
    out = tmp_path / "plots"
    result = _invoke("inspect", root, "--out", out, "--frames-per-clip", N_FRAMES)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "4 clip(s); statistics over 3 sampled (6 frames)" in text
    assert "genders male 2, female 1" in text and "motions walk_07 2, jump 1" in text
    assert "backgrounds photo 2, hdri 1 (2 distinct)" in text
    assert f"skipped {_name(101)}: clip" in text and "annotations.npz is truncated" in text
    # Camera distance: from the location the annotations were made with, not from camera_Rt.
    distances = [np.linalg.norm(np.subtract(CAMERA, consistent_annotations(s)["joints3d_world"][0, 0]))
                 for s in (100, 102, 103)]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["camera_distance_m"]["mean"] == pytest.approx(np.mean(distances), abs=1e-9)
    # Class shares: every frame counted, against the segmentation the clips were written from.
    counts = 3 * sum(np.bincount(f["segmentation"].ravel(), minlength=25) for f in frames)
    shares = list(stats["class_pixel_share"].values())
    np.testing.assert_allclose(shares, counts / counts.sum(), atol=1e-12)
    for name in ("joint_angles.png", "camera_distance.png", "sh_energy.png", "class_frequencies.png", "samples.png"):
        with Image.open(out / name) as image:
            pixels = np.asarray(image.convert("RGB"))
        assert image.format == "PNG" and min(pixels.shape[:2]) >= 200, name
        assert pixels.std() > 10, f"{name} looks blank"
    assert not list(out.glob(".*")), "no temporary file is left"


def test_inspect_samples_at_most_max_clips_and_defaults_into_the_dataset(tmp_path, frames):
    root = make_dataset(tmp_path / "data", frames, seeds=[100, 101, 102, 103, 104], requested=5)
    result = _invoke("inspect", root, "--max-clips", 2)
    assert result.exit_code == 0, result.output
    assert "5 clip(s); statistics over 2 sampled" in result.output
    assert json.loads((root / "inspect" / "stats.json").read_text())["clips_sampled"] == 2
    assert _invoke("validate", root).exit_code == 0  # its output folder is not taken for a clip


def test_samples_grid_overlays_parts_on_the_frame(tmp_path, frames):
    """Body pixels of a sample tile are half frame, half part colour; background pixels are the
    frame's own."""
    from synth_cli.commands.inspect import overlay_parts
    from synth_core.body.parts import part_palette

    rgb, seg = frames[1]["rgb"], frames[1]["segmentation"]
    blended = overlay_parts(rgb, seg).astype(int)
    body = seg > 0
    np.testing.assert_array_equal(blended[~body], rgb[~body])
    np.testing.assert_allclose(blended[body], (rgb[body].astype(int) + part_palette()[seg[body]]) / 2, atol=0.51)


@pytest.mark.parametrize("command", ["status", "validate", "inspect"])
def test_help_teaches_with_an_example(command):
    result = _invoke(command, "--help")
    assert result.exit_code == 0 and "Example:" in result.output and f"synth {command} data" in result.output

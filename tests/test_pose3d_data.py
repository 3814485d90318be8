"""trainers.pose3d data: the "joints3d" target of the datasets (checked through the camera that
rendered it), the 2D keypoint file format of real videos, and the skeleton PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from synth_core.errors import TrainingError
from tests.conftest import canonical_joints
from trainers.data import ClipDataset, FrameDataset, open_dataset
from trainers.data.datasets import rotate_about_camera_z
from trainers.pose3d.joints import JOINT_SETS, root_relative, to_joint_set
from trainers.pose3d.keypoints import read_keypoints, write_keypoints
from trainers.pose3d.plots import PREDICTION_COLOUR, TRUTH_COLOUR, skeleton_figure

DZ12 = JOINT_SETS["dz12"].names

# ------------------------------------------------------------------------------ the joints3d target


def _annotations(clip) -> dict:
    with np.load(clip / "annotations.npz") as annotations:
        return {key: annotations[key] for key in ("joints3d_camera", "joints_visible", "camera_K")}


def _fit_scale_shift(points: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """Least-squares targets ~ s * points + (bx, by): (s, the largest residual in pixels)."""
    design = np.hstack([points.reshape(-1, 1), np.tile(np.eye(2), (len(points), 1))])
    solution, *_ = np.linalg.lstsq(design, targets.reshape(-1), rcond=None)
    return float(solution[0]), float(np.abs(design @ solution - targets.reshape(-1)).max())


@pytest.mark.slow
def test_joints3d_without_augmentation_are_the_annotations(rendered_dataset):
    clips = open_dataset(rendered_dataset)[:4]
    dataset = FrameDataset(clips, targets=("joints3d",), input_size=32, output_size=8, augment=False)
    for index in range(len(dataset)):
        sample = dataset[index]
        annotations = _annotations(clips[int(sample["clip"])])
        frame = int(sample["frame"])
        assert sample["joints3d"].dtype.is_floating_point and sample["joints3d"].shape == (24, 3)
        np.testing.assert_array_equal(sample["joints3d"].numpy(),
                                      annotations["joints3d_camera"][frame].astype(np.float32))
        np.testing.assert_array_equal(sample["joints_visible"].numpy(), annotations["joints_visible"][frame])


@pytest.mark.slow
def test_rotated_joints3d_project_onto_the_rotated_crop(rendered_dataset):
    """Through the rendering camera (K), the 3D target of an augmented sample projects onto the
    crop's 2D joints up to the crop's zoom and shift, with no rotation left between them; turned
    back by the sample's rotation it is the annotation again."""
    clips = open_dataset(rendered_dataset)[:10]
    dataset = FrameDataset(clips, targets=("heatmaps", "joints3d"), input_size=64, output_size=32, seed=3)
    rotated = [i for i in range(len(dataset)) if abs(dataset.augmentation(i).rotation) > 5][:6]
    assert len(rotated) >= 3
    for index in rotated:
        sample = dataset[index]
        annotations = _annotations(clips[int(sample["clip"])])
        K = annotations["camera_K"]
        assert K[0, 0] == K[1, 1]   # square pixels: an image rotation is a camera rotation
        joints3d = sample["joints3d"].numpy().astype(np.float64)
        projected = K[0, 0] * joints3d[:, :2] / joints3d[:, 2:]   # relative to the principal point
        scale, residual = _fit_scale_shift(projected, sample["joints2d"].numpy())
        assert scale > 0 and residual < 1e-3
        unrotated = _annotations(clips[int(sample["clip"])])["joints3d_camera"][int(sample["frame"])]
        _, residual_before = _fit_scale_shift(K[0, 0] * unrotated[:, :2] / unrotated[:, 2:], sample["joints2d"].numpy())
        assert residual_before > 0.5   # the check can tell: unrotated joints do not fit the crop
        turned_back = rotate_about_camera_z(joints3d, -dataset.augmentation(index).rotation)
        np.testing.assert_allclose(turned_back, unrotated, atol=1e-5)


@pytest.mark.slow
def test_clip_windows_carry_joints3d_per_frame_with_the_window_rotation(rendered_dataset):
    clips = open_dataset(rendered_dataset)[:6]
    dataset = ClipDataset(clips, window=3, stride=3, targets=("joints3d",), input_size=32, output_size=8, seed=1)
    index = next(i for i in range(len(dataset)) if abs(dataset.augmentation(i).rotation) > 5)
    sample = dataset[index]
    assert sample["joints3d"].shape == (3, 24, 3) and sample["joints_visible"].shape == (3, 24)
    annotations = _annotations(clips[int(sample["clip"])])
    angle = np.deg2rad(dataset.augmentation(index).rotation)
    for t, frame in enumerate(sample["frame"].tolist()):
        truth = annotations["joints3d_camera"][frame]
        got = sample["joints3d"][t].numpy()
        np.testing.assert_allclose(got[:, 2], truth[:, 2], atol=1e-5)   # depth kept
        # the angle between each joint's (x, y) before and after is the window's rotation
        before, after = truth[:, 0] + 1j * truth[:, 1], got[:, 0] + 1j * got[:, 1]
        np.testing.assert_allclose(np.angle(before / after), angle, atol=1e-4)


# ------------------------------------------------------------------------------ keypoint files


def _written(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_hand_written_csv_reads_in_the_joint_sets_order(tmp_path):
    """The format's example: OpenPose spellings, a detector extra (nose), a frame with nobody."""
    rows = ["frame,joint,x,y,confidence"]
    rows += [f"0,{name},{10 + k},{20 + k},0.5" for k, name in enumerate(DZ12)]
    rows += ["0,nose,1,2,0.9", "1,LShoulder,412.5,203.0,0.93", "1,RAnkle,7,8,1", "2,left_shoulder,,,0"]
    keypoints = read_keypoints(_written(tmp_path, "k.csv", "\n".join(rows) + "\n"), 3, "dz12")
    assert keypoints.shape == (3, 12, 3) and keypoints.dtype == np.float32
    np.testing.assert_allclose(keypoints[0, :, 0], 10 + np.arange(12))
    np.testing.assert_allclose(keypoints[1, DZ12.index("left_shoulder")], [412.5, 203.0, 0.93], rtol=1e-6)
    np.testing.assert_allclose(keypoints[1, DZ12.index("right_ankle")], [7, 8, 1])
    assert keypoints[1, DZ12.index("left_knee")].tolist() == [0, 0, 0]   # not given: not found
    assert not keypoints[2].any()


@pytest.mark.parametrize("suffix", ["json", "csv"])
def test_written_keypoints_read_back(tmp_path, suffix):
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(0, 640, (4, 12, 2)), rng.uniform(0.1, 1, (4, 12, 1))], -1)
    keypoints[2, 5] = 0   # not found
    write_keypoints(tmp_path / f"k.{suffix}", keypoints, "dz12")
    np.testing.assert_allclose(read_keypoints(tmp_path / f"k.{suffix}", 4, "dz12"),
                               keypoints.astype(np.float32), rtol=1e-6)


def _json_frames(count: int, skip: int | None = None, extra: dict | None = None) -> str:
    frames = [{"frame": t, "keypoints": {name: [1.0, 2.0, 0.9] for name in DZ12}} for t in range(count) if t != skip]
    if extra:
        frames[0]["keypoints"].update(extra)
    return json.dumps({"frames": frames})


NOT_A_NUMBER, NEGATIVE = {"left_knee": ["abc", 2, 0.5]}, {"left_knee": [1, 2, -0.5]}


@pytest.mark.parametrize("text, n_frames, message", [
    (_json_frames(5), 7, r"k\.json is for a video of 5 frames, but the video has 7"),
    (_json_frames(5, skip=2), 5, r"k\.json has no frames 2"),
    (_json_frames(3, extra={"left_shouldr": [1, 2, 3]}), 3, r"k\.json: unknown joint names left_shouldr; "
                                                            r"joint set dz12"),
    (_json_frames(3, extra=NOT_A_NUMBER), 3, r"k\.json: frame 0 joint left_knee x is 'abc', not a number"),
    (_json_frames(3, extra=NEGATIVE), 3, r"k\.json: frame 0 joint left_knee .* confidence >= 0"),
    ('{"frames": [{"frame": 0, "keypoints": {"left_hip": [1, 2, 1]}}]}', 1,
     r"k\.json has no left_shoulder, .*in any frame"),
    ("not json", 3, r"k\.json is not valid JSON"),
])
def test_bad_json_keypoint_files_are_named_errors(tmp_path, text, n_frames, message):
    with pytest.raises(TrainingError, match=message):
        read_keypoints(_written(tmp_path, "k.json", text), n_frames, "dz12")


def test_bad_csv_keypoint_files_are_named_errors(tmp_path):
    good = ["frame,joint,x,y,confidence"] + [f"{t},{name},1,2,1" for t in range(3) for name in DZ12]
    with pytest.raises(TrainingError, match=r"k\.csv is for a video of 3 frames, but the video has 30"):
        read_keypoints(_written(tmp_path, "k.csv", "\n".join(good)), 30, "dz12")
    with pytest.raises(TrainingError, match=r"k\.csv: frame 1 joint left_hip y is 'x', not a number"):
        bad = [row.replace("1,left_hip,1,2,1", "1,left_hip,1,x,1") for row in good]
        read_keypoints(_written(tmp_path, "k.csv", "\n".join(bad)), 3, "dz12")
    with pytest.raises(TrainingError, match=r"k\.csv: frame 2 gives joint left_hip twice"):
        read_keypoints(_written(tmp_path, "k.csv", "\n".join(good + ["2,left_hip,1,2,1"])), 3, "dz12")
    with pytest.raises(TrainingError, match=r"k\.csv has no frames 1"):
        read_keypoints(_written(tmp_path, "k.csv", "\n".join(r for r in good if not r.startswith("1,"))), 3, "dz12")
    with pytest.raises(TrainingError, match=r"the CSV header must be frame,joint,x,y,confidence"):
        read_keypoints(_written(tmp_path, "k.csv", "\n".join(["t,name,x,y,c"] + good[1:])), 3, "dz12")


# ------------------------------------------------------------------------------ skeleton PNG


def _near(image: np.ndarray, colour: str) -> int:
    from matplotlib.colors import to_rgb

    target = np.array(to_rgb(colour)) * 255
    return int((np.abs(image[..., :3].astype(float) - target).max(axis=-1) < 40).sum())


def test_skeleton_figure_draws_prediction_and_truth(tmp_path):
    camera = canonical_joints() * np.array([1, -1, -1]) + np.array([0, 0, 3])   # upright, facing the camera
    truth = root_relative(to_joint_set(np.stack([camera, camera]), "chen17"), "chen17")
    path = skeleton_figure(truth + 0.05, truth, "chen17", tmp_path / "skeletons.png", titles=["a", "b"])
    image = np.asarray(Image.open(path).convert("RGB"))
    assert _near(image, PREDICTION_COLOUR) > 200 and _near(image, TRUTH_COLOUR) > 200
    alone = np.asarray(Image.open(skeleton_figure(truth, None, "chen17", tmp_path / "alone.png")).convert("RGB"))
    assert _near(alone, PREDICTION_COLOUR) > 200 and _near(alone, TRUTH_COLOUR) == 0
    with pytest.raises(TrainingError, match="mismatched joint sets"):
        skeleton_figure(truth[:, :12], truth[:, :12], "chen17", tmp_path / "bad.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.png", "skeletons.png"]

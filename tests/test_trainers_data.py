"""trainers.data: crops, augmentation, targets and datasets, checked against independent
properties (where labels land relative to joints, flow carried through the crop onto the next
frame, pixel areas) rather than against the formulas they use."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from synth_core.errors import DatasetFormatError
from synth_core.dataset import read_clip
from trainers.data import (ClipDataset, FrameDataset, RealImages, bins_to_depth, depth_bins, heatmaps, open_dataset,
                           read_real_frames, split_clips)
from trainers.data import crop as crops

# ------------------------------------------------------------------------------ geometry, no data


def test_label_pixels_cover_the_input_pixels_they_stand_for():
    """Output pixel j of a crop must stand for input pixels 4j..4j+3 (pixel centres at integers
    on both grids): the nearest-warped frame x at an output pixel equals the mean frame x of its
    4x4 block of input pixels, to the half pixel that nearest sampling costs."""
    frame_x = np.tile(np.arange(640, dtype=np.float32), (480, 1))
    affine = crops.crop_affine((300.0, 240.0, 256.0), 256, crops.Augmentation(rotation=0.0))
    fine = crops.warp_image(frame_x, affine, 256)
    coarse = crops.warp_labels(frame_x, crops.resize_affine(affine, 0.25), 64)
    block_mean = fine.reshape(64, 4, 64, 4).mean(axis=(1, 3))
    error = np.abs(coarse - block_mean)[4:-4, 4:-4]
    assert error.mean() < 0.6 and error.max() <= 1.5 + 1e-4


def _frame_points(affine: np.ndarray, crop_points: np.ndarray) -> np.ndarray:
    """Crop points (N x 2) -> frame points, inverting the 2x3 affine by hand."""
    linear, shift = affine[:, :2], affine[:, 2]
    return (crop_points - shift) @ np.linalg.inv(linear).T


def _label_centres_in_input_pixels(size: int, factor: int) -> np.ndarray:
    """Label pixel (j, i) covers input pixels factor*j .. factor*j + factor - 1 on each axis, so its
    centre is at factor*j + (factor - 1)/2 in input pixels (centres at integers on both grids).
    Returns (size*size) x 2 points (x, y), row-major like the label image."""
    v, u = np.mgrid[:size, :size]
    return np.stack([u.ravel(), v.ravel()], axis=1) * factor + (factor - 1) / 2


def _nearest_lookup(image: np.ndarray, points: np.ndarray, tie: float = 0.01):
    """image at the pixel nearest each (x, y), 0 outside; and which points are not within ``tie``
    of a half-pixel (where OpenCV's 1/1024 px fixed point may round either way)."""
    columns, rows = np.floor(points[:, 0] + 0.5).astype(int), np.floor(points[:, 1] + 0.5).astype(int)
    inside = (rows >= 0) & (rows < image.shape[0]) & (columns >= 0) & (columns < image.shape[1])
    values = np.zeros(len(points), dtype=image.dtype)
    values[inside] = image[rows[inside], columns[inside]]
    clear = np.all(np.abs(points - np.floor(points) - 0.5) > tie, axis=1)
    return values, clear


def test_labels_are_the_frame_label_at_the_nearest_source_pixel():
    """Random labels (any misplaced pixel shows) warped onto a 64x64 label grid through a scaled,
    rotated 256x256 crop: each label pixel holds the frame label nearest to where its centre falls,
    found by inverting the crop's affine by hand; 0 where that is outside the frame."""
    rng = np.random.default_rng(7)
    labels = rng.integers(1, 256, (240, 320), dtype=np.uint8)
    outside = 0
    for _ in range(10):
        augmentation = crops.Augmentation(scale=rng.uniform(0.6, 1.6), rotation=rng.uniform(-60, 60))
        affine = crops.crop_affine((rng.uniform(100, 220), rng.uniform(80, 160), rng.uniform(120, 300)), 256,
                                   augmentation)
        warped = crops.warp_labels(labels, crops.resize_affine(affine, 64 / 256), 64).ravel()
        expected, clear = _nearest_lookup(labels, _frame_points(affine, _label_centres_in_input_pixels(64, 4)))
        assert np.mean(warped[clear] == expected[clear]) >= 0.999
        outside += np.sum(expected[clear] == 0)
    assert outside > 1000  # the crops reach past the frame, where labels must be background


def test_flow_vectors_are_turned_and_scaled_with_the_crop():
    """A linear flow field f(p) = M p + c (which bilinear sampling reproduces exactly) warped into
    a scaled, rotated crop: at crop pixel q with frame source p = A^-1 q the crop's flow must be
    L f(p) (L = the affine's linear part), since the moved point p + f lands at q + L f."""
    yy, xx = np.mgrid[:240, :320].astype(np.float32)
    matrix, offset = np.array([[0.02, -0.01], [0.015, 0.01]]), np.array([3.0, -2.0])
    flow = np.stack([matrix[0, 0] * xx + matrix[0, 1] * yy + offset[0],
                     matrix[1, 0] * xx + matrix[1, 1] * yy + offset[1]], axis=2).astype(np.float32)
    affine = crops.crop_affine((160.0, 120.0, 180.0), 128, crops.Augmentation(scale=0.9, rotation=35.0))
    warped = crops.warp_flow(flow, affine, 128).reshape(-1, 2)
    sources = _frame_points(affine, _label_centres_in_input_pixels(128, 1))
    inner = np.all((sources >= 1) & (sources <= [318, 238]), axis=1)
    expected = (sources @ matrix.T + offset) @ affine[:, :2].T
    assert inner.mean() > 0.5
    assert np.abs(warped[inner] - expected[inner]).max() < 0.01
    assert np.abs(flow.reshape(-1, 2)).max() > 5  # the field moves points by pixels


def test_points_and_images_move_together_under_scale_and_rotation():
    """A bright dot drawn at a point is found, after warping the image, where apply_affine puts
    the point."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        point = rng.uniform([80, 60], [240, 180])
        image = np.zeros((240, 320), dtype=np.float32)
        yy, xx = np.mgrid[:240, :320]
        image[:] = np.exp(-((xx - point[0]) ** 2 + (yy - point[1]) ** 2) / (2 * 2.0 ** 2))
        augmentation = crops.Augmentation(scale=rng.uniform(0.7, 1.4), rotation=rng.uniform(-60, 60))
        affine = crops.crop_affine((160.0, 120.0, 200.0), 256, augmentation)
        warped = crops.warp_image(image, affine, 256)
        found = np.array(np.unravel_index(warped.argmax(), warped.shape)[::-1], dtype=float)
        assert np.linalg.norm(found - crops.apply_affine(affine, point[None])[0]) <= 1.0


def test_rotation_turns_the_picture_counter_clockwise_as_documented():
    affine = crops.crop_affine((100.0, 100.0, 100.0), 101, crops.Augmentation(rotation=90.0))
    # a point right of the centre appears above it (y down) after a counter-clockwise turn
    moved = crops.apply_affine(affine, np.array([[120.0, 100.0]]))[0]
    assert moved[0] == pytest.approx(50.0) and moved[1] < 50.0


def test_the_person_square_holds_the_joints_with_surreals_margins():
    joints = np.array([[100.0, 50.0], [140.0, 250.0]])
    cx, cy, side = crops.person_square(joints)
    assert side == pytest.approx(200 * 1.6)          # height 200, +35% top, +25% bottom
    assert cy == pytest.approx((50 - 70 + 250 + 50) / 2)
    assert cx == pytest.approx(120.0)


def test_whole_frame_box_maps_the_frame_centre_to_the_crop_centre():
    affine = crops.box_affine((0, 0, 320, 240), 128, widen=False)
    assert crops.apply_affine(affine, np.array([[159.5, 119.5]]))[0] == pytest.approx([63.5, 63.5])
    corners = crops.apply_affine(affine, np.array([[-0.5, -0.5], [319.5, 239.5]]))
    assert corners[0, 0] == pytest.approx(-0.5) and corners[1, 0] == pytest.approx(127.5)


def test_depth_bins_by_hand():
    pelvis = 5.0
    depth = np.array([0.0, 5.0, 5.001, 5.044, 5.046, 4.999, 4.954, 9.0, 1.0])
    # (d - 5) / 0.045:  -, 0, 0.02, 0.98, 1.02, -0.02, -1.02, 88.9, -88.9 -> ceil, clamp to +-9, + 10
    assert depth_bins(depth, pelvis).tolist() == [0, 10, 11, 11, 12, 10, 9, 19, 1]


def test_bin_centres_are_within_half_a_bin_of_the_depth():
    depth = np.random.default_rng(1).uniform(5.0 - 0.36, 5.0 + 0.40, 10000)
    back = bins_to_depth(depth_bins(depth, 5.0), 5.0)
    assert np.abs(back - depth).max() <= 0.0225 + 1e-9
    assert bins_to_depth(torch.tensor([0, 10]), torch.tensor(5.0)).tolist() == [0.0, pytest.approx(4.9775)]


def test_heatmap_peaks_at_the_rounded_joint_and_vanishes_off_the_grid():
    joints = np.array([[10.2, 40.7], [63.4, 0.1], [-3.0, 20.0], [70.0, 5.0]])
    maps = heatmaps(joints, 64)
    for j in range(2):
        peak = np.unravel_index(maps[j].argmax(), maps[j].shape)
        assert peak == (round(joints[j, 1]), round(joints[j, 0]))
    assert maps[2].max() == 0 and maps[3].max() == 0
    assert maps[0].max() > 0.9


def test_augmentation_draws_follow_surreal():
    rng = np.random.default_rng(3)
    draws = [crops.Augmentation.sample(rng) for _ in range(4000)]
    log_scale = np.log2([d.scale for d in draws])
    rotated = np.array([d.rotation != 0 for d in draws])
    colour = np.array([d.colour for d in draws])
    assert abs(log_scale.std() - 0.25) < 0.02 and abs(log_scale.mean()) < 0.02
    assert abs(rotated.mean() - 0.4) < 0.03
    assert abs(np.std([d.rotation for d in draws if d.rotation]) - 30) < 2.5
    assert colour.min() >= 0.6 and colour.max() <= 1.4 and abs(colour.mean() - 1.0) < 0.02


# --------------------------------------------------------------------------- on a rendered dataset

@pytest.mark.slow
def test_joints_land_on_the_body_in_augmented_crops(rendered_dataset):
    """Through scale, rotation and the resize to the label grid, the torso joints (pelvis,
    spine) fall on the person's labels, and the depth there is the joint's own depth."""
    clips = open_dataset(rendered_dataset, needs=("rgb", "segmentation", "depth"))
    dataset = FrameDataset(clips, targets=("segm", "depth", "heatmaps"), input_size=128, output_size=32,
                           augment=True, seed=5)
    on_body, depth_error = [], []
    for i in range(0, len(dataset), 3):
        sample = dataset[i]
        for joint in (0, 3, 6):  # pelvis, spine1, spine2
            x, y = np.round(sample["joints2d"][joint].numpy()).astype(int)
            if 0 <= x < 32 and 0 <= y < 32:
                on_body.append(sample["segm"][y, x].item() == 2)  # class 2 = torso
                if joint == 0 and sample["depth"][y, x] > 0:
                    depth_error.append(abs(sample["depth"][y, x].item() - sample["pelvis_depth"].item()))
    assert np.mean(on_body) > 0.9
    assert np.median(depth_error) < 0.15  # the pelvis joint is ~10 cm inside the body


@pytest.mark.slow
def test_sample_labels_are_the_rendered_labels_at_their_source_pixels(rendered_dataset):
    """Each 64x64 label pixel of an augmented sample holds the rendered frame's label (parts as
    SURREAL's 14 classes, metric depth) at the frame pixel nearest its centre, found by inverting
    the sample's affine by hand; pelvis_depth is the pelvis joint's camera z."""
    from synth_core.body.parts import parts_to_classes14

    clips = open_dataset(rendered_dataset, needs=("rgb", "segmentation", "depth"))
    dataset = FrameDataset(clips, targets=("segm", "depth"), augment=True, seed=3)
    dataset.set_epoch(1)
    agree = []
    for i in range(0, len(dataset), 7):
        sample = dataset[i]
        clip = read_clip(clips[sample["clip"]])
        f = int(sample["frame"])
        affine = crops.crop_affine(crops.person_square(clip.annotations["joints2d"][f]), 256, dataset.augmentation(i))
        frame = clip.frame(f, ("segmentation", "depth"))
        sources = _frame_points(affine, _label_centres_in_input_pixels(64, 4))
        parts, clear = _nearest_lookup(frame["segmentation"], sources)
        depth, _ = _nearest_lookup(frame["depth"], sources)
        agree.append(np.mean(sample["segm"].numpy().ravel()[clear] == parts_to_classes14(parts)[clear]))
        agree.append(np.mean(sample["depth"].numpy().ravel()[clear] == depth[clear]))
        assert sample["pelvis_depth"].item() == pytest.approx(clip.annotations["joints3d_camera"][f, 0, 2], abs=1e-5)
        assert (sample["segm"] > 0).sum() > 100  # the person is in the crop
    assert min(agree) >= 0.999


@pytest.mark.slow
def test_a_window_shares_one_crop_and_one_augmentation(rendered_dataset):
    """The camera is still during a clip, so the background seen through ONE crop and colour draw
    is the same in every frame of a window; frames cropped one by one (each its own box and draw,
    FrameDataset) differ. Every tensor has the window's T axis."""
    clips = open_dataset(rendered_dataset, needs=("rgb", "segmentation"))[:8]
    options = dict(targets=("segm", "heatmaps"), input_size=64, output_size=64, augment=True, seed=2)
    windows, frames = ClipDataset(clips, window=3, stride=1, **options), FrameDataset(clips, **options)
    assert len(windows) == len(clips)  # 3-frame clips: one window each
    with pytest.raises(DatasetFormatError, match="no clip has the 4 frames a window needs: clip_00000000 \\(3\\)"):
        ClipDataset(clips, window=4, **options)
    window_change, frame_change = [], []
    for i in range(len(windows)):
        window = windows[i]
        assert window["image"].shape == (3, 3, 64, 64) and window["heatmaps"].shape == (3, 24, 64, 64)
        assert window["frame"].tolist() == [0, 1, 2] and window["segm"].shape == (3, 64, 64)
        singles = [frames[3 * i + t] for t in range(3)]
        window_change.append(_background_change(window["image"], window["segm"]))
        frame_change.append(_background_change(torch.stack([s["image"] for s in singles]),
                                               torch.stack([s["segm"] for s in singles])))
    print(f"background change: window {np.mean(window_change):.4f}, frame by frame {np.mean(frame_change):.4f}")
    assert np.mean(window_change) < 0.01 and np.mean(frame_change) > 0.05


def _background_change(images: torch.Tensor, segm: torch.Tensor) -> float:
    """Mean |difference| of RGB between consecutive frames on pixels that are background in
    both frames and inside the frame (not the black border)."""
    rgb = images[:, :3].numpy()
    changes = []
    for t in range(len(rgb) - 1):
        keep = (segm[t] == 0).numpy() & (segm[t + 1] == 0).numpy() & (rgb[t].sum(0) > 0) & (rgb[t + 1].sum(0) > 0)
        changes.append(np.abs(rgb[t] - rgb[t + 1])[:, keep].mean())
    return float(np.mean(changes))


@pytest.mark.slow
def test_flow_carried_through_a_rotated_crop_lands_on_the_same_part_next_frame(rendered_dataset):
    """Forward flow in crop pixels, followed from crop t, must reach the same body part in the
    crop of frame t + 1 made with the same affine; the untransformed flow does measurably worse."""
    clips = open_dataset(rendered_dataset, needs=("rgb", "segmentation", "flow_forward"))
    dataset = FrameDataset(clips, targets=("segm",), inputs=("rgb", "flow"), input_size=128, output_size=128,
                           augment=False)
    agree_transformed, agree_raw = [], []
    augmentation = crops.Augmentation(scale=0.8, rotation=50.0)
    for c, path in enumerate(clips[:6]):
        clip = read_clip(path)
        for f in range(clip.n_frames - 1):
            affine = crops.crop_affine(crops.person_square(clip.annotations["joints2d"][f]), 128, augmentation)
            now = dataset.crop_frame(c, f, affine, augmentation)
            later = dataset.crop_frame(c, f + 1, affine, augmentation)
            flow = now["image"][3:].permute(1, 2, 0).numpy()
            raw = crops.warp_image(clip.frame(f, "flow_forward")["flow_forward"], affine, 128)
            for vectors, agree in ((flow, agree_transformed), (raw, agree_raw)):
                agree.append(_part_agreement(now["segm"].numpy(), later["segm"].numpy(), vectors))
    print(f"flow agreement transformed {np.nanmean(agree_transformed):.3f}, raw {np.nanmean(agree_raw):.3f}")
    assert np.nanmean(agree_transformed) > 0.9
    assert np.nanmean(agree_transformed) > np.nanmean(agree_raw) + 0.02


def _part_agreement(labels_now, labels_later, flow, min_motion=1.0) -> float:
    ys, xs = np.nonzero(labels_now > 0)
    moving = np.linalg.norm(flow[ys, xs], axis=1) >= min_motion
    ys, xs = ys[moving], xs[moving]
    if len(ys) < 20:
        return np.nan
    tx = np.round(xs + flow[ys, xs, 0]).astype(int)
    ty = np.round(ys + flow[ys, xs, 1]).astype(int)
    inside = (tx >= 0) & (tx < labels_now.shape[1]) & (ty >= 0) & (ty < labels_now.shape[0])
    return float(np.mean(labels_later[ty[inside], tx[inside]] == labels_now[ys[inside], xs[inside]]))


@pytest.mark.slow
def test_samples_are_a_function_of_seed_epoch_and_index_in_any_worker(rendered_dataset):
    clips = open_dataset(rendered_dataset, needs=("rgb", "segmentation"))
    dataset = FrameDataset(clips, targets=("segm",), input_size=64, output_size=16, seed=1)
    dataset.set_epoch(2)
    direct = [dataset[i] for i in range(8)]
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, range(8)), batch_size=4, num_workers=2)
    batches = list(loader)
    assert torch.equal(torch.cat([b["image"] for b in batches]), torch.stack([s["image"] for s in direct]))
    assert torch.equal(torch.cat([b["segm"] for b in batches]), torch.stack([s["segm"] for s in direct]))
    dataset.set_epoch(3)
    assert not torch.equal(dataset[0]["image"], direct[0]["image"])


@pytest.mark.slow
def test_split_holds_out_whole_clips_by_name(rendered_dataset):
    clips = open_dataset(rendered_dataset)
    train, held = split_clips(clips, held_out=0.25)
    assert len(held) == 10 and not set(train) & set(held) and sorted(train + held) == sorted(clips)
    assert split_clips(list(reversed(clips)), held_out=0.25)[1] == sorted(held, reverse=True)


# ---------------------------------------------------------------------------------- bad input

def test_missing_and_empty_dataset_folders_are_named(tmp_path):
    with pytest.raises(DatasetFormatError, match="does not exist"):
        open_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetFormatError, match="empty"):
        open_dataset(tmp_path)
    (tmp_path / "clip_00000001.partial-host-1").mkdir()
    with pytest.raises(DatasetFormatError, match="unfinished"):
        open_dataset(tmp_path)


def test_a_folder_without_clips_says_how_to_make_some(tmp_path):
    (tmp_path / "runs" / "notes").mkdir(parents=True)
    with pytest.raises(DatasetFormatError, match="render some"):
        open_dataset(tmp_path / "runs")


@pytest.mark.slow
def test_clips_of_another_version_or_without_a_pass_are_named(rendered_dataset, tmp_path):
    mixed = tmp_path / "mixed"
    for path in open_dataset(rendered_dataset)[:2]:
        shutil.copytree(path, mixed / path.name)
    meta_path = mixed / "clip_00000001" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "version": 2}))
    with pytest.raises(DatasetFormatError, match="clip_00000001.*version"):
        open_dataset(mixed)
    with pytest.raises(DatasetFormatError, match="no normals pass"):
        open_dataset(rendered_dataset, needs=("rgb", "normals"))
    with pytest.raises(DatasetFormatError, match="sub-folders mixed hold clips"):
        open_dataset(tmp_path)
    broken = mixed / "clip_00000000" / "annotations.npz"
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(DatasetFormatError, match="clip_00000000.*annotations"):
        FrameDataset([broken.parent])


def test_real_images_from_a_folder_and_a_video(tmp_path):
    import imageio.v3 as iio

    frames = np.random.default_rng(0).integers(0, 255, (6, 96, 128, 3), dtype=np.uint8)
    (tmp_path / "images").mkdir()
    for i, frame in enumerate(frames):
        iio.imwrite(tmp_path / "images" / f"{i:03d}.png", frame)
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    folder = RealImages(tmp_path / "images", input_size=64, augment=False)
    assert len(folder) == 6 and folder[0]["image"].shape == (3, 64, 64)
    assert np.array_equal(read_real_frames(tmp_path / "images", every=2)[1], frames[2])

    iio.imwrite(tmp_path / "video.mp4", frames, fps=10, codec="libx264")
    assert len(read_real_frames(tmp_path / "video.mp4")) == 6
    video = RealImages(tmp_path / "video.mp4", input_size=64, augment=True, seed=2)
    assert torch.equal(video[3]["image"], video[3]["image"]) and video[3]["image"].shape == (3, 64, 64)
    video.set_epoch(1)
    assert not torch.equal(video[3]["image"], RealImages(tmp_path / "video.mp4", input_size=64, seed=2)[3]["image"])


def _position_image(height: int, width: int) -> np.ndarray:
    """uint8 RGB whose red is 2x and green 2y: a crop's colours say where it came from."""
    yy, xx = np.mgrid[:height, :width]
    return np.stack([2 * xx, 2 * yy, np.full_like(xx, 128)], axis=2).astype(np.uint8)


def test_real_crops_are_squares_of_half_to_all_of_the_shorter_side(tmp_path):
    import imageio.v3 as iio

    (tmp_path / "images").mkdir()
    iio.imwrite(tmp_path / "images" / "a.png", _position_image(64, 96))
    centred = RealImages(tmp_path / "images", input_size=64, augment=False)[0]["image"].permute(1, 2, 0).numpy()
    assert np.array_equal(np.round(centred * 255), _position_image(64, 96)[:, 16:80])
    sides = []
    for seed in range(40):
        crop = RealImages(tmp_path / "images", input_size=32, seed=seed)[0]["image"].numpy() * 255
        x_span = (crop[0, :, -1].mean() - crop[0, :, 0].mean()) / 2  # across the crop, in frame pixels
        y_span = (crop[1, -1, :].mean() - crop[1, 0, :].mean()) / 2
        assert x_span == pytest.approx(y_span, abs=2.5)  # a square, not stretched
        sides.append(x_span * 32 / 31)  # span between the first and last pixel centres -> side
    assert 30 <= min(sides) and max(sides) <= 65 and np.ptp(sides) > 15


def test_a_video_is_kept_shrunk_and_a_long_one_is_refused(tmp_path):
    import imageio.v3 as iio

    frames = np.repeat(_position_image(240, 320)[None], 8, axis=0)
    iio.imwrite(tmp_path / "video.mp4", frames, fps=10, codec="libx264")
    video = RealImages(tmp_path / "video.mp4", input_size=32, augment=False)
    assert len(video) == 8 and video.frame(0).shape == (64, 85, 3)  # shorter side 2 x 32
    assert np.abs(video.frame(0).mean(axis=(0, 1)) - frames[0].mean(axis=(0, 1))).max() < 3
    with pytest.raises(DatasetFormatError, match="video.mp4.*every=N"):
        RealImages(tmp_path / "video.mp4", input_size=32, max_mb=0.05)
    assert len(RealImages(tmp_path / "video.mp4", input_size=32, max_mb=0.05, every=4)) == 2


def test_undecodable_videos_and_empty_folders_are_named(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(DatasetFormatError, match="cannot decode .*broken.mp4"):
        read_real_frames(broken)
    with pytest.raises(DatasetFormatError, match="cannot decode .*broken.mp4"):
        RealImages(broken)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetFormatError, match="has no images"):
        RealImages(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "000.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetFormatError, match="cannot decode .*000.jpg"):
        RealImages(tmp_path / "bad")


def test_colour_factors_scale_each_channel_and_clip():
    rgb = np.random.default_rng(4).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    factors = (0.6, 1.0, 1.4)
    reference = np.clip(rgb.astype(np.float64) * np.array(factors), 0, 255)
    assert np.abs(crops.scale_colours(rgb, factors) - reference).max() <= 0.5 + 1e-6

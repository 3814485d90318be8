"""Doersch & Zisserman's motion model (trainers/models/motion.py, trainers/pose3d/motion_data.py,
trainers/pose3d/doersch.py): inputs, noise and occluders, losses, gradient reversal, real video
inputs through OpenCV flow, and a learning check on rendered clips."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from synth_core.errors import DatasetFormatError, TrainingError
from tests.conftest import canonical_joints
from tests.test_dataset_format import make_annotations, make_frames, write_clip
from trainers.config import TrainConfig
from trainers.data import crop as crops
from trainers.models.motion import (MotionPoseNet, fit_weak_perspective, procrustes_loss, reprojection_loss,
                                    reverse_gradient)
from trainers.pose3d.doersch import DoerschRecipe
from trainers.pose3d.keypoints import write_keypoints
from trainers.pose3d.metrics import mpjpe, pa_mpjpe
from trainers.pose3d.motion_data import (Corruption, MotionClips, flow_divisor, input_channels, keypoint_sigma,
                                         real_video_inputs)
from trainers.pose3d.recipe import StepContext

S = 64
N_FRAMES = 6
K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]])


@pytest.fixture(autouse=True)
def one_thread():
    """Small convolutions on 2 shared cores: torch's thread pool makes them ~50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _annotations(n_frames: int) -> dict:
    """A standing skeleton 4 m in front of the camera (every joint visible), moving right."""
    annotations = make_annotations(n_frames)
    rest = canonical_joints() * [1, -1, 1]       # SMPL's y up -> camera's y down
    camera = np.stack([rest + [0.02 * t, 0.0, 4.0] for t in range(n_frames)])
    projected = camera @ K.T
    annotations.update(joints3d_camera=camera, joints2d=projected[..., :2] / projected[..., 2:], camera_K=K,
                       joints_visible=np.ones((n_frames, 24), bool))
    return annotations


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("motion_clips")
    return [write_clip(root / f"clip_{i:03d}", make_frames(N_FRAMES, seed=i), annotations=_annotations(N_FRAMES))
            for i in range(2)]


def _dataset(clips, corruption=Corruption(), corrupt=True, motion_inputs="flow+keypoints", window=4, **options):
    return MotionClips(clips, window=window, motion_inputs=motion_inputs, input_size=S, augment=False,
                       corrupt=corrupt, corruption=corruption, **options)


# ----------------------------------------------------------------------------- inputs and model

def test_clean_inputs_have_the_documented_layout_and_the_model_its_shapes(clips):
    dataset = _dataset(clips, corrupt=False)
    parts = dataset.window_parts(0)
    inputs = parts["inputs"]
    assert input_channels("flow+keypoints") == 15 and input_channels("rgb") == 4
    assert inputs.shape == (4, 15, S, S)
    # heatmap k peaks (value ~1) where the 3D joint projects through the camera and the crop
    clip_joints = _annotations(N_FRAMES)["joints3d_camera"][:4]
    projected = clip_joints @ K.T
    pixels = crops.apply_affine(parts["affine"], (projected[..., :2] / projected[..., 2:]).reshape(-1, 2))
    pixels = pixels.reshape(4, 24, 2)[:, dataset.keypoint_index]
    maps = inputs[:, 2:14].numpy()
    peaks = np.stack(np.unravel_index(maps.reshape(4, 12, -1).argmax(-1), (S, S)), -1)[..., ::-1]
    assert np.abs(peaks - pixels).max() <= 1.0
    assert maps.max() == pytest.approx(1.0, abs=0.1)
    # sigma: the heatmap's value one sigma from the peak is exp(-1/2)
    assert keypoint_sigma(224) == 10.0 and keypoint_sigma(64) == pytest.approx(10 * 64 / 224)
    # flow channels: the clip's flow (about +6 px in x in frame pixels) scaled into the crop, / divisor
    zoom = np.linalg.norm(parts["affine"][:, 0])
    person = inputs[:, 0].abs() > 0
    paper_divisor = 20 * S / 224                         # flow / 20 at the paper's 224 px crops
    assert float(inputs[:, 0][person].median()) * paper_divisor == pytest.approx(6 * zoom, rel=0.3)
    assert not inputs[:, -1].any()                       # no indicator on clean frames

    model = MotionPoseNet(15, 24, features=16)
    assert model(torch.stack([inputs, inputs])).shape == (2, 4, 24, 3)
    assert model.features(inputs[None]).shape == (1, 4, 128)


def test_rgb_switch_feeds_rgb_and_the_indicator(clips):
    from synth_core.dataset import read_clip

    parts = _dataset(clips, corrupt=False, motion_inputs="rgb").window_parts(0)
    rgb = parts["inputs"]
    assert rgb.shape == (4, 4, S, S) and not rgb[:, -1].any()
    with read_clip(clips[0]) as clip:
        frame = clip.frame(0, ("rgb",))["rgb"]
    expected = cv2.warpAffine(frame, parts["affine"], (S, S), flags=cv2.INTER_LINEAR) / 255
    assert np.abs(rgb[0, :3].permute(1, 2, 0).numpy() - expected).max() < 1e-6


def test_clips_shorter_than_the_window_are_named(clips):
    with pytest.raises(DatasetFormatError, match=r"clip_000 \(6\).*window = 10"):
        _dataset(clips, window=10)


# --------------------------------------------------------------------------------- noise

def _occluded_window(dataset) -> tuple[int, dict]:
    for epoch in range(20):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            parts = dataset.window_parts(index)
            if parts["occluder"] is not None:
                return index, parts
    raise AssertionError("no occluder was accepted in 20 epochs")


def test_occluders_hide_the_keypoints_they_cover_and_carry_their_own_flow(clips):
    only_occluders = Corruption(hide=0.0, unhide_legs=0.0, flip=0.0, occluder=1.0, total=0.0)
    dataset = _dataset(clips, corruption=only_occluders)
    index, parts = _occluded_window(dataset)
    clean = _dataset(clips, corrupt=False)
    clean.set_epoch(dataset.epoch)
    reference = clean.window_parts(index)["inputs"]
    masks, inputs = parts["occluder_masks"], parts["inputs"]
    assert masks.any()
    # keypoints under the mask: channel all zero; every other keypoint still drawn
    keypoints = reference[:, 2:14].flatten(2).argmax(-1)          # clean peaks (pixel index)
    under = torch.from_numpy(masks.reshape(len(masks), -1)).gather(1, keypoints)
    drawn = inputs[:, 2:14].flatten(2).amax(-1) > 0.5
    assert under.any()
    assert torch.equal(drawn, ~under)
    assert not parts["keypoints"][..., 2][under].any()
    # flow under the occluder is its image velocity; elsewhere the clip's
    velocity = torch.tensor(parts["occluder"]["velocity_px"], dtype=torch.float32) / flow_divisor(S)
    mask = torch.from_numpy(masks)
    for c in range(2):
        assert torch.allclose(inputs[:, c][mask], velocity[c].expand(int(mask.sum())))
        assert torch.equal(inputs[:, c][~mask], reference[:, c][~mask])
    # the rgb switch shows the superpixel's own pixels there
    rgb = _dataset(clips, corruption=only_occluders, motion_inputs="rgb")
    rgb.set_epoch(dataset.epoch)
    rgb_inputs = rgb.window_parts(index)["inputs"]
    card = parts["occluder"]
    patch = dataset.bank.patches[card["patch"]]
    t = int(np.argmax(masks.reshape(len(masks), -1).sum(1)))
    ys, xs = np.nonzero(masks[t])
    scale = card["height_px"] / patch.shape[0]
    cx, cy = np.asarray(card["centre_px"]) + np.asarray(card["velocity_px"]) * t
    u = np.floor((xs - cx) / scale + patch.shape[1] / 2).astype(int)
    v = np.floor((ys - cy) / scale + patch.shape[0] / 2).astype(int)
    if card["flip"]:
        u = patch.shape[1] - 1 - u
    expected = torch.from_numpy(patch[v, u, :3].astype(np.float32) / 255)
    assert torch.allclose(rgb_inputs[t, :3, ys, xs].T, expected, atol=1e-6)


def test_totally_occluded_frames_are_zero_but_the_indicator(clips):
    only_total = Corruption(hide=0.0, unhide_legs=0.0, flip=0.0, occluder=0.0, total=1.0, total_max_share=0.5)
    dataset = _dataset(clips, corruption=only_total)
    parts = dataset.window_parts(0)
    total, inputs = parts["total_occlusion"], parts["inputs"]
    assert 1 <= int(total.sum()) <= 2
    assert not inputs[total, :-1].any() and bool((inputs[total, -1] == 1).all())
    assert not inputs[~total, -1].any() and bool((inputs[~total, 2:14].flatten(1).amax(1) > 0.5).all())
    assert not parts["keypoints"][total][..., 2].any()


def test_random_hiding_and_flips_follow_their_rates(clips):
    dataset = _dataset(clips, corruption=Corruption(hide=0.5, unhide_legs=0.0, flip=0.0, occluder=0.0, total=0.0))
    shown = []
    for epoch in range(60):
        dataset.set_epoch(epoch)
        shown += [dataset.window_parts(i)["keypoints"][..., 2] for i in range(len(dataset))]
    shown = torch.stack(shown)
    # frames left with fewer than 6 keypoints become total occlusions (the paper's 7 of 14 rule),
    # so the share shown is a little under 1/2: P(shown | >= 6 of 12 shown) x P(>= 6)
    from math import comb
    at_least_6 = sum(comb(12, k) for k in range(6, 13)) / 2 ** 12
    expected = sum(k * comb(12, k) for k in range(6, 13)) / 2 ** 12 / 12
    assert float(shown.mean()) == pytest.approx(expected, abs=0.03)
    assert float((shown.sum(-1) > 0).float().mean()) == pytest.approx(at_least_6, abs=0.04)


def test_keypoint_jitter_has_the_configured_spread(clips):
    clean = _dataset(clips, corruption=Corruption.none())
    noisy = _dataset(clips, corruption=Corruption.none(), keypoint_noise_px=2.0)
    offsets = torch.cat([noisy.window_parts(i)["keypoints"][..., :2] - clean.window_parts(i)["keypoints"][..., :2]
                         for i in range(len(noisy))])
    assert float(offsets.std()) == pytest.approx(2.0, rel=0.25)


# ---------------------------------------------------------------------------- losses and GRL

def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    weights = torch.randn(5, 3)
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    (y * weights).sum().backward()
    assert torch.allclose(x.grad, -0.3 * weights)       # d/dx of sum(w * x) is w; reversed and scaled


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_procrustes_loss_agrees_with_scipy_and_is_differentiable():
    from scipy.spatial import procrustes

    rng = np.random.default_rng(0)
    gt = canonical_joints()
    pred = 1.3 * gt @ _random_rotation(rng).T + [0.2, -0.1, 0.5] + rng.normal(0, 0.02, gt.shape)
    _, _, disparity = procrustes(gt, pred)   # squared error with both scaled to unit norm about their means
    expected = np.sqrt(disparity * np.sum((gt - gt.mean(0)) ** 2) / len(gt))
    loss = procrustes_loss(torch.from_numpy(pred), torch.from_numpy(gt))
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert float(loss) < 0.03                             # the similarity is undone: only the noise is left
    pred_t = torch.from_numpy(pred).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: procrustes_loss(p, torch.from_numpy(gt)), (pred_t,))


def test_reprojection_fits_a_weak_perspective_camera():
    rng = np.random.default_rng(1)
    joints = torch.from_numpy(canonical_joints())
    image = 80.0 * joints[:, :2] + torch.tensor([30.0, 40.0])
    scale, shift = fit_weak_perspective(joints, image)
    assert float(scale) == pytest.approx(80.0) and torch.allclose(shift, torch.tensor([30.0, 40.0], dtype=shift.dtype))
    deeper = joints.clone()
    deeper[:, 2] += torch.from_numpy(rng.normal(0, 0.3, 24))   # depth does not project
    assert float(reprojection_loss(deeper, image, 64)) < 1e-6
    bent = joints.clone()
    bent[20, :2] += 0.2                                          # a wrist moved 0.2 m in the image plane
    assert float(reprojection_loss(bent, image, 64)) > 0.1 * 80 / 64 / 24


# ------------------------------------------------------------------------------- real video

def _translating_video(path: Path, n_frames: int, shift=(2, 1)) -> np.ndarray:
    """An MJPG video of a blurred noise pattern moving ``shift`` px per frame; returns the 12
    keypoints (x, y, confidence) that move with it."""
    rng = np.random.default_rng(0)
    pattern = cv2.GaussianBlur((rng.random((400, 400)) * 255).astype(np.uint8), (0, 0), 2)
    pattern = cv2.normalize(pattern, None, 0, 255, cv2.NORM_MINMAX)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for t in range(n_frames):
        x, y = 100 - shift[0] * t, 100 - shift[1] * t
        writer.write(cv2.cvtColor(pattern[y:y + 120, x:x + 160], cv2.COLOR_GRAY2BGR))
    writer.release()
    base = np.array([[60, 30], [100, 30], [55, 50], [105, 50], [52, 70], [108, 70],
                     [68, 70], [92, 70], [66, 90], [94, 90], [65, 108], [95, 108]], dtype=np.float64) * [1, 0.9]
    steps = np.arange(n_frames)[:, None, None] * np.asarray(shift, np.float64)
    return np.concatenate([base[None] + steps, np.ones((n_frames, 12, 1))], -1)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_real_video_flow_is_the_known_shift_in_crop_pixels(tmp_path, method):
    video = tmp_path / "pattern.avi"
    keypoints = _translating_video(video, 8)
    write_keypoints(tmp_path / "keypoints.json", keypoints)
    got = real_video_inputs(video, tmp_path / "keypoints.json", S, window=3, flow=method)
    assert got["inputs"].shape == (3, 3, 15, S, S)              # windows 0-2, 3-5 and 5-7 (moved back)
    assert got["frames"].tolist() == [[0, 1, 2], [3, 4, 5], [5, 6, 7]]
    zoom = float(np.linalg.norm(got["affines"][0, :, 0]))
    flow = got["inputs"][:, :, :2, 16:-16, 16:-16] * flow_divisor(S)
    for axis, shift in enumerate((2, 1)):
        assert float(flow[:, :, axis].median()) == pytest.approx(shift * zoom, abs=0.15)
    # keypoints drawn where the file puts them, through the window's crop
    maps = got["inputs"][0, 0, 2:14].flatten(1).argmax(-1)
    peaks = np.stack([maps % S, maps // S], -1)
    assert np.abs(peaks - crops.apply_affine(got["affines"][0].numpy(), keypoints[0, :, :2])).max() <= 1.0


def test_real_video_inputs_refuse_mismatched_files(tmp_path):
    video = tmp_path / "pattern.avi"
    keypoints = _translating_video(video, 6)
    write_keypoints(tmp_path / "short.json", keypoints[:4])
    with pytest.raises(TrainingError, match="short.json"):
        real_video_inputs(video, tmp_path / "short.json", S, window=3)
    write_keypoints(tmp_path / "keypoints.json", keypoints)
    with pytest.raises(TrainingError, match=r"pattern.avi has 6 frames.*window of 8"):
        real_video_inputs(video, tmp_path / "keypoints.json", S, window=8)


def test_undetected_frames_become_total_occlusions(tmp_path):
    video = tmp_path / "pattern.avi"
    keypoints = _translating_video(video, 6)
    keypoints[4, :7, 2] = 0.0                                    # frame 4: only 5 of 12 found
    write_keypoints(tmp_path / "keypoints.json", keypoints)
    got = real_video_inputs(video, tmp_path / "keypoints.json", S, window=3)
    assert got["total_occlusion"].tolist() == [[False] * 3, [False, True, False]]
    assert not got["inputs"][1, 1, :-1].any() and bool((got["inputs"][1, 1, -1] == 1).all())


# ------------------------------------------------------------------------------------- recipe

def _config(data, **options) -> TrainConfig:
    fields = dict(task="motion", data=str(data), input_size=S, features=16, window=3, batch_size=4, lr=1e-3,
                  optimizer="adam", joint_set="smpl24", held_out=0.2, seed=0)
    return TrainConfig(**{**fields, **options})


def test_dann_step_trains_the_domain_classifier_on_real_windows(clips, tmp_path):
    photos = sorted((Path(__file__).resolve().parents[1] / "synth_core" / "data" / "photos").glob("*"))
    real = tmp_path / "real"
    real.mkdir()
    for i in range(5):   # a "video" of crops sliding over a photo
        image = cv2.imread(str(photos[0]))
        cv2.imwrite(str(real / f"{i:03d}.png"), cv2.resize(image[:, 10 * i:], (96, 72)))
    config = _config(clips[0].parent, dann=True, real_data=str(real), motion_inputs="rgb")
    recipe = DoerschRecipe()
    modules = recipe.build(config)
    optimizers = recipe.optimizers(config, modules)
    train, _ = recipe.datasets(config)
    real_set = recipe.real_dataset(config)
    assert len(real_set) == 3 and real_set[0]["inputs"].shape == (3, 4, S, S)
    batch = torch.utils.data.default_collate([train[i] for i in range(2)])
    real_batch = torch.utils.data.default_collate([real_set[i] for i in range(2)])
    before = [p.detach().clone() for p in modules["domain"].parameters()]
    logs = recipe.train_step(modules, optimizers, batch, real_batch, 0, StepContext(config, torch.device("cpu")))
    assert {"loss", "loss_procrustes", "loss_reprojection", "loss_camera", "loss_domain"} <= set(logs)
    assert all(not torch.equal(a, b) for a, b in zip(before, modules["domain"].parameters()))
    with pytest.raises(TrainingError, match="dann needs unlabelled real video"):
        recipe.real_dataset(dataclasses.replace(config, real_data=None))


@pytest.mark.slow
def test_motion_model_learns_pose_from_rendered_clips(rendered_dataset):
    """40 rendered 3-frame clips (32 for training): after 600 steps the held-out error is well
    below the training set's mean pose. Trained and scored on clean inputs (ground-truth keypoints
    and flow): 32 short clips are too few to learn through the paper's noise in a test's minute."""
    config = _config(rendered_dataset, augment=False)
    torch.manual_seed(0)
    recipe = DoerschRecipe()
    modules = recipe.build(config)
    optimizers = recipe.optimizers(config, modules)
    train, held = recipe.datasets(config)
    train.corrupt = held.corrupt = False
    ctx = StepContext(config, torch.device("cpu"))
    loader = torch.utils.data.DataLoader(train, batch_size=4, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    step = 0
    while step < 600:
        for batch in loader:
            recipe.train_step(modules, optimizers, batch, None, step, ctx)
            step += 1
            if step == 600:
                break
    modules["model"].eval()
    with torch.no_grad():
        batches = list(torch.utils.data.DataLoader(held, batch_size=8))
        pred = torch.cat([recipe.predict(modules, b, ctx) for b in batches])
        truth = torch.cat([recipe.target(b) for b in batches])
    mean = torch.cat([recipe.target(train[i]) for i in range(len(train))]).mean(0)
    baseline = mean.expand_as(truth)
    assert float(mpjpe(pred, truth)) < 0.75 * float(mpjpe(baseline, truth))
    assert float(pa_mpjpe(pred, truth)) < 0.75 * float(pa_mpjpe(baseline, truth))

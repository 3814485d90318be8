"""Yang et al.'s adversarial 3D pose recipe (trainers/models/adversarial.py, trainers/pose3d/yang.py):
the branches' shapes, the 2D positions and the pixel scale against constructed cases, the losses
against a hand sum, which module each stage and each update changes, and learning on held-out clips."""

from __future__ import annotations

import copy
import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from synth_core.errors import TrainingError
from tests.conftest import canonical_joints
from trainers.config import TrainConfig
from trainers.data.targets import heatmaps as gaussian_heatmaps
from trainers.models.adversarial import (GeneratorOutput, MultiSourceDiscriminator, PoseGenerator, discriminator_inputs,
                                         heatmap_locations, pixel_scale)
from trainers.pose3d.joints import get_joint_set, mirror_pairs
from trainers.pose3d.recipe import StepContext, mirror_half
from trainers.pose3d.yang import APART_PX, YangRecipe, error_halves, left_right_swaps

CHEN17 = get_joint_set("chen17")
P = len(CHEN17)
SMPL_INDEX = CHEN17.from_smpl.argmax(axis=1)   # every chen17 joint is one SMPL joint
CROP_METRES_PER_PIXEL = 0.15                   # a 2.4 m crop over a 16 px heatmap


def tiny_config(**changes) -> TrainConfig:
    settings = dict(task="adversarial", data="unused", joint_set="chen17", input_size=64, stacks=1, features=16,
                    batch_size=4, optimizer="adam", lr=1e-3, pretrain_steps=2, lambda_adv=1e-4, augment=False)
    return TrainConfig(**{**settings, **changes})


def synthetic_batch(count: int = 4, size: int = 64, seed: int = 0) -> dict:
    """Perturbed canonical skeletons 4 m in front of the camera (y down, facing it), their
    weak-perspective 2D joints on the heatmap grid (size / 4), random images."""
    rng = np.random.default_rng(seed)
    joints3d = canonical_joints()[None] * np.array([1.0, -1.0, -1.0]) + rng.normal(0, 0.04, (count, 24, 3))
    joints3d += np.array([0.0, 0.0, 4.0])
    out = size // 4
    joints2d = (joints3d[..., :2] - joints3d[:, :1, :2]) / CROP_METRES_PER_PIXEL + (out - 1) / 2
    return {"image": torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed)),
            "heatmaps": torch.zeros(count, 24, out, out),
            "joints2d": torch.from_numpy(joints2d.astype(np.float32)),
            "joints3d": torch.from_numpy(joints3d.astype(np.float32))}


def built(config: TrainConfig, batch: dict):
    """(recipe, modules, optimizers, context), calibrated on ``batch``'s skeletons as the loop does."""
    torch.manual_seed(0)
    recipe = YangRecipe()
    modules = recipe.build(config)
    optimizers = recipe.optimizers(config, modules)
    recipe.calibrate(modules, recipe.target(batch))
    return recipe, modules, optimizers, StepContext(config, torch.device("cpu"))


def state(module: torch.nn.Module) -> dict:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# the bones that size a chen17 pose, by hand: the spine and head chain and the legs below the hips
SIZING = [("pelvis", "spine"), ("spine", "thorax"), ("thorax", "neck"), ("neck", "head"),
          ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
          ("right_knee", "right_ankle")]


def hand_size(pose: np.ndarray) -> np.ndarray:
    return sum(np.linalg.norm(pose[..., CHEN17.index(child), :] - pose[..., CHEN17.index(parent), :], axis=-1)
               for parent, child in SIZING)


# ------------------------------------------------------------------------------------- shapes

@pytest.mark.parametrize("size,stacks", [(64, 1), (128, 2)])
def test_every_branch_has_its_shape_and_the_pose_its_size(size, stacks):
    torch.manual_seed(0)
    out, B = size // 4, 3
    generator = PoseGenerator("chen17", stacks=stacks, features=16)
    generator.size_length.fill_(4.2)
    images = torch.rand(B, 3, size, size)
    output = generator(images)
    assert [tuple(h.shape) for h in output.heatmaps] == [(B, P, out, out)] * stacks
    assert tuple(output.depth.shape) == (B, P)
    assert torch.all(output.depth[:, CHEN17.root] == 0)
    pose = generator.pose(output)
    assert tuple(pose.shape) == (B, P, 3)
    assert torch.all(pose[:, CHEN17.root] == 0)
    np.testing.assert_allclose(hand_size(pose.detach().numpy()), 4.2, rtol=1e-5)

    discriminator = MultiSourceDiscriminator(P, size, out, width=8, embedding=24)
    maps, descriptor = discriminator_inputs(output.heatmaps[-1], pose)
    assert tuple(maps.shape) == (B, 2 * P, out, out) and tuple(descriptor.shape) == (B, 6, P, P)
    assert tuple(discriminator.image(images).shape) == (B, 24)
    assert tuple(discriminator.maps(maps).shape) == (B, 24)
    assert tuple(discriminator.geometry(descriptor).shape) == (B, 24)
    assert tuple(discriminator(images, maps, descriptor).shape) == (B,)


def test_depth_maps_are_each_joints_depth_on_its_heatmap():
    joints = np.array([[3.0, 4.0], [10.5, 7.25]], dtype=np.float32)
    heatmaps = torch.from_numpy(gaussian_heatmaps(joints, 16, 1.0))[None]
    pose = torch.tensor([[[0.0, 0.0, 0.0], [0.1, 0.2, -0.35]]])
    maps, _ = discriminator_inputs(heatmaps, pose)
    assert torch.equal(maps[0, :2], heatmaps[0])
    assert float(maps[0, 2].abs().max()) == 0.0                     # the root's depth is 0
    peak = maps[0, 3, 7, 10]                                        # the pixel nearest (10.5, 7.25)
    assert float(peak) == pytest.approx(-0.35 * float(heatmaps[0, 1, 7, 10]))
    assert float(maps[0, 3].min()) == pytest.approx(-0.35 * float(heatmaps[0, 1].max()))


# ---------------------------------------------------------------------- geometry of the pose

def test_local_soft_argmax_finds_sub_pixel_gaussian_peaks_and_passes_gradients():
    rng = np.random.default_rng(1)
    joints = rng.uniform(3, 12, size=(P, 2)).astype(np.float32)
    heatmaps = torch.from_numpy(gaussian_heatmaps(joints, 16, 1.0))[None].requires_grad_()
    noisy = heatmaps + 0.02 * torch.from_numpy(rng.normal(size=(1, P, 16, 16)).astype(np.float32))
    locations = heatmap_locations(noisy).detach()
    assert float((locations[0] - torch.from_numpy(joints)).abs().max()) < 0.15   # argmax alone: up to 0.5
    clean = heatmap_locations(heatmaps)
    assert float((clean[0] - torch.from_numpy(joints)).detach().abs().max()) < 0.05
    clean[0, 0, 0].backward()
    assert float(heatmaps.grad[0, 0].abs().sum()) > 0 and float(heatmaps.grad[0, 1:].abs().sum()) == 0


def test_pixel_scale_recovers_a_weak_perspective_crop():
    batch = synthetic_batch()
    joints2d = torch.from_numpy(CHEN17.from_smpl.astype(np.float32)) @ batch["joints2d"]
    joints3d = torch.from_numpy(CHEN17.from_smpl.astype(np.float32)) @ batch["joints3d"]
    scale = pixel_scale(joints2d, joints3d, CHEN17.root)
    np.testing.assert_allclose(scale.numpy(), CROP_METRES_PER_PIXEL, rtol=1e-5)


def test_calibration_sets_the_size_of_every_prediction():
    batch = synthetic_batch(count=6)
    recipe, modules, _, ctx = built(tiny_config(), batch)
    skeletons = batch["joints3d"].numpy()[:, SMPL_INDEX]
    expected = hand_size(skeletons).mean()
    assert float(modules["generator"].size_length) == pytest.approx(expected, rel=1e-6)
    for module in modules.values():
        module.eval()
    with torch.no_grad():
        prediction = recipe.predict(modules, batch, ctx)
    target = recipe.target(batch)
    assert prediction.shape == target.shape == (6, P, 3)
    assert torch.all(target[:, CHEN17.root] == 0) and torch.all(prediction[:, CHEN17.root] == 0)
    np.testing.assert_allclose(hand_size(prediction.numpy()), expected, rtol=1e-5)


def test_sides_guessed_between_the_two_do_not_blow_the_pose_up():
    """A 2D module that does not tell left from right puts each left/right pair between the two
    (at the pair's midpoint; README: about half the sided joints of the tests' runs). The pose
    keeps its height, as it is sized by the spine and legs. Sized by all bones, this T-pose would
    grow by 45% to make up for its lost arms and hip and shoulder widths."""
    truth = canonical_joints()[SMPL_INDEX] * np.array([1.0, -1.0, -1.0])    # camera axes: y down
    truth = truth - truth[CHEN17.root]
    guessed = (truth + truth[mirror_pairs("chen17")]) / 2
    generator = PoseGenerator("chen17", stacks=1, features=16)
    generator.size_length.fill_(float(hand_size(truth)))

    def pose_from(joints: np.ndarray) -> np.ndarray:   # drawn as heatmaps and depths, 12 px a metre
        uv = (16.0 + 12.0 * joints[:, :2]).astype(np.float32)
        maps = torch.from_numpy(gaussian_heatmaps(uv, 32, 1.0))[None]
        depth = torch.from_numpy((12.0 * joints[:, 2]).astype(np.float32))[None]
        return generator.pose(GeneratorOutput([maps], depth))[0].numpy()

    def height(pose: np.ndarray) -> float:
        return float(np.ptp(pose[:, 1]))

    np.testing.assert_allclose(pose_from(truth), truth, atol=0.01)
    assert height(pose_from(guessed)) == pytest.approx(height(truth), rel=0.02)


def test_a_checkpoint_of_another_version_of_the_generator_is_refused_naming_its_tensors(tmp_path):
    """A run written when the generator kept ``bone_length`` (all bones) in place of
    ``size_length``, and one with a tensor of another shape: both refused, saying which tensors."""
    from trainers.runs import load_checkpoint, save_checkpoint

    config = tiny_config()
    modules = torch.nn.ModuleDict(YangRecipe().build(config))
    path = tmp_path / "last.pt"
    save_checkpoint(path, config, modules, step=5)
    checkpoint = torch.load(path, weights_only=True)
    weights = checkpoint["model"]
    weights["generator.bone_length"] = weights.pop("generator.size_length")
    torch.save(checkpoint, path)
    with pytest.raises(TrainingError, match="lacks generator.size_length and has generator.bone_length besides"):
        load_checkpoint(path, config, torch.nn.ModuleDict(YangRecipe().build(config)))

    weights["generator.size_length"] = weights.pop("generator.bone_length")
    weights["generator.depth.regress.bias"] = torch.zeros(3)
    torch.save(checkpoint, path)
    with pytest.raises(TrainingError, match="size mismatch for generator.depth.regress.bias"):
        load_checkpoint(path, config, torch.nn.ModuleDict(YangRecipe().build(config)))


# ---------------------------------------------------------------------------------- gradients

def test_the_descriptor_branch_learns_and_passes_gradients_to_the_generator():
    """Heatmaps and depth maps detached: the generator's depth regressor can only be reached
    through the geometric descriptor."""
    torch.manual_seed(0)
    generator = PoseGenerator("chen17", stacks=1, features=16)
    generator.size_length.fill_(4.0)
    discriminator = MultiSourceDiscriminator(P, 64, 16, width=8, embedding=24)
    images = torch.rand(4, 3, 64, 64)
    output = generator(images)
    maps, descriptor = discriminator_inputs(output.heatmaps[-1], generator.pose(output))
    descriptor.retain_grad()
    discriminator(images, maps.detach(), descriptor).sum().backward()
    assert float(descriptor.grad.abs().sum()) > 0
    for name, parameter in discriminator.geometry.named_parameters():
        assert float(parameter.grad.abs().sum()) > 0, f"geometry.{name} gets no gradient"
    assert float(generator.depth.regress.weight.grad.abs().sum()) > 0


# ------------------------------------------------------------------------------------- losses

def test_generator_loss_is_lambda_times_the_adversarial_term_plus_the_pose_loss_by_hand():
    """L_G returned by an adversarial step = 1e-4 * BCE(D(G(x)), 1) + sum of squared heatmap errors
    + sum of squared depth errors (per sample, batch mean), recomputed with numpy from the
    generator before the step and the discriminator that judged it."""
    config = tiny_config(lambda_adv=1e-4, pretrain_steps=0)
    batch = synthetic_batch()
    recipe, modules, optimizers, ctx = built(config, batch)
    generator_before = copy.deepcopy(modules["generator"])
    logged = recipe.train_step(modules, optimizers, batch, None, 0, ctx)

    output = generator_before(batch["image"])
    with torch.no_grad():
        maps, descriptor = discriminator_inputs(output.heatmaps[-1], generator_before.pose(output))
        logits = modules["discriminator"](batch["image"], maps, descriptor).double().numpy()
    joints2d = batch["joints2d"].numpy()[:, SMPL_INDEX]
    joints3d = batch["joints3d"].numpy()[:, SMPL_INDEX].astype(np.float64)
    target_maps = np.stack([gaussian_heatmaps(j, 16, 1.0) for j in joints2d]).astype(np.float64)
    heatmap_term = sum(((h.detach().double().numpy() - target_maps) ** 2).sum() for h in output.heatmaps) / 4
    relative = joints3d - joints3d[:, CHEN17.root:CHEN17.root + 1]
    uv = joints2d - joints2d[:, CHEN17.root:CHEN17.root + 1]
    scales = [np.linalg.lstsq(u.reshape(-1, 1), r[:, :2].reshape(-1), rcond=None)[0][0] for u, r in zip(uv, relative)]
    depth_target = relative[..., 2] / np.array(scales)[:, None]
    depth_term = ((output.depth.detach().double().numpy() - depth_target) ** 2).sum() / 4
    adversarial = np.mean(-np.log(1 / (1 + np.exp(-logits))))
    assert logged["loss"] == pytest.approx(1e-4 * adversarial + heatmap_term + depth_term, rel=1e-5)
    assert logged["loss_adv"] == pytest.approx(adversarial, rel=1e-5)
    assert logged["loss_pose"] == pytest.approx(heatmap_term + depth_term, rel=1e-5)


# -------------------------------------------------------------------------- who trains when

def count_calls(module: torch.nn.Module) -> list[int]:
    """Batch sizes ``module`` is called with, from now on."""
    sizes: list[int] = []
    module.register_forward_hook(lambda _m, inputs, _o: sizes.append(len(inputs[0])))
    return sizes


def test_pre_training_trains_the_generator_alone_without_an_adversarial_term():
    config = tiny_config(pretrain_steps=3)
    batch, real = synthetic_batch(), {"image": torch.rand(2, 3, 64, 64)}
    recipe, modules, optimizers, ctx = built(config, batch)
    generator, discriminator = modules["generator"], modules["discriminator"]
    d_before, g_before = state(discriminator), state(generator)
    d_calls, g_calls = count_calls(discriminator), count_calls(generator)
    for step in range(3):
        logged = recipe.train_step(modules, optimizers, batch, real, step, ctx)
        assert logged["loss"] == logged["loss_pose"]
        assert all(logged[key] is None for key in ("loss_adv", "loss_d", "d_real", "d_fake"))
    assert same(state(discriminator), d_before) and d_calls == []
    assert not same(state(generator), g_before)
    assert g_calls == [4, 4, 4]                               # the real images wait for the adversarial stage
    logged = recipe.train_step(modules, optimizers, batch, real, 3, ctx)
    assert all(math.isfinite(logged[key]) for key in ("loss_adv", "loss_d", "d_real", "d_fake"))
    assert not same(state(discriminator), d_before)
    assert g_calls[-1] == 6 and d_calls == [4 + 6, 6]         # D: 4 ground truth + 6 predictions; G step: 6


def test_a_discriminator_update_changes_only_d_and_a_generator_update_only_g():
    config = tiny_config(pretrain_steps=0)
    batch = synthetic_batch()
    recipe, modules, optimizers, ctx = built(config, batch)
    generator, discriminator = modules["generator"], modules["discriminator"]
    labels = recipe.labels(batch, generator, ctx.device)
    output = generator(batch["image"])
    pose_loss = recipe.pose_losses(output, labels)["loss_pose"]
    fake = (batch["image"], *discriminator_inputs(output.heatmaps[-1], generator.pose(output)))
    real = (batch["image"], *discriminator_inputs(labels.heatmaps, labels.pose))

    g_before, d_before = state(generator), state(discriminator)
    recipe.update_discriminator(discriminator, optimizers["discriminator"], real, tuple(x.detach() for x in fake), ctx)
    assert same(state(generator), g_before)
    assert not same(state(discriminator), d_before)

    d_after = state(discriminator)
    d_gradients = [p.grad.clone() for p in discriminator.parameters()]
    recipe.update_generator(discriminator, optimizers["generator"], pose_loss, fake, ctx)
    assert same(state(discriminator), d_after)
    # frozen: the generator's backward pass adds nothing to D's gradients
    assert all(torch.equal(p.grad, g) for p, g in zip(discriminator.parameters(), d_gradients))
    assert all(p.requires_grad for p in discriminator.parameters())  # and trainable again afterwards
    assert not same(state(generator), g_before)


def test_flow_inputs_are_refused():
    with pytest.raises(TrainingError, match="RGB images only"):
        YangRecipe().build(tiny_config(inputs="rgb+flow"))


def test_mirroring_flips_the_crop_and_its_labels_alike():
    """A sample's left wrist is painted into its crop. After mirror_half, in the flipped samples
    it shows where the labels now put the right wrist (the person's left hand looks like a right
    hand in a mirror), and the 3D joints still project to the 2D ones with the same positive
    weak-perspective scale as synthetic_batch built them with (x and u both mirrored)."""
    batch = synthetic_batch(count=8, size=64)
    smpl = get_joint_set("smpl24").names
    left, right = smpl.index("left_wrist"), smpl.index("right_wrist")
    batch["image"] = torch.zeros_like(batch["image"])
    batch["heatmaps"] = torch.rand(batch["heatmaps"].shape, generator=torch.Generator().manual_seed(1))
    batch["joints_in_crop"] = batch["joints_visible"] = torch.arange(24).expand(8, 24) % 3 == 0
    for i, (u, v) in enumerate(4 * batch["joints2d"][:, left] + 1.5):   # heatmap pixels -> crop pixels
        batch["image"][i, 0, int(round(float(v))), int(round(float(u)))] = 1.0

    mirrored = mirror_half(batch, torch.Generator().manual_seed(0))

    flipped = (mirrored["image"] != batch["image"]).flatten(1).any(dim=1)
    assert 0 < int(flipped.sum()) < 8
    painted = mirrored["image"][:, 0].flatten(1).argmax(dim=1)
    painted_uv = torch.stack([painted % 64, painted // 64], dim=1).float()
    for i in range(8):
        labelled = mirrored["joints2d"][i, right if flipped[i] else left]
        assert (painted_uv[i] - (4 * labelled + 1.5)).abs().max() <= 0.5, i
    relative_2d = mirrored["joints2d"] - mirrored["joints2d"][:, :1]
    relative_3d = mirrored["joints3d"][..., :2] - mirrored["joints3d"][:, :1, :2]
    assert torch.allclose(relative_2d * CROP_METRES_PER_PIXEL, relative_3d, atol=1e-5)
    assert torch.equal(mirrored["heatmaps"][flipped], batch["heatmaps"][flipped][:, mirror_pairs("smpl24")].flip(-1))
    for key in ("joints_in_crop", "joints_visible"):
        assert torch.equal(mirrored[key][flipped], batch[key][flipped][:, mirror_pairs("smpl24")]), key
    kept = ~flipped
    assert all(torch.equal(mirrored[key][kept], batch[key][kept]) for key in batch)


def test_augmented_steps_mirror_the_batch():
    """One step on the same batch with and without augmentation trains different weights (the
    step's only augmentation is the mirroring; the crops' own is the dataset's)."""
    batch = synthetic_batch(count=4)
    weights = []
    for augment in (False, True):
        recipe, modules, optimizers, ctx = built(tiny_config(augment=augment), batch)
        recipe.train_step(modules, optimizers, batch, None, 0, ctx)
        weights.append(state(modules["generator"]))
    assert not same(*weights)


# ---------------------------------------------------------------------------------- learning

# A generator small enough for 2 CPU cores: one hourglass 32 wide on 64 px crops
# of the session's people (160 for training, 40 others held out), LEARNING_STEPS steps with
# mirroring, the last ADVERSARIAL_STEPS adversarial with a small real-domain folder.
LEARNING = ["--device", "cpu", "--input-size", "64", "--stacks", "1", "--features", "32",
            "--batch-size", "8", "--workers", "1", "--optimizer", "adam", "--held-out", "0.2"]
LEARNING_STEPS, ADVERSARIAL_STEPS = 1500, 20


def real_domain_folder(dataset: Path, folder: Path, count: int = 8) -> Path:
    """Real-domain images for the test: first frames of rendered clips (a real video is not needed)."""
    folder.mkdir()
    for i, frame in enumerate(sorted(dataset.glob("*/rgb/000000.jpg"))[:count]):
        shutil.copy(frame, folder / f"{i:03d}.jpg")
    return folder


def whole(dataset) -> dict:
    return next(iter(torch.utils.data.DataLoader(dataset, batch_size=len(dataset))))


def test_left_right_swaps_counts_the_sides_told_apart_by_hand():
    """Two people facing the camera (each left joint APART_PX + 2 px right of its mirror joint)
    and one in profile (pairs 0.5 px apart). A prediction that swaps every pair of one frontal
    person scores 0.5; swapping both, 1; swapping the profile one counts nothing."""
    mirror = mirror_pairs("chen17")
    names = get_joint_set("chen17").names
    side = torch.tensor([1.0 if n.startswith("left_") else -1.0 if n.startswith("right_") else 0.0 for n in names])
    height = torch.tensor([min(k, m) for k, m in enumerate(mirror)], dtype=torch.float32)   # pairs level

    def person(spread: float) -> torch.Tensor:
        return torch.stack([8 + side * spread / 2, height], dim=-1)

    truth = torch.stack([person(APART_PX + 2), person(APART_PX + 2), person(0.5)])
    swapped = truth[:, mirror]
    assert left_right_swaps(truth, truth, "chen17") == 0.0
    assert left_right_swaps(swapped, truth, "chen17") == 1.0
    assert left_right_swaps(torch.stack([swapped[0], truth[1], swapped[2]]), truth, "chen17") == 0.5
    assert left_right_swaps(torch.stack([truth[0], truth[1], swapped[2]]), truth, "chen17") == 0.0
    assert math.isnan(left_right_swaps(swapped[2:], truth[2:], "chen17"))


@pytest.mark.slow
def test_the_generator_learns_the_articulation_and_its_depths_beat_the_mean_depths(people_dataset, tmp_path):
    """`synth train adversarial` on 160 people, scored on 40 others. Its poses' PA-MPJPE is below
    the mean pose's (measured 0.79-0.81 x over training seeds 0-2), and its depths, put with the
    true 2D positions, beat the training set's mean depths (0.88 x, where a flat pose or the mean
    depths give 1.0 x): what the depth branch learnt from the images. At this size its heatmaps
    guess the person's left from right (half the sided joints swapped, printed), so its MPJPE is
    only a little below the mean pose's (0.95-0.96 x; 1.03-1.05 x when its poses were sized by all
    their bones; see the README)."""
    from tests.test_trainers_cli import synth
    from trainers.pose3d.loop import load_pose_run
    from trainers.train import make_datasets

    run = tmp_path / "run"
    real = real_domain_folder(Path(people_dataset), tmp_path / "real")
    result = synth("train", "adversarial", "--data", people_dataset, "--out", run, "--real-data", real, *LEARNING,
                   "--steps", LEARNING_STEPS, "--pretrain-steps", LEARNING_STEPS - ADVERSARIAL_STEPS,
                   "--eval-every", LEARNING_STEPS, "--log-every", 100, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(run / "train_log.csv") as f:
        logged = list(csv.DictReader(f))
    assert math.isfinite(float(logged[-1]["loss_d"]))   # the adversarial steps ran (the first rows have none)
    with open(run / "eval_log.csv") as f:
        scores = list(csv.DictReader(f))[-1]

    config, recipe, modules, _, _ = load_pose_run(run, "last", torch.device("cpu"))
    training, held_out = make_datasets(config)
    training.augment = False
    halves = error_halves(recipe, modules["generator"], [whole(held_out)], whole(training))
    print("held-out (mm):", {name: round(float(value), 1) for name, value in {**scores, **halves}.items()
                             if name.endswith(("_mm", "depths", "share"))})
    assert float(scores["pa_mpjpe_mm"]) < 0.88 * float(scores["baseline_pa_mpjpe_mm"])
    assert float(scores["mpjpe_mm"]) < float(scores["baseline_mpjpe_mm"])
    assert halves["true_2d_its_depths"] < 0.93 * halves["true_2d_mean_depths"]

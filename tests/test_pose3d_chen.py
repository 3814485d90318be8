"""Chen et al.'s domain-adaptation network and recipe (trainers/models/domain_adaptation.py,
trainers/pose3d/chen.py): shapes, losses against hand computations, which parameters each stage
trains, and that the two stages do what the paper says (the mixer learns to separate the domains,
then the extractor confuses it)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from tests.conftest import canonical_joints
from trainers.config import TrainConfig
from trainers.models.domain_adaptation import (ResNet18Extractor, build_domain_adaptation, confusion_loss,
                                               domain_loss, pose_loss)
from trainers.pose3d.chen import ChenRecipe, stage
from trainers.pose3d.joints import bone_lengths_sum, normalise_bones
from trainers.pose3d.recipe import StepContext, mirror_half

SIZE = 64


def small_config(**changes) -> TrainConfig:
    settings = dict(task="pose3d", data="unused", device="cpu", features=16, input_size=SIZE, batch_size=4,
                    optimizer="adam", lr=1e-3, joint_set="chen17", stage_steps=1, real_data="unused")
    return TrainConfig(**{**settings, **changes}).validate()


def make_recipe(config: TrainConfig):
    recipe = ChenRecipe()
    recipe.joint_set = config.joint_set
    torch.manual_seed(0)
    modules = recipe.build(config)
    return recipe, modules, recipe.optimizers(config, modules), StepContext(config, torch.device("cpu"))


def fake_batch(count: int, seed: int, brightness: float = 0.3) -> dict:
    """Images and SMPL joints (the canonical skeleton 3 m in front of the camera, jittered)."""
    rng = np.random.default_rng(seed)
    joints = canonical_joints()[None] * np.array([1.0, -1.0, -1.0]) + rng.normal(0, 0.03, (count, 24, 3))
    joints[..., 2] += 3.0
    images = torch.from_numpy(rng.uniform(0, 1, (count, 3, SIZE, SIZE)).astype(np.float32)) * brightness
    return {"image": images, "joints3d": torch.from_numpy(joints.astype(np.float32))}


def parameters(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def same(before: dict, module: torch.nn.Module) -> bool:
    return all(torch.equal(before[name], p) for name, p in module.named_parameters())


def all_changed(before: dict, module: torch.nn.Module) -> bool:
    return all(not torch.equal(before[name], p) for name, p in module.named_parameters())


# ------------------------------------------------------------------------------- network

def test_the_three_parts_have_the_papers_shapes():
    torch.manual_seed(0)
    modules = build_domain_adaptation("small", 16, n_joints=17)
    features = modules["extractor"](torch.rand(5, 3, SIZE, SIZE))
    assert features.shape == (5, modules["extractor"].out_features)
    assert modules["regressor"](features).shape == (5, 17, 3)
    assert modules["mixer"](features).shape == (5,)


def test_the_resnet18_trunk_has_resnet18s_parameters():
    """torchvision's resnet18 has 11,689,512 parameters, 513,000 of them in its 1000-way fc layer:
    the trunk without it has 11,176,512 (counted from He et al.'s layout, not from this code)."""
    extractor = ResNet18Extractor()
    assert sum(p.numel() for p in extractor.parameters()) == 11_689_512 - 513_000
    assert extractor(torch.rand(2, 3, SIZE, SIZE)).shape == (2, extractor.out_features)


def test_losses_against_hand_computations():
    rng = np.random.default_rng(1)
    predicted, target = rng.normal(size=(3, 17, 3)), rng.normal(size=(3, 17, 3))
    expected = np.mean([np.linalg.norm((p - t).ravel()) for p, t in zip(predicted, target)])
    assert float(pose_loss(torch.tensor(predicted), torch.tensor(target))) == pytest.approx(expected, rel=1e-6)

    logits, is_real = torch.tensor([2.0, -1.0, 0.5, -3.0]), torch.tensor([1.0, 0.0, 0.0, 1.0])
    p = 1 / (1 + np.exp(-logits.numpy()))
    by_hand = -np.mean(is_real.numpy() * np.log(p) + (1 - is_real.numpy()) * np.log(1 - p))   # eq. 3, as a mean
    assert float(domain_loss(logits, is_real)) == pytest.approx(by_hand, rel=1e-6)
    confused = -np.mean(0.5 * np.log(p) + 0.5 * np.log(1 - p))                              # eq. 4, as a mean
    assert float(confusion_loss(logits)) == pytest.approx(confused, rel=1e-6)

    # the confusion loss is smallest, log 2, with zero gradient, where the mixer says 0.5
    at_half = torch.zeros(4, requires_grad=True)
    loss = confusion_loss(at_half)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(math.log(2))
    assert torch.all(at_half.grad.abs() < 1e-7)
    with pytest.raises(Exception, match="mismatched joint sets"):
        pose_loss(torch.zeros(2, 17, 3), torch.zeros(2, 24, 3))


def test_targets_are_root_relative_and_the_regressor_learns_normalised_skeletons():
    config = small_config()
    recipe, modules, _, ctx = make_recipe(config)
    batch = fake_batch(3, seed=2)
    target = recipe.target(batch)
    by_hand = batch["joints3d"][:, [0, 2, 5, 8, 1, 4, 7, 6, 9, 12, 15, 16, 18, 20, 17, 19, 21]]  # chen17's SMPL rows
    assert torch.allclose(target, by_hand - by_hand[:, :1], atol=1e-6)
    recipe.calibrate(modules, target)
    assert float(modules["regressor"].total_bone_length_m) == pytest.approx(
        float(bone_lengths_sum(target, "chen17").mean()), rel=1e-5)
    # predictions come back in metres: the normalised output times the calibrated length, root at 0
    modules["regressor"].layers[-1].bias.data = normalise_bones(target[0], "chen17").reshape(-1)
    modules["regressor"].layers[-1].weight.data.zero_()
    with torch.no_grad():
        predicted = recipe.predict(modules, batch, ctx)
    expected = normalise_bones(target[0], "chen17") * modules["regressor"].total_bone_length_m
    assert torch.allclose(predicted, expected.expand_as(predicted), atol=1e-5)
    assert torch.all(predicted[:, 0] == 0)


# ------------------------------------------------------------------------------- the stages

def test_stage_blocks_alternate():
    assert [stage(s, 3) for s in range(12)] == [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2]


def test_the_domain_adaptation_stages_flip_which_parameters_train():
    config = small_config(stage_steps=1)
    recipe, modules, optimizers, ctx = make_recipe(config)
    synthetic, real = fake_batch(4, seed=3), fake_batch(4, seed=4, brightness=1.0)
    extractor, regressor, mixer = modules["extractor"], modules["regressor"], modules["mixer"]

    before = {name: parameters(m) for name, m in modules.items()}
    logs = recipe.train_step(modules, optimizers, synthetic, real, 0, ctx)        # step 0: stage 1
    assert logs["stage"] == 1
    assert not any(p.requires_grad for p in extractor.parameters())
    assert all(p.requires_grad for p in mixer.parameters())
    assert all(p.grad is None for p in extractor.parameters())
    assert same(before["extractor"], extractor)
    assert all_changed(before["regressor"], regressor) and all_changed(before["mixer"], mixer)

    before = {name: parameters(m) for name, m in modules.items()}
    logs = recipe.train_step(modules, optimizers, synthetic, real, 1, ctx)        # step 1: stage 2
    assert logs["stage"] == 2
    assert all(p.requires_grad for p in extractor.parameters())
    assert not any(p.requires_grad for p in mixer.parameters())
    assert all(p.grad is not None for p in extractor.parameters())
    assert same(before["mixer"], mixer)
    assert all_changed(before["extractor"], extractor) and all_changed(before["regressor"], regressor)


def test_without_real_images_the_plain_regressor_trains():
    config = small_config(real_data=None)
    recipe, modules, optimizers, ctx = make_recipe(config)
    before = {name: parameters(m) for name, m in modules.items()}
    logs = recipe.train_step(modules, optimizers, fake_batch(4, seed=5), None, 0, ctx)
    assert set(logs) == {"loss", "loss_pose"}
    assert all_changed(before["extractor"], modules["extractor"])
    assert all_changed(before["regressor"], modules["regressor"])
    assert same(before["mixer"], modules["mixer"])


def test_an_augmented_step_learns_from_the_mirrored_batch():
    """With augmentation, the step's pose loss is the loss on mirror_half's batch (crops flipped,
    joints mirrored) under the weights before the step, not the loss on the batch as given."""
    recipe, modules, optimizers, ctx = make_recipe(small_config(real_data=None, augment=True))
    batch = fake_batch(8, seed=6)
    before = copy.deepcopy(modules)
    logs = recipe.train_step(modules, optimizers, batch, None, 0, ctx)

    def loss_on(sample: dict) -> float:
        with torch.no_grad():
            predicted = before["regressor"](before["extractor"](sample["image"]))
        return float(pose_loss(predicted, normalise_bones(recipe.target(sample), "chen17", 1.0)))

    mirrored = mirror_half(batch, ctx.generator(0))
    assert logs["loss_pose"] == pytest.approx(loss_on(mirrored), rel=1e-5)
    assert logs["loss_pose"] != pytest.approx(loss_on(batch), rel=1e-3)


@pytest.mark.slow
def test_stage_one_separates_the_domains_and_stage_two_confuses_the_mixer():
    """Synthetic images dark, real ones bright: stage 1 (frozen extractor) teaches the mixer to
    tell them apart; stage 2 (frozen mixer) moves the extractor until the mixer's answers come
    back towards 0.5 for both domains (measured: mean |p - 0.5| 0.438 after stage 1, 0.120 after
    stage 2; 0.446 when stage 2 drops the confusion loss)."""
    steps = 30
    config = small_config(stage_steps=steps)
    recipe, modules, optimizers, ctx = make_recipe(config)

    def mixer_probabilities(synthetic, real) -> torch.Tensor:
        with torch.no_grad():
            return torch.sigmoid(modules["mixer"](modules["extractor"](torch.cat([synthetic["image"],
                                                                                  real["image"]]))))

    probe_synthetic, probe_real = fake_batch(8, seed=100), fake_batch(8, seed=101, brightness=1.0)
    for step in range(steps):
        logs = recipe.train_step(modules, optimizers, fake_batch(4, seed=step), fake_batch(4, 1000 + step, 1.0),
                                 step, ctx)
    separated = mixer_probabilities(probe_synthetic, probe_real)
    truth = torch.cat([torch.zeros(8), torch.ones(8)])
    assert logs["mixer_accuracy"] == 1.0
    assert float(((separated > 0.5).float() == truth).float().mean()) == 1.0
    for step in range(steps, 2 * steps):
        recipe.train_step(modules, optimizers, fake_batch(4, seed=step), fake_batch(4, 1000 + step, 1.0), step, ctx)
    confused = mixer_probabilities(probe_synthetic, probe_real)
    print(f"mean |p - 0.5| after stage 1: {(separated - 0.5).abs().mean():.3f}, after stage 2: "
          f"{(confused - 0.5).abs().mean():.3f}")
    assert (confused - 0.5).abs().mean() < 0.5 * (separated - 0.5).abs().mean()

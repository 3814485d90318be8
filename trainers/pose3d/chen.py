"""Chen et al. (2016, seeds 000/001): a CNN regressing the 3D joints in camera coordinates,
root-relative, the skeleton normalised to a constant total bone length, trained on rendered
images and, with real images, through their domain-adaptation network in two alternating stages.

Steps (counted from 0) come in blocks of ``stage_steps``: even blocks are stage 1, odd blocks
stage 2 (the paper's "circular" training):

    stage 1  the extractor is frozen; the regressor learns the pose (synthetic images) and the
             domain mixer learns to tell synthetic (0) from real (1) features
    stage 2  the mixer is frozen; the extractor and the regressor learn the pose while the
             extractor pushes the mixer's output to (0.5, 0.5) on both domains

Without real images (no --real-data) or with --no-domain-adaptation, every step trains the
extractor and the regressor on the pose loss alone (the paper's plain AlexNet regression).

With ``augment``, besides the dataset's crop augmentation (scale, in-plane rotation with the 3D
target turned alike, colour), half of each synthetic batch is mirrored: the crop flipped
left-right, the target's x negated and its left and right joints swapped
(:func:`trainers.pose3d.recipe.mirror_half`; which samples flip is a function of (seed, step)).

Both domains go through the extractor as one batch (its batch norms see them together, as one
network would); in stage 1 the frozen extractor runs without gradients, its batch-norm statistics
still tracking the current features. Predictions come back in metres by the training set's mean
total bone length (a buffer of the regressor, set when the run starts).
"""

from __future__ import annotations

import torch

from trainers.config import TrainConfig
from trainers.data import RealImages
from trainers.models.domain_adaptation import (REAL, SYNTHETIC, build_domain_adaptation, confusion_loss,
                                               domain_loss, pose_loss)
from trainers.pose3d.joints import bone_lengths_sum, get_joint_set, normalise_bones, root_relative, to_joint_set
from trainers.pose3d.recipe import StepContext, mirror_half, set_trainable

NORMALISED_BONE_LENGTH = 1.0   # the constant total bone length the regressor predicts at


def uses_domain_adaptation(config: TrainConfig) -> bool:
    return bool(config.real_data) and config.domain_adaptation


def stage(step: int, stage_steps: int) -> int:
    """1 or 2: the stage step ``step`` (from 0) belongs to."""
    return 1 + (step // stage_steps) % 2


class ChenRecipe:
    task = "pose3d"
    joint_set = "chen17"
    score = "mpjpe_mm"

    # ------------------------------------------------------------------------ what it is made of

    def build(self, config: TrainConfig) -> dict[str, torch.nn.Module]:
        return build_domain_adaptation(config.backbone, config.features, len(get_joint_set(config.joint_set)))

    def optimizers(self, config: TrainConfig, modules: dict) -> dict[str, torch.optim.Optimizer]:
        from trainers.train import make_optimizer

        return {name: make_optimizer(config, module) for name, module in modules.items()}

    def datasets(self, config: TrainConfig):
        from trainers.train import make_datasets

        return make_datasets(config)

    def real_dataset(self, config: TrainConfig):
        if not uses_domain_adaptation(config):
            return None
        return RealImages(config.real_data, input_size=config.input_size, augment=config.augment, seed=config.seed)

    def calibrate(self, modules: dict, targets: torch.Tensor) -> None:
        """Predictions in metres: the training skeletons' mean total bone length."""
        lengths = bone_lengths_sum(targets.double(), self.joint_set)
        modules["regressor"].total_bone_length_m.fill_(float(lengths.mean()))

    # ------------------------------------------------------------------------------ one step

    def train_step(self, modules: dict, optimizers: dict, batch: dict, real_batch: dict | None, step: int,
                   ctx: StepContext) -> dict[str, float]:
        extractor, regressor, mixer = modules["extractor"], modules["regressor"], modules["mixer"]
        if ctx.config.augment:
            batch = mirror_half(batch, ctx.generator(step))
        images = batch["image"].to(ctx.device, non_blocking=True)
        target = normalise_bones(self.target(batch).to(ctx.device), self.joint_set, NORMALISED_BONE_LENGTH)
        if real_batch is None:
            set_trainable(extractor, True)
            with ctx.autocast():
                loss = pose_loss(regressor(extractor(images)), target)
            ctx.optimise(loss, optimizers["extractor"], optimizers["regressor"])
            return {"loss": loss.item(), "loss_pose": loss.item()}

        real = real_batch["image"].to(ctx.device, non_blocking=True)
        both = torch.cat([images, real])
        is_real = torch.cat([torch.full((len(images),), SYNTHETIC), torch.full((len(real),), REAL)]).to(ctx.device)
        current = stage(step, ctx.config.stage_steps)
        set_trainable(extractor, current == 2)
        set_trainable(mixer, current == 1)
        with ctx.autocast():
            if current == 1:
                with torch.no_grad():
                    features = extractor(both)
            else:
                features = extractor(both)
            logits = mixer(features)
            loss_pose = pose_loss(regressor(features[:len(images)]), target)
            loss_domain = domain_loss(logits, is_real) if current == 1 else confusion_loss(logits)
            loss = loss_pose + loss_domain
        if current == 1:
            ctx.optimise(loss, optimizers["regressor"], optimizers["mixer"])
        else:
            ctx.optimise(loss, optimizers["extractor"], optimizers["regressor"])
        accuracy = ((logits.detach() > 0).float() == is_real).float().mean()
        return {"loss": loss.item(), "loss_pose": loss_pose.item(), "loss_domain": loss_domain.item(),
                "mixer_accuracy": accuracy.item(), "stage": float(current)}

    # --------------------------------------------------------------------------- predictions

    def predict(self, modules: dict, batch: dict, ctx: StepContext) -> torch.Tensor:
        """B x K x 3 root-relative joints in metres (camera axes)."""
        images = batch["image"].to(ctx.device)
        with ctx.autocast():
            normalised = modules["regressor"](modules["extractor"](images)).float()
        # the root comes out near 0, not at it: the output is made root-relative like the target
        return root_relative(normalised, self.joint_set) * (modules["regressor"].total_bone_length_m
                                                            / NORMALISED_BONE_LENGTH)

    def target(self, batch: dict) -> torch.Tensor:
        """B x K x 3: the crop's joints3d in the joint set, root-relative, metres."""
        return root_relative(to_joint_set(batch["joints3d"], self.joint_set), self.joint_set)


RECIPE = ChenRecipe

"""Doersch & Zisserman (2019), "Sim2real transfer learning for 3D pose estimation: motion to the
rescue": the recipe of `synth train motion` (trainers.pose3d.recipe's interface).

Clips of flow + 12 keypoint heatmaps (+ the total-occlusion indicator; or RGB with
``motion_inputs = "rgb"``) -> per-frame CNN -> bidirectional LSTM over ``window`` frames ->
per-frame 3D joints of ``joint_set`` (default SMPL's 24: the paper regresses SMPL through HMR),
root-relative, camera axes, metres. Inputs: :mod:`trainers.pose3d.motion_data`; networks and
losses: :mod:`trainers.models.motion`.

Loss per frame = the paper's two terms, Procrustes-aligned joint error (m) + 2.5 x weak-perspective
reprojection error (crop sides; 2.5 m is about what a crop side spans around a person, so both
terms are in metres), + HMR's plain 3D joint error (root-relative, camera axes, m; weight 1). The
third term is ours: HMR's SMPL body fixes the skeleton's size and the paper's model sees its
global rotation through SMPL's parameters, but a network regressing joints directly gets neither
from two similarity-invariant terms (the reprojection fit has its own scale and is blind to
depth): trained on the paper's two terms alone (300 steps, 64 px, window 3), held-out PA-MPJPE fell
below the mean pose's (115 vs 175 mm) but MPJPE did not (303 vs 230 mm). The paper gives no
weights.

DANN (``dann``): the paper's baseline; a 2-layer domain classifier on the per-frame CNN features
(before the LSTM) behind a gradient reversal layer of weight 1 (the paper swept 0.2-5), fed with
windows of ``real_data`` (RGB; flow + keypoints inputs need the real video's keypoint file next
to it). Synthetic and real windows go through the CNN in one batch (shared batch statistics).

Held-out windows: whole clips (split_clips), every ``window`` frames, not augmented, with the
training noise drawn once (keypoint jitter, hiding, occluders) but no drawn total occlusions: the
paper does not score totally occluded frames.
"""

from __future__ import annotations

import dataclasses

import torch

from synth_core.errors import TrainingError
from trainers.data import open_dataset, split_clips
from trainers.models.motion import (DomainClassifier, MotionPoseNet, domain_loss, procrustes_loss,
                                    reprojection_loss, reverse_gradient)
from trainers.pose3d.joints import get_joint_set, root_relative, to_joint_set
from trainers.pose3d.motion_data import (Corruption, MotionClips, RealClips, find_keypoint_file, input_channels,
                                         input_parts, real_video_inputs)

REPROJECTION_WEIGHT = 2.5
CAMERA_WEIGHT = 1.0
DANN_WEIGHT = 1.0

__all__ = ["DoerschRecipe", "real_video_inputs"]


class DoerschRecipe:
    task = "motion"
    joint_set = "smpl24"
    score = "mpjpe_mm"

    # -------------------------------------------------------------------------------- building
    def build(self, config) -> dict[str, torch.nn.Module]:
        joints = len(get_joint_set(config.joint_set or self.joint_set))
        model = MotionPoseNet(input_channels(config.motion_inputs), joints, features=config.features)
        modules = {"model": model}
        if config.dann:
            modules["domain"] = DomainClassifier(model.encoder.out_features, 4 * config.features)
        return modules

    def optimizers(self, config, modules) -> dict[str, torch.optim.Optimizer]:
        kind = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}[config.optimizer]
        return {name: kind(module.parameters(), lr=config.lr) for name, module in modules.items()}

    # ------------------------------------------------------------------------------------ data
    def datasets(self, config) -> tuple[MotionClips, MotionClips]:
        needs = ("rgb", "flow_forward") if "flow" in input_parts(config.motion_inputs) else ("rgb",)
        clips = open_dataset(config.data, needs=needs)
        if config.val_data:
            train_clips, held_clips = clips, open_dataset(config.val_data, needs=needs)
        else:
            if len(clips) < 2:
                raise TrainingError(f"{config.data} has 1 clip; held-out evaluation needs at least 2 (or give "
                                    f"--val-data)")
            train_clips, held_clips = split_clips(clips, held_out=config.held_out)
        common = dict(window=config.window, motion_inputs=config.motion_inputs,
                      keypoint_noise_px=config.keypoint_noise_px, input_size=config.input_size, seed=config.seed)
        train = MotionClips(train_clips, augment=config.augment, stride=1, **common)
        held = MotionClips(held_clips, augment=False, stride=config.window,
                           corruption=dataclasses.replace(Corruption(), total=0.0), **common)
        return train, held

    def real_dataset(self, config):
        if not config.dann:
            return None
        if not config.real_data:
            raise TrainingError("dann needs unlabelled real video (--real-data VIDEO or image folder): its "
                                "domain classifier tells real windows from synthetic ones")
        return RealClips(config.real_data, window=config.window, input_size=config.input_size,
                         motion_inputs=config.motion_inputs, keypoints_path=find_keypoint_file(config.real_data),
                         augment=config.augment, seed=config.seed)

    # -------------------------------------------------------------------------------- training
    def losses(self, pred: torch.Tensor, batch: dict, input_size: int) -> dict[str, torch.Tensor]:
        """The loss terms of predicted B x T x K x 3 poses against a batch's ground truth."""
        gt3d = self.target(batch).to(pred.device)
        gt2d = to_joint_set(batch["joints2d"].to(pred.device), self.joint_set)
        return {"loss_procrustes": procrustes_loss(pred, gt3d),
                "loss_reprojection": reprojection_loss(pred, gt2d, input_size),
                "loss_camera": (pred.float() - gt3d.float()).norm(dim=-1).mean()}

    def train_step(self, modules, optimizers, batch, real_batch, step, ctx) -> dict[str, float]:
        config, model = ctx.config, modules["model"]
        inputs = batch["inputs"].to(ctx.device, non_blocking=True)
        dann = config.dann and real_batch is not None
        if dann:
            inputs = torch.cat([inputs, real_batch["inputs"].to(ctx.device, non_blocking=True)])
        with ctx.autocast():
            features = model.features(inputs)
            synthetic = features[:len(batch["inputs"])]
            pred = model.poses(synthetic)
        terms = self.losses(pred, batch, config.input_size)
        loss = (terms["loss_procrustes"] + REPROJECTION_WEIGHT * terms["loss_reprojection"]
                + CAMERA_WEIGHT * terms["loss_camera"])
        logs = {name: float(value.detach()) for name, value in terms.items()}
        if dann:
            logits = modules["domain"](reverse_gradient(features, DANN_WEIGHT))
            real = torch.zeros_like(logits, dtype=torch.bool)
            real[len(batch["inputs"]):] = True
            d_loss = (domain_loss(logits[~real], real=False) + domain_loss(logits[real], real=True)) / 2
            loss = loss + d_loss
            logs.update(loss_domain=float(d_loss.detach()),
                        domain_accuracy=float(((logits > 0) == real).float().mean()))
            ctx.optimise(loss, optimizers["model"], optimizers["domain"])
        else:
            ctx.optimise(loss, optimizers["model"])
        logs["loss"] = float(loss.detach())
        return logs

    # ------------------------------------------------------------------------------ prediction
    def predict(self, modules, batch, ctx) -> torch.Tensor:
        with ctx.autocast():
            pred = modules["model"](batch["inputs"].to(ctx.device, non_blocking=True))
        return root_relative(pred.float(), self.joint_set)  # the interface's poses: the root at 0

    def target(self, batch) -> torch.Tensor:
        """Root-relative joints of the recipe's set from the batch's SMPL joints (... x 24 x 3)."""
        return root_relative(to_joint_set(batch["joints3d"], self.joint_set), self.joint_set)

    real_video_inputs = staticmethod(real_video_inputs)

"""What a training run is: one flat dataclass, stored as ``RUN/config.json``.

Defaults are SURREAL's recipe (Varol et al. 2017, section 4): an 8-stack hourglass with 256
features and one residual module per stage, 256x256 crops, 64x64 outputs, RMSprop at 1e-3 on
batches of 6, with their augmentation. The CLI (`synth train`) sets any field from a flag or a
TOML file; a resumed run keeps what defines it (:data:`IDENTITY_FIELDS`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from synth_core.errors import TrainingError

TASKS = ("segm", "depth", "pose3d", "adversarial", "motion")
POSE_TASKS = ("pose3d", "adversarial", "motion")   # trained by trainers.pose3d.loop
OPTIMIZERS = ("rmsprop", "adam")
INPUTS = ("rgb", "rgb+flow")
BACKBONES = ("small", "resnet18")          # pose3d's feature extractor
MOTION_INPUTS = ("flow+keypoints", "rgb")  # motion: D&Z's inputs, or their RGB-only comparison

# Fields that define what is trained: a resumed run must keep them (the weights and the
# optimiser state would not fit otherwise, or the curve would mix two experiments).
IDENTITY_FIELDS = ("task", "seed", "batch_size", "lr", "optimizer", "input_size", "stacks", "features", "modules",
                   "depth", "full_res_head", "inputs", "augment", "held_out",
                   # the 3D pose tasks' (issue 13); runs made before them hold their defaults
                   "joint_set", "backbone", "domain_adaptation", "stage_steps", "lambda_adv", "pretrain_steps",
                   "window", "motion_inputs", "dann", "keypoint_noise_px")


@dataclasses.dataclass
class TrainConfig:
    task: str = "segm"                # segm: 14 parts + background; depth: 19 bins + background
    data: str = ""                    # rendered dataset folder (clips)
    val_data: str | None = None       # held-out dataset folder; default: held_out of data's clips
    held_out: float = 0.2             # share of data's clips kept for evaluation (by clip, never by frame)
    seed: int = 0
    steps: int = 20000                # optimiser steps in all (a resumed run goes on to this)
    batch_size: int = 6               # global: split over the processes of a torchrun job
    lr: float = 1e-3
    optimizer: str = "rmsprop"        # rmsprop (SURREAL's) or adam
    input_size: int = 256             # crop side; outputs are input_size / 4
    stacks: int = 8
    features: int = 256
    modules: int = 1
    depth: int = 4                    # hourglass recursion
    full_res_head: bool = False       # one more output at input_size, supervised at that size
    inputs: str = "rgb"               # rgb, or rgb+flow (forward flow as 2 more channels)
    augment: bool = True              # SURREAL's scale, rotation and colour augmentation
    workers: int = 4                  # DataLoader worker processes per training process
    device: str = "auto"              # auto (cuda when available), cuda, cuda:N or cpu
    amp: bool = True                  # mixed precision on CUDA (bf16 where supported, else fp16)
    log_every: int = 50               # steps between train_log.csv rows
    eval_every: int = 1000            # steps between evaluations, checkpoints and plots
    eval_frames: int | None = 2000    # held-out frames per evaluation (evenly spaced); None = all
    # ---- 3D pose tasks (trainers/pose3d); segm/depth ignore them
    joint_set: str | None = None      # the predicted joints (trainers.pose3d.joints); None: the task's own
    real_data: str | None = None      # unlabelled real frames (video file or image folder): the real domain
    backbone: str = "small"           # pose3d: "small" conv net (width from features) or "resnet18" (no download)
    domain_adaptation: bool = True    # pose3d: Chen et al.'s domain mixer when real_data is given
    stage_steps: int = 100            # pose3d: steps of each stage before the other one (they alternate)
    lambda_adv: float = 1e-4          # adversarial: weight of the adversarial loss in L_G (Yang et al.)
    pretrain_steps: int = 1000        # adversarial: generator-only steps before the discriminator joins
    window: int = 31                  # motion: frames per clip through the LSTM (D&Z: 31)
    motion_inputs: str = "flow+keypoints"   # motion: D&Z's inputs, or "rgb" (their RGB-only comparison)
    dann: bool = False                # motion: the gradient-reversal domain classifier baseline (needs real_data)
    keypoint_noise_px: float = 2.0    # motion: std of the noise on synthetic keypoints (input pixels)

    @property
    def output_size(self) -> int:
        return self.input_size // 4

    @property
    def n_classes(self) -> int:
        return 15 if self.task == "segm" else 20

    @property
    def in_channels(self) -> int:
        return 3 if self.inputs == "rgb" else 5

    def validate(self) -> "TrainConfig":
        """Raise :class:`TrainingError` naming the first impossible value."""
        checks = [
            (self.task in TASKS, f"task must be one of {', '.join(TASKS)}, not {self.task!r}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}"),
            (self.inputs in INPUTS, f"inputs must be one of {', '.join(INPUTS)}, not {self.inputs!r}"),
            (bool(self.data), "no dataset folder given (--data)"),
            (0.0 < self.held_out < 1.0, f"held_out must be between 0 and 1, not {self.held_out}"),
            (self.steps >= 1, f"steps must be at least 1, not {self.steps}"),
            (self.batch_size >= 1, f"batch size must be at least 1, not {self.batch_size}"),
            (self.lr > 0, f"learning rate must be positive, not {self.lr}"),
            (self.input_size >= 64 and self.input_size % 64 == 0,
             f"input size must be a multiple of 64 (the hourglass halves it 6 times), not {self.input_size}"),
            (min(self.stacks, self.features, self.modules, self.depth) >= 1,
             "stacks, features, modules and depth must be at least 1"),
            (self.features % 4 == 0, f"features must be a multiple of 4 (bottlenecks use a quarter), "
                                     f"not {self.features}"),
            (self.workers >= 0, f"workers must be 0 or more, not {self.workers}"),
            (min(self.log_every, self.eval_every) >= 1, "log_every and eval_every must be at least 1"),
            (self.eval_frames is None or self.eval_frames >= 1, "eval_frames must be at least 1"),
            (self.real_data is None or bool(str(self.real_data)), "real_data is an empty path"),
            (self.backbone in BACKBONES, f"backbone must be one of {', '.join(BACKBONES)}, not {self.backbone!r}"),
            (self.stage_steps >= 1, f"stage_steps must be at least 1, not {self.stage_steps}"),
            (self.lambda_adv >= 0, f"lambda_adv must be 0 or more, not {self.lambda_adv}"),
            (self.pretrain_steps >= 0, f"pretrain_steps must be 0 or more, not {self.pretrain_steps}"),
            (self.window >= 1, f"window must be at least 1 frame, not {self.window}"),
            (self.motion_inputs in MOTION_INPUTS,
             f"motion_inputs must be one of {', '.join(MOTION_INPUTS)}, not {self.motion_inputs!r}"),
            (self.keypoint_noise_px >= 0, f"keypoint_noise_px must be 0 or more, not {self.keypoint_noise_px}"),
        ]
        for ok, message in checks:
            if not ok:
                raise TrainingError(message)
        if self.joint_set is not None:
            from trainers.pose3d.joints import joint_set

            joint_set(self.joint_set)  # an unknown name is refused with the known ones
        return self

    @property
    def is_pose(self) -> bool:
        return self.task in POSE_TASKS

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise TrainingError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise TrainingError(f"cannot read the run's configuration {path}: {exc}") from None

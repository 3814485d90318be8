"""Chen et al.'s domain-adaptation network (2016, seed 000 section 3.4, Figure 8): a feature
extractor, a pose regressor and a domain mixer (a synthetic-vs-real classifier on the features).

They used AlexNet up to pool5 as the extractor; here it is either a small convolutional net
whose width is ``features`` (CPU-sized) or a ResNet-18 trunk (He et al.'s layout, built here:
no torchvision, no downloaded weights), both ending in a pooled spatial grid like pool5's
(position matters for pose) that is flattened into one feature vector per image.

Losses (their equations 2-4; p = the mixer's probability that an image is real):
    L_reg            = sum over images of ||P - P'||_2 over the 3K-vector (mean over the batch here)
    L_domain stage 1 = -sum_real log p - sum_synthetic log(1 - p)    (labels: synthetic 0, real 1)
    L_domain stage 2 = -sum_x (0.5 log p + 0.5 log(1 - p))            (the confused label 0.5, 0.5)
both domain losses as means over the images (binary cross-entropy on the mixer's logit).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth_core.errors import TrainingError

FEATURE_GRID = 4          # the extractor's output is pooled to 4 x 4 cells (AlexNet's pool5: 6 x 6)
REGRESSOR_HIDDEN = 1024   # AlexNet's fc6/fc7 are 4096 wide; a quarter suits our data sizes
MIXER_HIDDEN = 256
SYNTHETIC, REAL = 0.0, 1.0


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SmallExtractor(nn.Module):
    """Five stride-2 stages (widths features/8 .. features), pooled to a FEATURE_GRID grid."""

    def __init__(self, in_channels: int = 3, features: int = 64) -> None:
        super().__init__()
        widths = [max(8, features // 8), max(8, features // 4), max(8, features // 2), features, features]
        layers, previous = [], in_channels
        for width in widths:
            layers += [_conv_bn_relu(previous, width, 2), _conv_bn_relu(width, width, 1)]
            previous = width
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(FEATURE_GRID)
        self.out_features = features * FEATURE_GRID ** 2

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(images)).flatten(1)


class _BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x), inplace=True)


class ResNet18Extractor(nn.Module):
    """ResNet-18's trunk (7x7 stem, max pool, 4 x 2 basic blocks of 64..512 channels), randomly
    initialised, pooled to a FEATURE_GRID grid of its 512 channels."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        layers = [nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                  nn.MaxPool2d(3, 2, 1)]
        previous = 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_BasicBlock(previous, width, stride), _BasicBlock(width, width, 1)]
            previous = width
        self.body = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(FEATURE_GRID)
        self.out_features = 512 * FEATURE_GRID ** 2
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.pool(self.body(images)).flatten(1)


class PoseRegressor(nn.Module):
    """Features -> K x 3 joints, bone-length normalised (two fully connected layers, as AlexNet's
    head with its last layer replaced by the 3K coordinates). ``total_bone_length_m`` (a buffer,
    checkpointed) turns the normalised skeleton into metres: the training set's mean."""

    def __init__(self, in_features: int, n_joints: int) -> None:
        super().__init__()
        self.n_joints = n_joints
        self.layers = nn.Sequential(nn.Linear(in_features, REGRESSOR_HIDDEN), nn.ReLU(inplace=True),
                                    nn.Linear(REGRESSOR_HIDDEN, REGRESSOR_HIDDEN), nn.ReLU(inplace=True),
                                    nn.Linear(REGRESSOR_HIDDEN, n_joints * 3))
        self.register_buffer("total_bone_length_m", torch.tensor(1.0))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).view(-1, self.n_joints, 3)


class DomainMixer(nn.Module):
    """Features -> one logit: the log-odds that the image is real (synthetic 0, real 1)."""

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_features, MIXER_HIDDEN), nn.ReLU(inplace=True),
                                    nn.Linear(MIXER_HIDDEN, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features).squeeze(1)


def build_extractor(backbone: str, features: int, in_channels: int = 3) -> nn.Module:
    if backbone == "small":
        return SmallExtractor(in_channels, features)
    if backbone == "resnet18":
        return ResNet18Extractor(in_channels)
    raise TrainingError(f"unknown backbone {backbone!r}; use small or resnet18")


def build_domain_adaptation(backbone: str, features: int, n_joints: int) -> dict[str, nn.Module]:
    """{"extractor", "regressor", "mixer"}."""
    extractor = build_extractor(backbone, features)
    return {"extractor": extractor, "regressor": PoseRegressor(extractor.out_features, n_joints),
            "mixer": DomainMixer(extractor.out_features)}


def pose_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Chen et al.'s Euclidean loss: ||P - P'||_2 over each skeleton's 3K coordinates, mean over
    the batch (a small epsilon keeps the gradient finite at a perfect prediction)."""
    if predicted.shape != target.shape:
        raise TrainingError(f"predicted joints {tuple(predicted.shape)} and target joints "
                            f"{tuple(target.shape)} differ in shape (mismatched joint sets?)")
    squared = (predicted.float() - target.float()).pow(2).flatten(1).sum(1)
    return (squared + 1e-12).sqrt().mean()


def domain_loss(logits: torch.Tensor, is_real: torch.Tensor) -> torch.Tensor:
    """Stage 1: the mixer's cross-entropy against the true domains (synthetic 0, real 1)."""
    return F.binary_cross_entropy_with_logits(logits.float(), is_real.float())


def confusion_loss(logits: torch.Tensor) -> torch.Tensor:
    """Stage 2: cross-entropy against the confused label (0.5, 0.5) for every image; its minimum,
    log 2, is where the mixer cannot tell the domains apart."""
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), 0.5))

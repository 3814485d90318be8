"""Yang et al. (CVPR 2018), "3D Human Pose Estimation in the Wild by Adversarial Learning": the
generator (a 3D pose estimator) and the multi-source discriminator, and their losses.

Generator (section 3.1, after Zhou et al. 2017): a stacked hourglass gives P heatmaps (one per
joint, regressed to Gaussians); a depth regression module takes the last stack's features and
heatmaps and regresses each joint's depth relative to the root: three (residual module + 2x2 max
pool) modules, global average pooling and one fully connected layer ("three sequential residual
and downsampling modules, a global average pooling, and a fully connected layer").

How the 3D pose is formed (our choice; the paper leaves it to its backbone): depths are regressed
in heatmap pixels, the unit of the heatmaps' 2D positions, so that (u_j - u_root, v_j - v_root,
d_j) is a 3D pose in one unit, weak perspective over the crop (the root-relative x, y of a person
at depth Z are (u - u_root) * Z / f: one scale for the whole body; on our rendered data that
drops 6 mm against the true perspective x, y). Its size in metres is not in a crop (crops are
fitted to the person), so the pose is scaled so that its sizing bones (the spine, head and legs:
trainers.pose3d.joints.sizing_bones) sum to the training skeletons' mean (as Chen et al. fix "the
sum of skeleton lengths"; Zhou et al. scale by the training skeleton for evaluation too): buffer
``size_length`` of the generator. Not all bones: where the 2D module does not tell the person's
left from right it puts a left/right pair between the two sides, and a sum over all bones would
then blow the whole pose up to make up for the lost widths (measured: 8-11% more MPJPE with 64 px
crops, 2% with 128).
2D positions are the heatmaps' local soft-argmax: the argmax pixel refined by the mean position
of the (non-negative) heatmap in the window around it, differentiable in the heatmap values.

Discriminator (section 3.2): three sources, each embedded separately, concatenated, then three
fully connected layers: (a) the image; (c) the heatmaps with the depth maps (the depth map of
joint j is its depth times its heatmap: "the depth of a body joint at the corresponding
location"); (b) the 6 x P x P geometric descriptor (eq. 1, trainers.pose3d.descriptor). It
returns a logit; its probability is the sigmoid, and the losses are the binary cross-entropy on
logits (the same loss, numerically safe and allowed under autocast). No batch norm in D: real
and predicted poses pass in different batches and batch statistics would tell them apart.

Losses: L_pose (eq. 2) = sum over joints and heatmap pixels of the squared heatmap error (every
stack: intermediate supervision) + sum over joints of the squared depth error, averaged over the
batch; L_D (eq. 3) = BCE(D(ground truth), 1) + BCE(D(predicted), 0); L_G (eq. 5) =
lambda * BCE(D(predicted), 1) + L_pose, lambda = 1e-4.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from synth_core.errors import TrainingError
from trainers.models.hourglass import Residual, StackedHourglass
from trainers.pose3d.descriptor import geometric_descriptor
from trainers.pose3d.joints import get_joint_set, normalise_bones, sizing_bones

DEPTH_DOWNSAMPLINGS = 3   # residual + downsampling modules of the depth regressor (the paper's three)
SOFT_ARGMAX_WINDOW = 2    # heatmap pixels either side of the argmax that refine the 2D position
EMBEDDING_SIDE = 4        # D's convolutional branches stride down to 4 x 4 before their linear layer


# ------------------------------------------------------------------------------------ generator

@dataclasses.dataclass
class GeneratorOutput:
    heatmaps: list[torch.Tensor]   # per stack, B x P x O x O (the last is the best)
    depth: torch.Tensor            # B x P, heatmap pixels, relative to the root joint (the root's is 0)


class DepthRegressor(nn.Module):
    """The last stack's lin features and heatmaps (B x P x O x O; each through a 1x1 conv, added,
    as the hourglass feeds its next stack) -> three (residual + 2x2 max pool) -> global average
    pooling -> fully connected -> B x P depths."""

    def __init__(self, features: int, n_joints: int) -> None:
        super().__init__()
        self.from_features = nn.Conv2d(features, features, 1, bias=False)
        self.from_heatmaps = nn.Conv2d(n_joints, features, 1, bias=False)
        self.downsample = nn.Sequential(*(nn.Sequential(Residual(features, features), nn.MaxPool2d(2))
                                          for _ in range(DEPTH_DOWNSAMPLINGS)))
        self.finish = nn.Sequential(nn.BatchNorm2d(features), nn.ReLU(inplace=True))
        self.regress = nn.Linear(features, n_joints)

    def forward(self, features: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
        x = self.downsample(self.from_features(features) + self.from_heatmaps(heatmaps))
        return self.regress(self.finish(x).mean(dim=(2, 3)))


class PoseGenerator(nn.Module):
    """``model(images)`` (B x 3 x S x S) -> :class:`GeneratorOutput`; :meth:`pose` turns it into
    B x P x 3 root-relative metres (see the module docstring) in ``joint_set``
    (trainers.pose3d.joints)."""

    def __init__(self, joint_set: str = "chen17", stacks: int = 2, features: int = 256, modules: int = 1,
                 depth: int = 4, in_channels: int = 3) -> None:
        super().__init__()
        self.joint_set = get_joint_set(joint_set)
        self.root = self.joint_set.root
        n_joints = len(self.joint_set)
        self.hourglass = StackedHourglass(in_channels, n_joints, stacks, features, modules, depth)
        for head in self.hourglass.heads:   # heatmaps start at 0: no first steps spent unlearning noise
            nn.init.zeros_(head.classifier.weight)
            nn.init.zeros_(head.classifier.bias)
        self.depth = DepthRegressor(features, n_joints)
        # the training skeletons' mean summed length (m) of the sizing bones: set by calibrate()
        self.register_buffer("size_length", torch.tensor(0.0))
        self.sizing_bones = sizing_bones(self.joint_set)
        self._last_features = None
        self.hourglass.heads[-1].register_forward_hook(self._keep_last_features)

    def _keep_last_features(self, _module, _inputs, output) -> None:
        self._last_features = output[0]   # StackHead returns (lin features, logits)

    def forward(self, images: torch.Tensor) -> GeneratorOutput:
        heatmaps = self.hourglass(images)
        features, self._last_features = self._last_features, None
        depth = self.depth(features, heatmaps[-1])
        return GeneratorOutput(heatmaps, depth - depth[:, self.root:self.root + 1])

    def pose_in_pixels(self, output: GeneratorOutput) -> torch.Tensor:
        """B x P x 3 in heatmap pixels, root-relative: the last stack's 2D positions and the depths."""
        uv = heatmap_locations(output.heatmaps[-1].float())
        uv = uv - uv[:, self.root:self.root + 1]
        return torch.cat([uv, output.depth.float()[..., None]], dim=-1)

    def pose(self, output: GeneratorOutput) -> torch.Tensor:
        """B x P x 3 root-relative metres: :meth:`pose_in_pixels` scaled to ``size_length``."""
        return normalise_bones(self.pose_in_pixels(output), self.joint_set, self.size_length, self.sizing_bones)


def heatmap_locations(heatmaps: torch.Tensor, window: int = SOFT_ARGMAX_WINDOW) -> torch.Tensor:
    """B x P x H x W heatmaps -> B x P x 2 (x, y) heatmap pixels (centres at integers): the argmax
    pixel moved to the mean position of the heatmap's non-negative values within ``window`` pixels
    of it (a local soft-argmax: sub-pixel, and differentiable in the values; a global one would be
    pulled towards the map's centre by the background)."""
    B, P, H, W = heatmaps.shape
    flat = heatmaps.reshape(B, P, H * W)
    peak = flat.argmax(dim=-1)
    px, py = peak % W, torch.div(peak, W, rounding_mode="floor")
    offsets = torch.arange(-window, window + 1, device=heatmaps.device)
    xs = px[..., None, None] + offsets[None, None, None, :]                  # B x P x 1 x w
    ys = py[..., None, None] + offsets[None, None, :, None]                  # B x P x w x 1
    inside = (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
    index = (ys.clamp(0, H - 1) * W + xs.clamp(0, W - 1)).reshape(B, P, -1)
    weights = flat.gather(-1, index).clamp_min(0) * inside.reshape(B, P, -1)
    total = weights.sum(-1)
    mean_x = (weights * xs.expand_as(inside).reshape(B, P, -1)).sum(-1) / total.clamp_min(1e-12)
    mean_y = (weights * ys.expand_as(inside).reshape(B, P, -1)).sum(-1) / total.clamp_min(1e-12)
    # a window with nothing above zero keeps the argmax pixel
    x = torch.where(total > 0, mean_x, px.to(heatmaps.dtype))
    y = torch.where(total > 0, mean_y, py.to(heatmaps.dtype))
    return torch.stack([x, y], dim=-1)


def pixel_scale(joints2d: torch.Tensor, joints3d: torch.Tensor, root: int) -> torch.Tensor:
    """Metres per heatmap pixel of each sample (B): the least-squares s with s (u - u_root, v - v_root)
    ~ (x - x_root, y - y_root), i.e. the weak-perspective scale of the crop. ``joints2d`` B x P x 2
    heatmap pixels, ``joints3d`` B x P x 3 metres (camera axes, turned with the crop)."""
    uv = joints2d - joints2d[:, root:root + 1]
    xy = joints3d[..., :2] - joints3d[:, root:root + 1, :2]
    return (uv * xy).sum(dim=(1, 2)) / (uv * uv).sum(dim=(1, 2)).clamp_min(1e-12)


# -------------------------------------------------------------------------------- discriminator

def _conv_embedding(in_channels: int, size: int, width: int, embedding: int) -> nn.Sequential:
    """size x size maps -> stride-2 3x3 convolutions (LeakyReLU 0.2; channels from ``width``,
    doubling, at most 8 x width) down to 4 x 4 -> flattened -> linear -> ``embedding``."""
    layers, channels = [], in_channels
    out = width
    while size > EMBEDDING_SIDE:
        layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        channels, out, size = out, min(2 * out, 8 * width), size // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * size * size, embedding),
                         nn.LeakyReLU(0.2, inplace=True))


class MultiSourceDiscriminator(nn.Module):
    """``model(image, maps, descriptor)`` -> B logits (probability = sigmoid) that the pose is a
    ground-truth one. image B x 3 x S x S; maps B x 2P x O x O (heatmaps, then depth maps:
    :func:`heatmaps_and_depth_maps`); descriptor B x 6 x P x P (:func:`geometric_descriptor`)."""

    def __init__(self, n_joints: int, input_size: int, output_size: int, width: int = 32,
                 embedding: int = 128, in_channels: int = 3) -> None:
        super().__init__()
        if min(input_size, output_size) < EMBEDDING_SIDE:
            raise TrainingError(f"the discriminator needs inputs of at least {EMBEDDING_SIDE} pixels, "
                                f"not {input_size} and {output_size}")
        self.image = _conv_embedding(in_channels, input_size, width, embedding)
        self.maps = _conv_embedding(2 * n_joints, output_size, width, embedding)
        self.geometry = nn.Sequential(nn.Flatten(), nn.Linear(6 * n_joints * n_joints, embedding),
                                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(embedding, embedding),
                                      nn.LeakyReLU(0.2, inplace=True))
        self.classify = nn.Sequential(nn.Linear(3 * embedding, embedding), nn.LeakyReLU(0.2, inplace=True),
                                      nn.Linear(embedding, embedding), nn.LeakyReLU(0.2, inplace=True),
                                      nn.Linear(embedding, 1))

    def embed(self, image: torch.Tensor, maps: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        """B x 3E: the three sources' embeddings, concatenated."""
        return torch.cat([self.image(image), self.maps(maps), self.geometry(descriptor)], dim=1)

    def forward(self, image: torch.Tensor, maps: torch.Tensor, descriptor: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(image, maps, descriptor))[:, 0]


def heatmaps_and_depth_maps(heatmaps: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """D's third source: B x P x O x O heatmaps and B x P depths -> B x 2P x O x O, the heatmaps
    then each joint's depth broadcast on its heatmap (depth x heatmap)."""
    return torch.cat([heatmaps, heatmaps * depth[..., None, None]], dim=1)


def discriminator_inputs(heatmaps: torch.Tensor, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(maps, descriptor) of poses (B x P x 3 root-relative metres) with their heatmaps."""
    return heatmaps_and_depth_maps(heatmaps, pose[..., 2]), geometric_descriptor(pose)


# ---------------------------------------------------------------------------------------- losses

def heatmap_loss(outputs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
    """Eq. (2)'s 2D term: squared error summed over joints and pixels, per stack, summed over
    stacks, averaged over the batch."""
    return sum(((out.float() - target) ** 2).sum(dim=(1, 2, 3)).mean() for out in outputs)


def depth_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. (2)'s depth term: squared error summed over joints, averaged over the batch."""
    return ((pred.float() - target) ** 2).sum(dim=1).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. (3): BCE(D(ground truth), 1) + BCE(D(predicted), 0), each averaged over its samples."""
    real = F.binary_cross_entropy_with_logits(real_logits.float(), torch.ones_like(real_logits, dtype=torch.float32))
    fake = F.binary_cross_entropy_with_logits(fake_logits.float(), torch.zeros_like(fake_logits, dtype=torch.float32))
    return real + fake


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. (4): BCE(D(predicted), 1), averaged over the predicted samples."""
    return F.binary_cross_entropy_with_logits(fake_logits.float(), torch.ones_like(fake_logits, dtype=torch.float32))


def generator_loss(pose_loss: torch.Tensor, fake_logits: torch.Tensor, lambda_adv: float) -> torch.Tensor:
    """Eq. (5): lambda * adversarial + L_pose."""
    return lambda_adv * adversarial_loss(fake_logits) + pose_loss

"""Doersch & Zisserman's (2019) "Motion HMR", sized for this project: a per-frame CNN, a
bidirectional LSTM over the clip, a per-frame head regressing the 3D joints; the DANN baseline's
gradient reversal and domain classifier; the losses.

Shapes: inputs B x T x C x S x S (:mod:`trainers.pose3d.motion_data` builds them), poses
B x T x K x 3 (root-relative, camera axes, metres), per-frame features B x T x F.

Sizes follow ``features`` (f): the CNN has four stride-2 stages of f, 2f, 4f, 8f channels and
averages to an 8f vector per frame (the paper: ResNet-50, average-pooled); the LSTM has 4f
units per direction and each head / the DANN adversary a hidden layer of 4f (the paper: 1024 for
both, which f = 256 gives).

Losses (the paper trains "directly for Procrustes-aligned 3D keypoint location error ... as well
as 2D reprojection error of the 3D pose"):

- :func:`procrustes_loss`: root-mean-square joint distance after a similarity alignment
  (rotation, scale, translation) of the prediction onto the truth (the metrics' procrustes_align);
- :func:`reprojection_loss`: the predicted joints' (x, y) under a weak-perspective camera fitted
  per frame (least squares: one scale and a 2D shift) to the crop's ground-truth 2D joints,
  mean per-joint distance in units of the crop side. The fit is part of the graph, so the loss
  says how far the prediction's image-plane shape is from the 2D joints for the best camera.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainers.pose3d.metrics import procrustes_align

STAGES = 4   # stride-2 stages of the per-frame CNN: 64 px -> 4 x 4 before the average


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class FrameEncoder(nn.Module):
    """One frame's C x S x S inputs -> an 8f feature vector (two 3x3 convolutions per stage)."""

    def __init__(self, in_channels: int, features: int):
        super().__init__()
        layers, cin = [], in_channels
        for stage in range(STAGES):
            cout = features * 2 ** stage
            layers += [_conv(cin, cout, 2), _conv(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.out_features = cin

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.layers(frames).mean(dim=(2, 3))


class MotionPoseNet(nn.Module):
    """Per-frame CNN -> bidirectional LSTM over the window -> per-frame K x 3 pose."""

    def __init__(self, in_channels: int, n_joints: int, features: int = 64):
        super().__init__()
        self.n_joints = n_joints
        self.encoder = FrameEncoder(in_channels, features)
        hidden = 4 * features
        self.lstm = nn.LSTM(self.encoder.out_features, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, n_joints * 3))

    def features(self, inputs: torch.Tensor) -> torch.Tensor:
        """B x T x C x S x S -> B x T x F: the per-frame CNN's vectors (where DANN's adversary looks)."""
        B, T = inputs.shape[:2]
        return self.encoder(inputs.flatten(0, 1)).view(B, T, -1)

    def poses(self, features: torch.Tensor) -> torch.Tensor:
        """B x T x F per-frame features -> B x T x K x 3 poses (metres)."""
        with torch.autocast(features.device.type, enabled=False):  # the LSTM and head in float32
            memory, _ = self.lstm(features.float())
            return self.head(memory).view(*memory.shape[:2], self.n_joints, 3)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.poses(self.features(inputs))


# ------------------------------------------------------------------------- domain adversary (DANN)

class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.weight * grad, None


def reverse_gradient(x: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Identity forward; backward multiplies the gradient by ``-weight`` (Ganin & Lempitsky's
    gradient reversal layer): the classifier after it learns to tell the domains apart while the
    network before it learns to make them indistinguishable."""
    return _ReverseGradient.apply(x, weight)


class GradientReversal(nn.Module):
    def __init__(self, weight: float = 1.0):
        super().__init__()
        self.weight = weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.weight)


class DomainClassifier(nn.Module):
    """The paper's DANN adversary: 2 layers on the per-frame CNN output (before the LSTM), one
    logit per frame (> 0: real). Put :class:`GradientReversal` in front of it."""

    def __init__(self, in_features: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features.float()).squeeze(-1)


# ------------------------------------------------------------------------------------------ losses

def procrustes_loss(pred: torch.Tensor, gt: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Root-mean-square joint distance (metres) of each skeleton after aligning it onto the truth
    by the best similarity (:func:`trainers.pose3d.metrics.procrustes_align`), averaged over
    skeletons: the training form of PA-MPJPE. Squared distances because the alignment's
    gradient is exact for them (its rotation is held fixed: envelope theorem), the root so the
    term is in metres like the others. Computed in float32 at least (the SVD needs it)."""
    dtype = torch.float64 if pred.dtype == torch.float64 else torch.float32
    pred, gt = pred.to(dtype), gt.to(dtype)
    squared = (procrustes_align(pred, gt) - gt).pow(2).sum(-1).mean(-1)
    return squared.add(eps).sqrt().mean()


def fit_weak_perspective(points3d: torch.Tensor, points2d: torch.Tensor, eps: float = 1e-8):
    """Per skeleton, the scale s and shift t minimising sum_k |s (x_k, y_k) + t - u_k|^2 (weak
    perspective: orthographic projection along the camera's z, then a 2D similarity without
    rotation). points3d ... x K x 3, points2d ... x K x 2 -> (s: ..., t: ... x 2)."""
    xy = points3d[..., :2]
    mu_xy, mu_uv = xy.mean(dim=-2, keepdim=True), points2d.mean(dim=-2, keepdim=True)
    a, b = xy - mu_xy, points2d - mu_uv
    scale = (a * b).sum(dim=(-1, -2)) / (a.pow(2).sum(dim=(-1, -2)) + eps)
    shift = (mu_uv - scale[..., None, None] * mu_xy).squeeze(-2)
    return scale, shift


def reprojection_loss(pred: torch.Tensor, joints2d: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Mean per-joint 2D distance between the predicted joints under their fitted weak-perspective
    camera (:func:`fit_weak_perspective`) and the crop's 2D joints, in crop sides."""
    pred, joints2d = pred.float(), joints2d.float()
    scale, shift = fit_weak_perspective(pred, joints2d)
    projected = scale[..., None, None] * pred[..., :2] + shift[..., None, :]
    return (projected - joints2d).norm(dim=-1).mean() / crop_size


def domain_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Binary cross-entropy of the domain classifier's logits against one domain label."""
    target = torch.full_like(logits, 1.0 if real else 0.0)
    return F.binary_cross_entropy_with_logits(logits.float(), target)

"""Newell et al.'s stacked hourglass (ECCV 2016) as SURREAL trained it for body parts and depth.

SURREAL (Varol et al. 2017, section 4): 8 stacks, 256 features, 1 residual module per stage,
256x256 input, one S/4 x S/4 map of class logits per stack, cross-entropy on every stack's output.
The layers follow Newell's ``hg.lua`` (pose-hg-train):

- stem: 7x7 conv stride 2 -> BN -> ReLU -> residual to features/2 -> 2x2 max pool ->
  residual -> residual to ``features``  (S/4). With 256 features these are Newell's 64 and 128
  channels; smaller models scale them down instead of keeping a fixed 128-channel stem.
- ``stacks`` hourglasses of recursion ``depth``: an upper branch of ``modules`` residuals at
  each scale; a lower branch of max pool, ``modules`` residuals, the next level (or ``modules``
  residuals at the bottom), ``modules`` residuals and a nearest x2 upsample; the two added.
- per stack: ``modules`` residuals, 1x1 conv -> BN -> ReLU ("lin"), 1x1 conv to the class logits.
- between stacks: the stack's input + 1x1 conv(lin features) + 1x1 conv(logits) feeds the next.
- residual = pre-activation bottleneck BN-ReLU-1x1 (out/2) -BN-ReLU-3x3 (out/2) -BN-ReLU-1x1 (out),
  plus the input (a 1x1 conv when the channel count changes).

One deliberate difference: only the classifiers carry a bias. Every other convolution reaches
the logits only through a batch norm, which cancels a constant shift, so the original's biases
were redundant (their gradient is exactly zero in training) and would only hide dead branches.

The optional full-resolution head (``full_res_head=True``; SURREAL's "upsampling layer" of
their table 2, our design) turns the last stack's lin features back into an S x S map:
1x1 conv to features/4 (S/4) -> bilinear x2 -> concatenate the stem's first S/2 features ->
3x3 conv-BN-ReLU (features/4) -> bilinear x2 -> concatenate the input image -> 3x3 conv-BN-ReLU
(max(8, features/8)) -> 1x1 conv to the class logits. Its output comes last in the list.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth_core.errors import TrainingError


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=bias)


def _bn_relu_conv(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True), _conv(in_channels, out_channels, kernel))


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(_conv(in_channels, out_channels, kernel), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """Newell's pre-activation bottleneck residual module (``out_channels`` must be even)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        half = out_channels // 2
        self.branch = nn.Sequential(_bn_relu_conv(in_channels, half, 1), _bn_relu_conv(half, half, 3),
                                    _bn_relu_conv(half, out_channels, 1))
        self.skip = nn.Identity() if in_channels == out_channels else _conv(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x) + self.skip(x)


def _residuals(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*(Residual(channels, channels) for _ in range(count)))


class Hourglass(nn.Module):
    """One hourglass of recursion ``depth``: the input size must be divisible by 2**depth."""

    def __init__(self, depth: int, features: int, modules: int) -> None:
        super().__init__()
        self.upper = _residuals(features, modules)
        self.down = _residuals(features, modules)
        self.inner = Hourglass(depth - 1, features, modules) if depth > 1 else _residuals(features, modules)
        self.up = _residuals(features, modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lower = self.up(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.upper(x) + F.interpolate(lower, scale_factor=2, mode="nearest")


class Stem(nn.Module):
    """Input image -> ``features`` channels at S/4; also returns its first S/2 features."""

    def __init__(self, in_channels: int, features: int) -> None:
        super().__init__()
        self.first = _conv_bn_relu_strided(in_channels, features // 4)
        self.widen = Residual(features // 4, features // 2)
        self.rest = nn.Sequential(Residual(features // 2, features // 2), Residual(features // 2, features))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.first(x)
        return self.rest(F.max_pool2d(self.widen(half), 2)), half


def _conv_bn_relu_strided(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(_conv(in_channels, out_channels, 7, stride=2), nn.BatchNorm2d(out_channels),
                         nn.ReLU(inplace=True))


class StackHead(nn.Module):
    """A stack's residual(s), lin layer and classifier; returns (lin features, logits)."""

    def __init__(self, features: int, n_classes: int, modules: int) -> None:
        super().__init__()
        self.features = nn.Sequential(_residuals(features, modules), _conv_bn_relu(features, features, 1))
        self.classifier = _conv(features, n_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return features, self.classifier(features)


class Reinjection(nn.Module):
    """Newell's link between stacks: next input = input + 1x1(lin features) + 1x1(logits)."""

    def __init__(self, features: int, n_classes: int) -> None:
        super().__init__()
        self.from_features = _conv(features, features, 1)
        self.from_logits = _conv(n_classes, features, 1)

    def forward(self, stack_input, features, logits) -> torch.Tensor:
        return stack_input + self.from_features(features) + self.from_logits(logits)


class FullResolutionHead(nn.Module):
    """Last stack's lin features (S/4) -> logits at S x S, with skips from the stem's S/2
    features and from the input image (see the module docstring)."""

    def __init__(self, in_channels: int, features: int, n_classes: int) -> None:
        super().__init__()
        quarter, full = features // 4, max(8, features // 8)
        self.reduce = _conv_bn_relu(features, quarter, 1)
        self.at_half = _conv_bn_relu(quarter + features // 4, quarter, 3)
        self.at_full = _conv_bn_relu(quarter + in_channels, full, 3)
        self.classifier = _conv(full, n_classes, 1, bias=True)

    def forward(self, features, stem_half, image) -> torch.Tensor:
        x = F.interpolate(self.reduce(features), scale_factor=2, mode="bilinear", align_corners=False)
        x = self.at_half(torch.cat([x, stem_half], 1))
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.classifier(self.at_full(torch.cat([x, image.to(x.dtype)], 1)))


class StackedHourglass(nn.Module):
    """``model(x)`` with x B x in_channels x S x S (S divisible by 2**(depth + 2), 64 for depth 4)
    returns a list of logits: one B x n_classes x S/4 x S/4 per stack, in stack order (the last
    is the best), then with ``full_res_head`` one B x n_classes x S x S. ``output_strides`` gives
    each entry's downsampling factor (4 per stack, then 1)."""

    def __init__(self, in_channels: int = 3, n_classes: int = 15, stacks: int = 8, features: int = 256,
                 modules: int = 1, depth: int = 4, full_res_head: bool = False) -> None:
        super().__init__()
        _check_configuration(in_channels, n_classes, stacks, features, modules, depth)
        self.in_channels, self.n_classes, self.stacks, self.depth = in_channels, n_classes, stacks, depth
        self.full_res_head = bool(full_res_head)
        self.stem = Stem(in_channels, features)
        self.hourglasses = nn.ModuleList(Hourglass(depth, features, modules) for _ in range(stacks))
        self.heads = nn.ModuleList(StackHead(features, n_classes, modules) for _ in range(stacks))
        self.reinjections = nn.ModuleList(Reinjection(features, n_classes) for _ in range(stacks - 1))
        self.full_res = FullResolutionHead(in_channels, features, n_classes) if full_res_head else None

    @property
    def output_strides(self) -> tuple[int, ...]:
        return (4,) * self.stacks + ((1,) if self.full_res_head else ())

    @property
    def size_multiple(self) -> int:
        """Input sides must be multiples of this: the stem halves twice, each hourglass level once."""
        return 2 ** (self.depth + 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self._check_input(x)
        stack_input, stem_half = self.stem(x)
        outputs = []
        for i, (hourglass, head) in enumerate(zip(self.hourglasses, self.heads)):
            features, logits = head(hourglass(stack_input))
            outputs.append(logits)
            if i < self.stacks - 1:
                stack_input = self.reinjections[i](stack_input, features, logits)
        if self.full_res is not None:
            outputs.append(self.full_res(features, stem_half, x))
        return outputs

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise TrainingError(f"the hourglass takes B x {self.in_channels} x S x S images, not {tuple(x.shape)}")
        height, width = x.shape[-2:]
        if height % self.size_multiple or width % self.size_multiple:
            raise TrainingError(f"input size {height}x{width} is not a multiple of {self.size_multiple} "
                                f"(the stem halves it twice, an hourglass of depth {self.depth} {self.depth} times)")


def _check_configuration(in_channels, n_classes, stacks, features, modules, depth) -> None:
    checks = [
        (in_channels >= 1, f"in_channels must be at least 1, not {in_channels}"),
        (n_classes >= 2, f"n_classes must be at least 2 (cross-entropy over classes), not {n_classes}"),
        (min(stacks, modules, depth) >= 1,
         f"stacks, modules and depth must be at least 1, not {stacks}, {modules}, {depth}"),
        (features >= 4 and features % 4 == 0,
         f"features must be a positive multiple of 4 (the stem starts at features/4 and the residual "
         f"bottlenecks halve it), not {features}"),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainingError(message)

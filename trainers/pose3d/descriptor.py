"""Yang et al.'s (2018, section 3.2.2) geometric descriptor, an input of their discriminator.

For joints z_i = (x_i, y_i, z_i), eq. (1):

    d(z_i, z_j) = [dx, dy, dz, dx^2, dy^2, dz^2],   dx = x_i - x_j, dy = y_i - y_j, dz = z_i - z_j

"the relative locations of joint i with respect to joint j" and their squares ("distances"),
for every pair: a 6 x P x P matrix for P joints. Channel c at (i, j) is component c of
d(z_i, z_j): the offset channels 0..2 are antisymmetric in (i, j), the squared channels 3..5
symmetric, and the diagonal is zero.
"""

from __future__ import annotations

import torch

from synth_core.errors import TrainingError


def geometric_descriptor(joints: torch.Tensor) -> torch.Tensor:
    """B x P x 3 joints -> B x 6 x P x P descriptor (differentiable)."""
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise TrainingError(f"the geometric descriptor takes B x P x 3 joints, not {tuple(joints.shape)}")
    offsets = joints[:, :, None, :] - joints[:, None, :, :]      # B x P x P x 3: z_i - z_j at (i, j)
    return torch.cat([offsets, offsets ** 2], dim=-1).permute(0, 3, 1, 2).contiguous()

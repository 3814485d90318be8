"""Training targets from a clip's labels (SURREAL's classes and depth bins, joint heatmaps).

Every function works on arrays already cropped to the network's output grid.
"""

from __future__ import annotations

import numpy as np
import torch

from synth_core.body.parts import PART_TO_CLASS14

N_SEGM_CLASSES = 15       # background + SURREAL's 14 parts
N_DEPTH_BINS = 19         # SURREAL: 19 bins of 45 mm around the pelvis (+ background = 20 classes)
DEPTH_BIN_M = 0.045
_HALF_BINS = N_DEPTH_BINS // 2


def segmentation_classes(parts: np.ndarray) -> np.ndarray:
    """Parts 0..24 (FORMAT.md) -> SURREAL's 15 classes (0 background)."""
    return PART_TO_CLASS14[parts]


def depth_bins(depth: np.ndarray, pelvis_depth: float) -> np.ndarray:
    """SURREAL's depth classes: k = clamp(ceil((d - d_pelvis) / 45 mm), -9, 9), class k + 10
    (1..19); depth 0 (background) -> class 0."""
    k = np.clip(np.ceil((depth - pelvis_depth) / DEPTH_BIN_M), -_HALF_BINS, _HALF_BINS)
    return np.where(depth > 0, k + _HALF_BINS + 1, 0).astype(np.int64)


def bins_to_depth(classes, pelvis_depth):
    """Camera depth (m) at the centre of each class's interval: class c covers
    ((k - 1) * 45, k * 45] mm past the pelvis with k = c - 10, so its centre is (k - 0.5) * 45 mm;
    the clamped end bins are placed at their interval's centre too. Class 0 -> 0 (background).
    Works on numpy arrays and torch tensors (``pelvis_depth`` broadcast against ``classes``)."""
    offset = (classes - (_HALF_BINS + 1) - 0.5) * DEPTH_BIN_M
    depth = pelvis_depth + offset
    if isinstance(classes, torch.Tensor):
        return torch.where(classes > 0, depth, torch.zeros_like(depth))
    return np.where(classes > 0, depth, 0.0)


def heatmaps(joints: np.ndarray, size: int, sigma: float | None = None) -> np.ndarray:
    """24 x size x size Gaussians (peak 1) at the joints (output pixels, centres at integers);
    sigma = size / 64 pixels (1 px at 64x64, as Newell et al.); zero for joints off the grid."""
    sigma = sigma or size / 64
    grid = np.arange(size, dtype=np.float32)
    gx = np.exp(-((grid[None, :] - joints[:, :1]) ** 2) / (2 * sigma ** 2))   # J x size
    gy = np.exp(-((grid[None, :] - joints[:, 1:]) ** 2) / (2 * sigma ** 2))
    inside = joints_inside(joints, size)
    return (gy[:, :, None] * gx[:, None, :] * inside[:, None, None]).astype(np.float32)


def joints_inside(joints: np.ndarray, size: int) -> np.ndarray:
    return np.all((joints >= -0.5) & (joints < size - 0.5), axis=1)

"""3D skeletons as a PNG: predictions over the ground truth, a few samples, two views each.

Joints are in camera axes (x right, y down, z forward, metres). They are drawn upright: the
plot's horizontal axes are the camera's x and z (depth), its vertical axis is -y. Each sample is
shown from the camera's side (front) and from 60 degrees to its right (where depth errors show),
prediction and ground truth on the same axes with equal scales on all three.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from synth_core.errors import TrainingError  # noqa: E402
from trainers.pose3d.joints import JointSet, get_joint_set  # noqa: E402
from trainers.runs import atomic_write  # noqa: E402

PREDICTION_COLOUR, TRUTH_COLOUR = "tab:red", "tab:green"
VIEWS = (("front", -90.0), ("side", -30.0))   # azimuths: -90 looks along the camera's z axis


def _skeletons(values, name: str, joints: JointSet) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    values = np.asarray(values, dtype=np.float64)
    values = values[None] if values.ndim == 2 else values
    if values.ndim != 3 or values.shape[1:] != (len(joints), 3):
        raise TrainingError(f"mismatched joint sets: {name} joints of shape {values.shape}, joint set "
                            f"{joints.name} needs N x {len(joints)} x 3")
    if not np.isfinite(values).all():
        raise TrainingError(f"{name} joints are not finite")
    return values


def _upright(points: np.ndarray) -> np.ndarray:
    """Camera (x, y down, z forward) -> plot (x, z, -y)."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


def _draw(axis, skeleton: np.ndarray, joints: JointSet, colour: str, label: str) -> None:
    for parent, child in joints.edges:
        segment = skeleton[[parent, child]]
        axis.plot(segment[:, 0], segment[:, 1], segment[:, 2], color=colour, linewidth=2)
    axis.scatter(skeleton[:, 0], skeleton[:, 1], skeleton[:, 2], color=colour, s=8, label=label)


def _equal_axes(axis, points: np.ndarray) -> None:
    """One cube around all the sample's points: equal scales on x, depth and height."""
    centre = (points.max(axis=0) + points.min(axis=0)) / 2
    half = max(float((points.max(axis=0) - points.min(axis=0)).max()) / 2, 1e-3) * 1.05
    for set_limits, c in zip((axis.set_xlim, axis.set_ylim, axis.set_zlim), centre):
        set_limits(c - half, c + half)
    axis.set_box_aspect((1, 1, 1))


def skeleton_figure(pred, gt, joint_set: str | JointSet, path: str | Path, titles=None) -> Path:
    """Write a PNG of N predicted skeletons (N x K x 3 or K x 3, metres, camera axes; numpy or
    torch) over their ground truth (same shape, or None for real frames), one row per sample
    with a front and a side view; ``titles``: one per sample. Written atomically; returns path."""
    joints = get_joint_set(joint_set)
    pred = _skeletons(pred, "predicted", joints)
    gt = None if gt is None else _skeletons(gt, "true", joints)
    if gt is not None and gt.shape != pred.shape:
        raise TrainingError(f"predicted joints {pred.shape} and true joints {gt.shape} differ in shape")
    titles = list(titles) if titles is not None else [f"sample {i}" for i in range(len(pred))]
    if len(titles) != len(pred):
        raise TrainingError(f"{len(titles)} titles for {len(pred)} skeletons")
    figure = plt.figure(figsize=(3.2 * len(VIEWS), 3.2 * len(pred)))
    for row, prediction in enumerate(pred):
        shown = [_upright(prediction)] + ([] if gt is None else [_upright(gt[row])])
        for column, (view, azimuth) in enumerate(VIEWS):
            axis = figure.add_subplot(len(pred), len(VIEWS), row * len(VIEWS) + column + 1, projection="3d")
            if gt is not None:
                _draw(axis, shown[1], joints, TRUTH_COLOUR, "ground truth")
            _draw(axis, shown[0], joints, PREDICTION_COLOUR, "prediction")
            _equal_axes(axis, np.concatenate(shown))
            axis.view_init(elev=10.0, azim=azimuth)
            axis.set_title(f"{titles[row]} ({view})", fontsize=9)
            axis.set_xlabel("x (m)", fontsize=7)
            if view == "front":   # depth points at the viewer: its ticks would pile up on one spot
                axis.set_yticklabels([])
            else:
                axis.set_ylabel("depth (m)", fontsize=7)
            axis.set_zlabel("height (m)", fontsize=7)
            axis.tick_params(labelsize=6)
            for ticked in (axis.xaxis, axis.yaxis, axis.zaxis):   # few ticks: the views foreshorten axes
                ticked.set_major_locator(MaxNLocator(4))
            if row == 0 and column == 0:
                axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    path = Path(path)
    try:
        atomic_write(path, lambda temporary: figure.savefig(temporary, format="png", dpi=90))
    finally:
        plt.close(figure)
    return path

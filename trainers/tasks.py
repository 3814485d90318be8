"""What each task reads from a clip, trains on, and is scored by: SURREAL's two (segm, depth) and
the 3D pose tasks' (pose3d, adversarial, motion), whose networks and steps are recipes
(trainers.pose3d.loop) scored by trainers.pose3d.metrics.PoseMetrics."""

from __future__ import annotations

import dataclasses

import torch

from trainers.data import DEPTH_BIN_M, bins_to_depth, passes_needed
from trainers.metrics import DepthMetrics, SegmentationMetrics


@dataclasses.dataclass(frozen=True)
class Task:
    name: str
    target: str                 # the sample key the network's classes are trained against
    targets: tuple[str, ...]    # what FrameDataset returns besides the image
    score: str                  # the held-out metric that picks best.pt
    higher_is_better: bool
    logged: tuple[str, ...]     # the held-out metrics in eval_log.csv

    def metrics(self):
        return SegmentationMetrics(n_classes=15) if self.name == "segm" else _DepthScores()

    def update(self, metrics, logits: torch.Tensor, batch: dict) -> None:
        """Score the finest output's logits (B x classes x H x W) against a batch's ground truth."""
        if self.name == "segm":
            metrics.update(logits.argmax(1), batch["segm"])
        else:
            metrics.update(logits, batch)

    def better(self, score: float, best: float | None) -> bool:
        if best is None:
            return True
        return score > best if self.higher_is_better else score < best


class _DepthScores:
    """Depth in mm on the ground truth's foreground.

    ``rmse_mm`` / ``st_rmse_mm``: the centre of the most likely depth bin (background excluded:
    silhouette mistakes are the segmentation's business) against the metric depth.
    ``bins_rmse_mm``: SURREAL's own measure, the predicted class (background included) against
    the true bin, x 45 mm."""

    def __init__(self) -> None:
        self.metric, self.bins = DepthMetrics(), DepthMetrics()

    def update(self, logits: torch.Tensor, batch: dict) -> None:
        foreground = batch["depth"] > 0
        nearest_bin = logits[:, 1:].argmax(1) + 1
        self.metric.update(bins_to_depth(nearest_bin, batch["pelvis_depth"].reshape(-1, 1, 1)), batch["depth"],
                           foreground)
        self.bins.update(logits.argmax(1).double() * DEPTH_BIN_M, batch["depth_bins"].double() * DEPTH_BIN_M,
                         foreground)

    def summary(self) -> dict:
        return {**self.metric.summary(), "bins_rmse_mm": self.bins.rmse_mm()}


# Held-out scores of the 3D pose tasks, each beside the mean-pose baseline's (trainers.pose3d.loop).
POSE_SCORES = ("mpjpe_mm", "pa_mpjpe_mm", "pck3d")
POSE_LOGGED = (*POSE_SCORES, *(f"baseline_{name}" for name in POSE_SCORES))

TASKS = {
    "segm": Task("segm", "segm", ("segm",), "mean_iou", True, ("mean_iou", "pixel_accuracy", "background_iou")),
    "depth": Task("depth", "depth_bins", ("depth",), "rmse_mm", False, ("rmse_mm", "st_rmse_mm", "bins_rmse_mm")),
    "pose3d": Task("pose3d", "joints3d", ("joints3d",), "mpjpe_mm", False, POSE_LOGGED),
    "adversarial": Task("adversarial", "joints3d", ("heatmaps", "joints3d"), "mpjpe_mm", False, POSE_LOGGED),
    "motion": Task("motion", "joints3d", ("joints3d",), "pa_mpjpe_mm", False, POSE_LOGGED),
}


def task_for(config) -> Task:
    return TASKS[config.task]


def passes_for(config) -> tuple[str, ...]:
    """Passes the run's dataset needs (forward flow too when it is an input)."""
    return passes_needed(task_for(config).targets, tuple(config.inputs.split("+")))

"""3D pose metrics: MPJPE, PA-MPJPE and PCK3D, accumulated over a whole set with per-joint tables.

MPJPE: the mean Euclidean distance between predicted and true joints, over every joint of every
skeleton (Human3.6M's protocol #1), on root-relative joints as given (no alignment).
PA-MPJPE: the same after aligning each predicted skeleton to its ground truth by the similarity
(rotation, uniform scale, translation) that minimises the squared error: Procrustes analysis
(protocol #2). The rotation is proper: Umeyama's SVD solution with the reflection fix, so a
mirrored prediction is NOT aligned onto the truth.
PCK3D: the share of joints within 150 mm of the truth (Mehta et al.'s threshold), unaligned.

The functions work on numpy arrays or torch tensors of shape (..., K, 3) (torch stays
differentiable, for losses on Procrustes-aligned joints as Doersch & Zisserman train with);
PoseMetrics takes metres and reports millimetres, pooled over the set: each score is the mean
over all (skeleton, joint) pairs added, and each joint's over all skeletons added.
"""

from __future__ import annotations

import numpy as np

from synth_core.errors import TrainingError

PCK3D_THRESHOLD_M = 0.150


def _is_torch(values) -> bool:
    return hasattr(values, "detach")


def _check_pair(pred, gt) -> None:
    if tuple(pred.shape) != tuple(gt.shape) or pred.ndim < 2 or pred.shape[-1] != 3:
        raise TrainingError(f"3D pose metrics take predicted and true joints of one shape (..., K, 3), not "
                            f"{tuple(pred.shape)} and {tuple(gt.shape)}")


def procrustes_align(pred, gt):
    """``pred`` moved onto ``gt`` by the best similarity transform, per skeleton: (..., K, 3)
    arrays or tensors -> the aligned prediction, same shape and type.

    With X, Y the centred joints (rows), H = X^T Y = U S V^T: rotation R = V D U^T with
    D = diag(1, 1, sign det(V U^T)) (never a reflection), scale s = trace(D S) / |X|^2, and the
    aligned joints s X R^T + mean(gt). A prediction with all joints at one point gets s = 0.
    Torch inputs keep their gradients (exact for the squared error; R is held fixed)."""
    _check_pair(pred, gt)
    import torch

    if not _is_torch(pred):  # one implementation: numpy goes through torch in float64
        aligned = procrustes_align(torch.from_numpy(np.asarray(pred, np.float64)),
                                   torch.from_numpy(np.asarray(gt, np.float64)))
        return aligned.numpy()
    if pred.dtype in (torch.float16, torch.bfloat16):  # SVD and det have no half-precision kernels
        pred, gt = pred.float(), gt.float()
    gt_mean = gt.mean(dim=-2, keepdim=True)
    X, Y = pred - pred.mean(dim=-2, keepdim=True), gt - gt_mean
    # The rotation is held constant for gradients: the SVD's backward is infinite where singular
    # values repeat (a network's early, near-constant output), and by the envelope theorem the
    # squared error's gradient at the optimal rotation is the same with it held fixed.
    U, S, Vt = torch.linalg.svd((X.transpose(-1, -2) @ Y).detach())
    V, Ut = Vt.transpose(-1, -2), U.transpose(-1, -2)
    # the reflection fix: flip the weakest axis where V U^T would be a reflection (det -1)
    D = torch.ones_like(S)
    D[..., -1] = torch.where(torch.linalg.det(V @ Ut) < 0, -1.0, 1.0)
    R = (V * D[..., None, :]) @ Ut                     # V diag(D) U^T
    turned = X @ R.transpose(-1, -2)
    norm = (X ** 2).sum(dim=(-1, -2))
    # = trace(D S) / |X|^2, written through X and Y so that it carries their gradients
    scale = (turned * Y).sum(dim=(-1, -2)) / norm.masked_fill(norm == 0, 1)
    return scale[..., None, None] * turned + gt_mean


def joint_errors(pred, gt):
    """(..., K) distance of each predicted joint from the true one (input units)."""
    _check_pair(pred, gt)
    if _is_torch(pred):
        return (pred - gt).norm(dim=-1)
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)


def mpjpe(pred, gt):
    """Mean per-joint position error (input units), over every joint of every skeleton."""
    return joint_errors(pred, gt).mean()


def pa_mpjpe(pred, gt):
    """MPJPE after Procrustes alignment of each predicted skeleton to its ground truth."""
    return mpjpe(procrustes_align(pred, gt), gt)


def pck3d(pred, gt, threshold: float = PCK3D_THRESHOLD_M):
    """Share of joints within ``threshold`` (inclusive; input units, default 150 mm in metres)."""
    correct = joint_errors(pred, gt) <= threshold
    return correct.double().mean() if _is_torch(pred) else correct.mean()


class PoseMetrics:
    """MPJPE, PA-MPJPE (mm) and PCK3D over every skeleton added, overall and per joint.

    ``joint_names``: the K names of the set (or a JointSet). ``update(pred, gt)`` takes
    root-relative joints in metres, B x K x 3 or B x T x K x 3 (numpy or torch)."""

    def __init__(self, joint_names, threshold_m: float = PCK3D_THRESHOLD_M) -> None:
        self.joint_names = tuple(getattr(joint_names, "names", joint_names))
        self.threshold_m = threshold_m
        K = len(self.joint_names)
        self.error_sum, self.aligned_error_sum = np.zeros(K), np.zeros(K)
        self.correct, self.skeletons = np.zeros(K, dtype=np.int64), 0

    def update(self, pred_m, gt_m) -> None:
        pred, gt = (np.asarray(v.detach().cpu().double() if _is_torch(v) else v, np.float64) for v in (pred_m, gt_m))
        _check_pair(pred, gt)
        K = len(self.joint_names)
        if pred.shape[-2] != K or pred.ndim not in (3, 4):
            raise TrainingError(f"mismatched joint sets: PoseMetrics counts {K} joints "
                                f"({', '.join(self.joint_names[:4])}, ...) and takes B x K x 3 or B x T x K x 3, "
                                f"not {pred.shape}")
        if not (np.isfinite(pred).all() and np.isfinite(gt).all()):
            raise TrainingError("predicted or true 3D joints are not finite")
        pred, gt = pred.reshape(-1, K, 3), gt.reshape(-1, K, 3)
        errors = joint_errors(pred, gt)
        self.error_sum += errors.sum(axis=0)
        self.aligned_error_sum += joint_errors(procrustes_align(pred, gt), gt).sum(axis=0)
        self.correct += (errors <= self.threshold_m).sum(axis=0)
        self.skeletons += len(pred)

    def summary(self) -> dict:
        """{"mpjpe_mm", "pa_mpjpe_mm", "pck3d", "skeletons", "per_joint": {name: {...}}}; NaN
        scores before any update."""
        n = self.skeletons or float("nan")
        per_joint = {name: {"mpjpe_mm": 1000.0 * self.error_sum[k] / n,
                            "pa_mpjpe_mm": 1000.0 * self.aligned_error_sum[k] / n,
                            "pck3d": self.correct[k] / n}
                     for k, name in enumerate(self.joint_names)}
        total = n * len(self.joint_names)
        return {"mpjpe_mm": float(1000.0 * self.error_sum.sum() / total),
                "pa_mpjpe_mm": float(1000.0 * self.aligned_error_sum.sum() / total),
                "pck3d": float(self.correct.sum() / total), "skeletons": self.skeletons,
                "per_joint": {name: {key: float(value) for key, value in scores.items()}
                              for name, scores in per_joint.items()}}


def per_joint_table(summary: dict) -> str:
    """A summary's per-joint scores as a Markdown table, with the overall row last."""
    rows = ["| joint | MPJPE (mm) | PA-MPJPE (mm) | PCK3D @150 mm |", "|---|---:|---:|---:|"]
    scored = [*summary["per_joint"].items(), ("all", summary)]
    rows += [f"| {name} | {s['mpjpe_mm']:.1f} | {s['pa_mpjpe_mm']:.1f} | {100 * s['pck3d']:.1f}% |"
             for name, s in scored]
    return "\n".join(rows)

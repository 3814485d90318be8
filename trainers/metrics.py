"""SURREAL's evaluation metrics (Varol et al. 2017, section 5.1), accumulated over a whole set.

Segmentation: a confusion matrix over every evaluated pixel; per class IoU = TP / (TP + FP + FN)
and pixel accuracy = TP / (TP + FN) from the totals (not means of per-image scores). The
reported means are over the parts (every class but background, 14 for SURREAL); background's
own scores are reported beside them. A class never present in the ground truth has no pixel
accuracy (NaN); one present in neither ground truth nor prediction has no IoU either (NaN).
NaN classes are left out of the means; a mean over no class is NaN.

Depth (inputs in metres, scores in millimetres) over the ground truth's foreground pixels:
RMSE = sqrt(sum of squared errors / foreground pixels), pooled over the set. st-RMSE, SURREAL's
"scale and translation invariant RMSE ... solving for the best translation and scaling in the
z-axis to fit the prediction to the ground truth": per image, the prediction p is replaced by
s * p + b with (s, b) = argmin sum over the image's foreground of (s p + b - g)^2, then the
squared errors are pooled the same way. An image whose prediction is constant over its
foreground gets s = 0, b = mean(g) (every s fits it equally well).

PCK: the share of visible joints predicted within ``threshold`` x a per-sample length.

Inputs may be numpy arrays or torch tensors (any device); everything is computed in float64 /
int64 numpy on the CPU.
"""

from __future__ import annotations

import numpy as np

from synth_core.errors import TrainingError


def _numpy(values) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _nanmean(values: np.ndarray) -> float:
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.full(numerator.shape, np.nan)
    defined = denominator > 0
    out[defined] = numerator[defined] / denominator[defined]
    return out


class SegmentationMetrics:
    """IoU and pixel accuracy from a confusion matrix accumulated over ``update`` calls.

    ``confusion[t, p]`` counts pixels of true class t predicted as p. ``background`` is the
    class left out of the means (None: keep every class)."""

    def __init__(self, n_classes: int = 15, background: int | None = 0) -> None:
        if n_classes < 2:
            raise TrainingError(f"segmentation needs at least 2 classes, not {n_classes}")
        self.n_classes, self.background = n_classes, background
        self.confusion = np.zeros((n_classes, n_classes), dtype=np.int64)

    def update(self, predicted, target) -> None:
        """Add predicted and true class labels (integer arrays or tensors of one shape)."""
        predicted, target = _numpy(predicted), _numpy(target)
        if predicted.shape != target.shape:
            raise TrainingError(f"predicted labels {predicted.shape} and target labels {target.shape} differ in shape")
        for name, labels in (("predicted", predicted), ("target", target)):
            if not np.issubdtype(labels.dtype, np.integer):
                raise TrainingError(f"{name} labels must be integer classes, not {labels.dtype}")
            if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
                raise TrainingError(f"{name} labels outside 0..{self.n_classes - 1}: "
                                    f"{labels.min()}..{labels.max()}")
        pairs = target.astype(np.int64).ravel() * self.n_classes + predicted.astype(np.int64).ravel()
        self.confusion += np.bincount(pairs, minlength=self.n_classes ** 2).reshape(self.n_classes, self.n_classes)

    def _counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        true_positive = np.diag(self.confusion).astype(np.float64)
        false_negative = self.confusion.sum(1) - true_positive
        false_positive = self.confusion.sum(0) - true_positive
        return true_positive, false_positive, false_negative

    def _parts(self, per_class: np.ndarray) -> np.ndarray:
        if self.background is None:
            return per_class
        return np.delete(per_class, self.background)

    def iou_per_class(self) -> np.ndarray:
        """TP / (TP + FP + FN) for every class, background included; NaN for a class never seen."""
        tp, fp, fn = self._counts()
        return _ratio(tp, tp + fp + fn)

    def accuracy_per_class(self) -> np.ndarray:
        """TP / (TP + FN): the share of each class's true pixels labelled right; NaN if it has none."""
        tp, _, fn = self._counts()
        return _ratio(tp, tp + fn)

    def mean_iou(self) -> float:
        """SURREAL's mean IoU: over the parts (background excluded), NaN classes left out."""
        return _nanmean(self._parts(self.iou_per_class()))

    def pixel_accuracy(self) -> float:
        """SURREAL's pixel accuracy: the per-class TP / (TP + FN) averaged over the parts."""
        return _nanmean(self._parts(self.accuracy_per_class()))

    def summary(self) -> dict:
        iou, accuracy = self.iou_per_class(), self.accuracy_per_class()
        background = {} if self.background is None else {
            "background_iou": float(iou[self.background]),
            "background_accuracy": float(accuracy[self.background]),
            "mean_iou_with_background": _nanmean(iou),  # SURREAL's table 3 "fg+bg"
        }
        total = int(self.confusion.sum())
        return {"mean_iou": self.mean_iou(), "pixel_accuracy": self.pixel_accuracy(), **background,
                "overall_accuracy": float(np.trace(self.confusion) / total) if total else float("nan"),
                "pixels": total, "iou_per_class": iou.tolist(), "accuracy_per_class": accuracy.tolist()}


class DepthMetrics:
    """Depth RMSE and st-RMSE (millimetres) over the foreground pixels of every image added."""

    def __init__(self) -> None:
        self.squared_error = 0.0
        self.aligned_squared_error = 0.0
        self.pixels = 0
        self.images = 0

    def update(self, predicted, target, mask) -> None:
        """Add one image (H x W) or a batch (B x H x W) of depths in metres; ``mask`` marks each
        image's foreground (the ground truth's person pixels), where the errors are taken."""
        predicted, target = _numpy(predicted).astype(np.float64), _numpy(target).astype(np.float64)
        mask = _numpy(mask).astype(bool)
        if not predicted.shape == target.shape == mask.shape or predicted.ndim not in (2, 3):
            raise TrainingError(f"depth metrics take H x W or B x H x W predicted depth, target depth and mask of one "
                                f"shape, not {predicted.shape}, {target.shape}, {mask.shape}")
        if predicted.ndim == 2:
            predicted, target, mask = predicted[None], target[None], mask[None]
        if not (np.isfinite(predicted[mask]).all() and np.isfinite(target[mask]).all()):
            raise TrainingError("predicted or target depth is not finite on foreground pixels")
        for p, g, m in zip(predicted, target, mask):
            self._add_image(p[m], g[m])

    def _add_image(self, p: np.ndarray, g: np.ndarray) -> None:
        if p.size == 0:
            return
        self.squared_error += float(((p - g) ** 2).sum())
        scale, shift = _least_squares_scale_shift(p, g)
        self.aligned_squared_error += float(((scale * p + shift - g) ** 2).sum())
        self.pixels += p.size
        self.images += 1

    def rmse_mm(self) -> float:
        return 1000.0 * np.sqrt(self.squared_error / self.pixels) if self.pixels else float("nan")

    def st_rmse_mm(self) -> float:
        return 1000.0 * np.sqrt(self.aligned_squared_error / self.pixels) if self.pixels else float("nan")

    def summary(self) -> dict:
        return {"rmse_mm": float(self.rmse_mm()), "st_rmse_mm": float(self.st_rmse_mm()),
                "pixels": self.pixels, "images": self.images}


def _least_squares_scale_shift(p: np.ndarray, g: np.ndarray) -> tuple[float, float]:
    """(s, b) minimising sum (s p + b - g)^2: s = cov(p, g) / var(p), b = mean(g) - s mean(p)."""
    p_centred = p - p.mean()
    variance = float((p_centred ** 2).sum())
    # a (numerically) constant prediction: only the shift is determined
    scale = float((p_centred * (g - g.mean())).sum()) / variance if variance > 1e-12 * p.size else 0.0
    return scale, float(g.mean() - scale * p.mean())


def pck(predicted_xy, target_xy, visible, threshold: float, normaliser) -> float:
    """Percentage of correct keypoints, as a fraction: among the visible joints, the share whose
    predicted position is within ``threshold * normaliser`` (inclusive) of the true one.

    predicted_xy, target_xy: N x J x D (or J x D) coordinates; visible: N x J (or J) booleans;
    normaliser: one positive length per sample (N values, or a scalar), e.g. the head size
    (PCKh) or the person's box size. NaN when no joint is visible."""
    predicted, target = _numpy(predicted_xy).astype(np.float64), _numpy(target_xy).astype(np.float64)
    visible, normaliser = _numpy(visible).astype(bool), _numpy(normaliser).astype(np.float64).reshape(-1)
    if predicted.ndim == 2:
        predicted, target, visible = predicted[None], target[None], visible.reshape(1, -1)
    if predicted.ndim != 3 or target.shape != predicted.shape or visible.shape != predicted.shape[:2]:
        raise TrainingError(f"pck takes N x J x D predicted and true positions and N x J visibility, not "
                            f"{predicted.shape}, {target.shape}, {visible.shape}")
    if normaliser.size not in (1, predicted.shape[0]) or not (normaliser > 0).all() or not threshold >= 0:
        raise TrainingError(f"pck needs a threshold >= 0 and one positive normaliser per sample (or one for all), "
                            f"not threshold {threshold} and {normaliser.size} normalisers for "
                            f"{predicted.shape[0]} samples")
    distance = np.linalg.norm(predicted - target, axis=-1)
    correct = distance <= threshold * np.broadcast_to(normaliser, predicted.shape[:1])[:, None]
    return float(correct[visible].mean()) if visible.any() else float("nan")

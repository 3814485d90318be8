"""SURREAL's metrics against cases worked out by hand (trainers/metrics.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from synth_core.errors import TrainingError
from trainers.metrics import DepthMetrics, SegmentationMetrics, pck

# A 3x3 image, classes 0 (background), 1, 2. Pixel pairs (true, predicted):
#   (0,0) (0,1) (1,1)
#   (0,0) (1,1) (1,2)
#   (2,2) (2,0) (1,1)
# class 0: TP 2, FN 1 (0->1), FP 1 (2->0): IoU 2/4,   accuracy 2/3
# class 1: TP 3, FN 1 (1->2), FP 1 (0->1): IoU 3/5,   accuracy 3/4
# class 2: TP 1, FN 1 (2->0), FP 1 (1->2): IoU 1/3,   accuracy 1/2
# parts (1, 2): mean IoU (3/5 + 1/3) / 2 = 7/15, pixel accuracy (3/4 + 1/2) / 2 = 5/8
TARGET = np.array([[0, 0, 1], [0, 1, 1], [2, 2, 1]])
PREDICTED = np.array([[0, 1, 1], [0, 1, 2], [2, 0, 1]])


def test_iou_and_accuracy_of_a_3x3_grid_worked_by_hand():
    metrics = SegmentationMetrics(n_classes=3)
    metrics.update(PREDICTED, TARGET)
    np.testing.assert_allclose(metrics.iou_per_class(), [2 / 4, 3 / 5, 1 / 3])
    np.testing.assert_allclose(metrics.accuracy_per_class(), [2 / 3, 3 / 4, 1 / 2])
    assert metrics.mean_iou() == pytest.approx(7 / 15)
    assert metrics.pixel_accuracy() == pytest.approx(5 / 8)
    summary = metrics.summary()
    assert summary["background_iou"] == pytest.approx(0.5)
    assert summary["mean_iou_with_background"] == pytest.approx((1 / 2 + 3 / 5 + 1 / 3) / 3)
    assert summary["overall_accuracy"] == pytest.approx(6 / 9)
    assert summary["pixels"] == 9


def test_scores_pool_pixels_over_the_set_instead_of_averaging_images():
    # image A: 4 part pixels all right (IoU 1); image B: its one part pixel missed (IoU 0).
    # Mean of per-image IoUs would be 1/2; pooled: TP 4, FN 1, FP 0 -> 4/5.
    metrics = SegmentationMetrics(n_classes=2)
    metrics.update(np.array([1, 1, 1, 1]), np.array([1, 1, 1, 1]))
    metrics.update(np.array([0, 0, 0, 0]), np.array([1, 0, 0, 0]))
    assert metrics.mean_iou() == pytest.approx(4 / 5)
    assert metrics.pixel_accuracy() == pytest.approx(4 / 5)


def test_absent_classes_are_nan_and_left_out_of_the_means():
    # 4 classes; class 3 appears nowhere (NaN IoU and accuracy); class 2 is predicted once but never
    # true: IoU 0 / (0 + 1 + 0) = 0 counts in the mean, accuracy 0 / 0 is NaN and does not.
    # class 1: TP 2, FN 0, FP 0 -> IoU 1, accuracy 1.
    metrics = SegmentationMetrics(n_classes=4)
    metrics.update(torch.tensor([[0, 1], [1, 2]]), torch.tensor([[0, 1], [1, 0]]))
    iou, accuracy = metrics.iou_per_class(), metrics.accuracy_per_class()
    assert math.isnan(iou[3]) and math.isnan(accuracy[3]) and math.isnan(accuracy[2])
    assert iou[2] == 0 and iou[1] == 1
    assert metrics.mean_iou() == pytest.approx((1 + 0) / 2)
    assert metrics.pixel_accuracy() == pytest.approx(1.0)
    assert math.isnan(SegmentationMetrics(n_classes=3).mean_iou())


def test_a_batch_counts_as_its_images_and_matches_numpy_counts():
    rng = np.random.default_rng(0)
    target, predicted = rng.integers(0, 15, (4, 16, 16)), rng.integers(0, 15, (4, 16, 16))
    batched, one_by_one = SegmentationMetrics(), SegmentationMetrics()
    batched.update(torch.from_numpy(predicted), torch.from_numpy(target))
    for p, t in zip(predicted, target):
        one_by_one.update(p, t)
    np.testing.assert_array_equal(batched.confusion, one_by_one.confusion)
    for k in range(15):  # IoU by set counting, independently of the confusion matrix
        inter, union = np.sum((predicted == k) & (target == k)), np.sum((predicted == k) | (target == k))
        assert batched.iou_per_class()[k] == pytest.approx(inter / union)


def test_segmentation_metrics_reject_bad_labels():
    metrics = SegmentationMetrics(n_classes=3)
    with pytest.raises(TrainingError, match="outside 0..2"):
        metrics.update(np.array([0, 3]), np.array([0, 1]))
    with pytest.raises(TrainingError, match="shape"):
        metrics.update(np.zeros((2, 2), int), np.zeros((2, 3), int))
    with pytest.raises(TrainingError, match="integer"):
        metrics.update(np.zeros(2), np.zeros(2, int))
    assert metrics.confusion.sum() == 0


def test_depth_rmse_of_a_constant_offset_is_the_offset_and_st_rmse_forgives_scale_and_shift():
    rng = np.random.default_rng(1)
    g = rng.uniform(7, 9, (2, 8, 8))
    mask = rng.uniform(size=g.shape) > 0.3
    offset = DepthMetrics()
    offset.update(g + 0.01, g, mask)
    assert offset.rmse_mm() == pytest.approx(10.0)
    assert offset.st_rmse_mm() == pytest.approx(0.0, abs=1e-6)
    affine = DepthMetrics()
    affine.update(2 * g + 3, g, mask)
    assert affine.rmse_mm() > 1000
    assert affine.st_rmse_mm() == pytest.approx(0.0, abs=1e-6)


def test_depth_errors_worked_by_hand():
    # foreground g = (0, 1, 2) m, prediction p = (0, 1, 3); the 4th pixel is background (1e10).
    # RMSE = sqrt((0 + 0 + 1) / 3) m.
    # Least squares s p + b ~ g: mean p 4/3, mean g 1; cov = 3, var = 14/3 -> s = 9/14, b = 1/7;
    # fitted (2/14, 11/14, 29/14), residuals (2, -3, 1)/14, squared sum 14/196 = 1/14;
    # st-RMSE = sqrt(1/14 / 3) = sqrt(1/42) m.
    g = np.array([[0.0, 1.0], [2.0, 1e10]])
    p = np.array([[0.0, 1.0], [3.0, 5.0]])
    mask = g < 100
    metrics = DepthMetrics()
    metrics.update(torch.from_numpy(p), torch.from_numpy(g), torch.from_numpy(mask))
    assert metrics.rmse_mm() == pytest.approx(1000 * math.sqrt(1 / 3))
    assert metrics.st_rmse_mm() == pytest.approx(1000 * math.sqrt(1 / 42))
    # the same fit by numpy's polyfit, as a second opinion
    s, b = np.polyfit(p[mask], g[mask], 1)
    assert metrics.st_rmse_mm() == pytest.approx(1000 * np.sqrt(np.mean((s * p[mask] + b - g[mask]) ** 2)))
    # a constant prediction: only the shift is fitted -> residuals g - mean g = (-1, 0, 1), sqrt(2/3) m
    flat = DepthMetrics()
    flat.update(np.full((2, 2), 4.0), g, mask)
    assert flat.st_rmse_mm() == pytest.approx(1000 * math.sqrt(2 / 3))


def test_depth_errors_pool_pixels_and_align_each_image_alone():
    # image 1: 1 pixel 0.01 m off; image 2: 3 pixels 0.02 m off.
    # pooled: sqrt((1e-4 + 3 * 4e-4) / 4) = sqrt(3.25e-4) m = 18.03 mm (the mean of image RMSEs is 15 mm)
    g = np.full((2, 2, 2), 8.0)
    p = g + np.array([0.01, 0.02]).reshape(2, 1, 1)
    mask = np.array([[[True, False], [False, False]], [[True, True], [True, False]]])
    metrics = DepthMetrics()
    metrics.update(p, g, mask)
    assert metrics.rmse_mm() == pytest.approx(1000 * math.sqrt(3.25e-4))
    assert metrics.summary()["images"] == 2 and metrics.summary()["pixels"] == 4
    # per-image alignment: different scales and shifts per image still give 0
    rng = np.random.default_rng(2)
    g = rng.uniform(7, 9, (2, 6, 6))
    p = np.stack([2 * g[0] + 3, 0.5 * g[1] - 1])
    aligned = DepthMetrics()
    aligned.update(p, g, np.ones_like(g, bool))
    assert aligned.st_rmse_mm() == pytest.approx(0.0, abs=1e-6)


def test_depth_metrics_reject_bad_input_and_report_nan_when_empty():
    metrics = DepthMetrics()
    assert math.isnan(metrics.rmse_mm()) and math.isnan(metrics.st_rmse_mm())
    with pytest.raises(TrainingError, match="shape"):
        metrics.update(np.zeros((2, 2)), np.zeros((2, 3)), np.ones((2, 2), bool))
    with pytest.raises(TrainingError, match="finite"):
        metrics.update(np.full((2, 2), np.nan), np.ones((2, 2)), np.ones((2, 2), bool))
    metrics.update(np.zeros((2, 2)), np.ones((2, 2)), np.zeros((2, 2), bool))
    assert metrics.summary()["images"] == 0


def test_pck_worked_by_hand():
    # threshold 0.5 x normaliser (10, 20) -> limits 5 and 10 px, inclusive.
    # sample 0: joint 0 at distance 5 (in), joint 1 at 6 (out), joint 2 invisible.
    # sample 1: distances 10 (in), 11 (out), sqrt 2 (in). -> 3 of 5 visible joints.
    target = np.array([[[0, 0], [10, 0], [0, 10]], [[0, 0], [0, 0], [0, 0]]], float)
    predicted = np.array([[[3, 4], [10, 6], [50, 50]], [[6, 8], [0, 11], [1, 1]]], float)
    visible = np.array([[True, True, False], [True, True, True]])
    assert pck(predicted, target, visible, 0.5, np.array([10.0, 20.0])) == pytest.approx(3 / 5)
    # one normaliser of 10 for both: sample 1's distance-10 joint is now out -> 2 of 5
    assert pck(torch.from_numpy(predicted), target, visible, 0.5, 10.0) == pytest.approx(2 / 5)
    assert math.isnan(pck(predicted, target, np.zeros((2, 3), bool), 0.5, 10.0))
    assert pck(predicted[0], target[0], visible[0], 0.5, 10.0) == pytest.approx(1 / 2)


def test_pck_rejects_bad_input():
    xy = np.zeros((2, 3, 2))
    with pytest.raises(TrainingError, match="visibility"):
        pck(xy, xy, np.ones((2, 4), bool), 0.5, 1.0)
    with pytest.raises(TrainingError, match="normaliser"):
        pck(xy, xy, np.ones((2, 3), bool), 0.5, np.array([1.0, 0.0]))
    with pytest.raises(TrainingError, match="normaliser"):
        pck(xy, xy, np.ones((2, 3), bool), 0.5, np.ones(3))


def test_a_log_row_averages_each_term_over_the_steps_that_had_it():
    """Yang et al.'s adversarial terms start after pre-training: a row across the switch is their
    mean over the adversarial steps, a row before it NaN; a loss that became NaN still stops."""
    from trainers.distributed import World
    from trainers.train import LossWindow

    world = World(0, 1, torch.device("cpu"))
    window = LossWindow()
    for loss, loss_d in [(4.0, None), (2.0, None), (1.0, 0.5), (1.0, torch.tensor(1.5))]:
        window.add({"loss": loss, "loss_d": loss_d})
    assert window.means(world, 4) == {"loss": 2.0, "loss_d": 1.0}
    window.reset()
    window.add({"loss": 1.0, "loss_d": None})
    means = window.means(world, 5)
    assert means["loss"] == 1.0 and math.isnan(means["loss_d"])
    window.reset()
    window.add({"loss": float("nan"), "loss_d": None})
    with pytest.raises(TrainingError, match="the loss became nan at step 6"):
        window.means(world, 6)

"""The stacked hourglass and its loss (trainers/models): shapes, gradients, learning, errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from synth_core.errors import TrainingError
from trainers.metrics import SegmentationMetrics
from trainers.models import StackedHourglass, stacked_cross_entropy

CONFIGURATIONS = list(itertools.product((1, 2), (32, 64), (1, 2), (False, True), (3, 5)))


@pytest.mark.parametrize("stacks,features,modules,full_res_head,in_channels", CONFIGURATIONS)
def test_outputs_one_quarter_size_map_per_stack_then_the_full_resolution_map(stacks, features, modules,
                                                                              full_res_head, in_channels):
    torch.manual_seed(0)
    model = StackedHourglass(in_channels=in_channels, n_classes=7, stacks=stacks, features=features,
                             modules=modules, full_res_head=full_res_head).eval()
    for size in (64, 128, 256):
        with torch.no_grad():
            outputs = model(torch.rand(2, in_channels, size, size))
        expected = [(2, 7, size // 4, size // 4)] * stacks + [(2, 7, size, size)] * full_res_head
        assert [tuple(o.shape) for o in outputs] == expected
        assert model.output_strides == tuple(size // o.shape[-1] for o in outputs)
        assert all(torch.isfinite(o).all() for o in outputs)


def test_depth_sets_the_size_multiple_and_non_square_inputs_work():
    model = StackedHourglass(stacks=1, features=16, depth=2).eval()
    with torch.no_grad():
        outputs = model(torch.rand(1, 3, 16, 48))
    assert tuple(outputs[0].shape) == (1, 15, 4, 12)
    with pytest.raises(TrainingError, match="multiple of 16"):
        model(torch.rand(1, 3, 24, 24))


def test_every_parameter_learns_from_the_loss():
    """No dead branch: each stack's head, the re-injections and the full-resolution head all
    get a gradient (convolutions feeding batch norms have no bias, whose gradient would be 0).
    128 px, so that the innermost level's batch norms see 2 x 2 x 2 values, not 2 (which they
    would normalise to +-1 whatever the input, passing almost no gradient)."""
    torch.manual_seed(0)
    model = StackedHourglass(in_channels=5, n_classes=4, stacks=3, features=32, modules=2, full_res_head=True)
    images = torch.rand(2, 5, 128, 128)
    labels = torch.randint(0, 4, (2, 128, 128))
    loss = stacked_cross_entropy(model(images), labels[:, 2::4, 2::4], full_res_target=labels)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"{name} is not connected to the loss"
        assert parameter.grad.abs().max() > 1e-5, f"{name} gets no gradient"


def test_each_stack_feeds_the_next_through_its_predictions():
    # Changing stack 1's classifier changes stack 2's output only through the re-injection.
    torch.manual_seed(0)
    model = StackedHourglass(stacks=2, features=32).eval()
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(images)
        model.heads[0].classifier.weight.mul_(2.0)
        after = model(images)
    assert not torch.allclose(before[0], after[0])
    assert not torch.allclose(before[1], after[1])


def blob_batch(n: int, size: int, n_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of random rectangles, one colour per class plus noise; labels at size / 4.
    Rectangle edges fall on multiples of 4, so every coarse pixel has one class."""
    rng = np.random.default_rng(seed)
    colours = rng.uniform(0, 1, (n_classes, 3))
    coarse = np.zeros((n, size // 4, size // 4), np.int64)
    for image in coarse:
        for _ in range(4):
            k = rng.integers(1, n_classes)
            y, x = rng.integers(0, size // 4 - 3, 2)
            h, w = rng.integers(3, size // 8, 2)
            image[y:y + h, x:x + w] = k
    fine = coarse.repeat(4, 1).repeat(4, 2)
    images = colours[fine].transpose(0, 3, 1, 2) + rng.normal(0, 0.05, (n, 3, size, size))
    return torch.tensor(images, dtype=torch.float32), torch.from_numpy(coarse)


def test_a_small_hourglass_overfits_a_batch_of_blobs():
    torch.manual_seed(0)
    images, labels = blob_batch(n=4, size=64, n_classes=4, seed=0)
    model = StackedHourglass(n_classes=4, stacks=2, features=32)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=2e-3)
    first = None
    for _ in range(60):
        loss = stacked_cross_entropy(model(images), labels)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(images)[-1].argmax(1)
    metrics = SegmentationMetrics(n_classes=4)
    metrics.update(predicted, labels)
    print(f"loss {first:.3f} -> {loss.item():.3f}, mean IoU {metrics.mean_iou():.3f}")
    assert loss.item() < 0.1 * first
    assert metrics.mean_iou() > 0.9


def test_surreal_configuration_has_about_the_original_parameter_count():
    # Newell et al.'s 8-stack, 256-feature hourglass has ~25 M parameters (their pose model);
    # the 15-class version differs only in the classifiers and the re-injection of predictions.
    model = StackedHourglass(in_channels=3, n_classes=15, stacks=8, features=256, modules=1, depth=4)
    count = sum(p.numel() for p in model.parameters())
    assert 24e6 < count < 26.5e6
    # RGB + flow adds only the stem's 7x7 filters for 2 more channels: 2 x 49 x 64
    with_flow = StackedHourglass(in_channels=5, n_classes=15)
    assert sum(p.numel() for p in with_flow.parameters()) - count == 2 * 49 * 64


# Tiny logits worked by hand. Stack 1, pixel a: logits (0, 0, 0), true class 1: p = 1/3, CE ln 3;
# pixel b: (0, ln 2, 0), class 1: p = 2/4, CE ln 2. Mean (ln 3 + ln 2) / 2 = ln 6 / 2.
# Stack 2, pixel a: (0, ln 3, 0), class 0: p = 1/5, CE ln 5; pixel b: (0, 0, 0), class 2: CE ln 3.
# Mean ln 15 / 2. Sum over stacks (ln 6 + ln 15) / 2 = ln 90 / 2.
HAND_LOGITS = [torch.tensor([[0.0, 0.0], [0.0, math.log(2)], [0.0, 0.0]]),
               torch.tensor([[0.0, 0.0], [math.log(3), 0.0], [0.0, 0.0]])]


def test_stacked_cross_entropy_of_logits_worked_by_hand():
    outputs = [logits.reshape(1, 3, 1, 2) for logits in HAND_LOGITS]
    target = torch.tensor([[[1, 1]]])
    # SURREAL: the same target (1, 1) for every stack. Stack 2 then: pixel a p(1) = 3/5 -> ln(5/3),
    # pixel b p(1) = 1/3 -> ln 3; mean ln 5 / 2.
    loss = stacked_cross_entropy(outputs, target)
    assert loss.item() == pytest.approx(math.log(6) / 2 + math.log(5) / 2)
    # Stack 2's logits tiled to a 2 x 4 "full-resolution" output (a b a b) with its own labels
    # (0 2 0 2): each (a, b) pair scores as in the comment above, ln 15 / 2.
    full = HAND_LOGITS[1].reshape(1, 3, 1, 1, 2).repeat(1, 1, 2, 2, 1).reshape(1, 3, 2, 4)
    full_target = torch.tensor([[[0, 2]]]).repeat(1, 2, 2)
    loss = stacked_cross_entropy([outputs[0], full], target, full_res_target=full_target)
    assert loss.item() == pytest.approx(math.log(90) / 2)


def test_stacked_cross_entropy_matches_a_numpy_log_softmax():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(2, 2, 5, 3, 3))  # stacks x B x C x H x W
    target = rng.integers(0, 5, (2, 3, 3))
    weight = np.array([0.5, 1.0, 2.0, 1.0, 3.0])
    log_p = logits - np.log(np.exp(logits).sum(2, keepdims=True))
    picked = np.take_along_axis(log_p, target[None, :, None], axis=2)[:, :, 0]  # stacks x B x H x W
    expected = -picked.mean(axis=(1, 2, 3)).sum()
    w = weight[target]
    expected_weighted = -(picked * w).sum(axis=(1, 2, 3)).sum() / w.sum()
    outputs = [torch.tensor(s) for s in logits]
    assert stacked_cross_entropy(outputs, torch.from_numpy(target)).item() == pytest.approx(expected)
    got = stacked_cross_entropy(outputs, torch.from_numpy(target), weight=torch.tensor(weight)).item()
    assert got == pytest.approx(expected_weighted)
    per_stack = sum(F.cross_entropy(o, torch.from_numpy(target)) for o in outputs)
    assert stacked_cross_entropy(outputs, torch.from_numpy(target)).item() == pytest.approx(per_stack.item())


def test_stacked_cross_entropy_rejects_missing_or_bad_labels():
    stack, full = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 16, 16)
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    with pytest.raises(TrainingError, match="full_res_target"):
        stacked_cross_entropy([stack, full], target)
    with pytest.raises(TrainingError, match="integer"):
        stacked_cross_entropy([stack], target.float())
    with pytest.raises(TrainingError, match="no network outputs"):
        stacked_cross_entropy([], target)


@pytest.mark.parametrize("arguments,message", [
    (dict(features=30), "multiple of 4"),
    (dict(features=0), "multiple of 4"),
    (dict(stacks=0), "at least 1"),
    (dict(depth=0), "at least 1"),
    (dict(modules=0), "at least 1"),
    (dict(n_classes=1), "n_classes"),
    (dict(in_channels=0), "in_channels"),
])
def test_impossible_configurations_are_refused(arguments, message):
    with pytest.raises(TrainingError, match=message):
        StackedHourglass(**arguments)


def test_inputs_of_the_wrong_size_or_channels_are_refused():
    model = StackedHourglass(stacks=1, features=16).eval()
    with pytest.raises(TrainingError, match="multiple of 64"):
        model(torch.rand(1, 3, 96, 96))
    with pytest.raises(TrainingError, match="B x 3 x S x S"):
        model(torch.rand(1, 5, 64, 64))

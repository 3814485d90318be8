"""SURREAL's loss: pixel-wise cross-entropy on every stack's output (intermediate supervision)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from synth_core.errors import TrainingError


def stacked_cross_entropy(outputs: Sequence[torch.Tensor], target: torch.Tensor,
                          full_res_target: torch.Tensor | None = None,
                          weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over ``outputs`` (B x C x h x w logits each) of the cross-entropy averaged over pixels.

    Each output is compared with the labels of its own size: ``target`` (B x h x w class
    indices, the stacks' S/4 size) or, for the full-resolution head's S x S output,
    ``full_res_target`` (B x S x S). So with a full-resolution head the loss has stacks + 1
    equal terms. ``weight``: optional per-class weights, as torch's cross_entropy (the mean is
    then weighted: divided by the summed weights of the pixels' classes).
    """
    if not outputs:
        raise TrainingError("no network outputs to compute a loss on")
    labels_by_size = {}
    for labels in (full_res_target, target):
        if labels is not None:
            if labels.dtype.is_floating_point or labels.dtype == torch.bool:
                raise TrainingError(f"labels must be integer class indices, not {labels.dtype}")
            labels_by_size[tuple(labels.shape)] = labels.long()
    total = outputs[0].new_zeros((), dtype=torch.float32)
    for logits in outputs:
        key = (logits.shape[0], *logits.shape[2:])
        if key not in labels_by_size:
            sizes = " or ".join(str(size) for size in labels_by_size)
            hint = "" if full_res_target is not None else " (a full-resolution output needs full_res_target)"
            raise TrainingError(f"no labels of the size of output {tuple(logits.shape)}: the labels given are "
                                f"{sizes}{hint}")
        total = total + F.cross_entropy(logits, labels_by_size[key], weight=weight)
    return total

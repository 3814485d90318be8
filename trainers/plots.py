"""What a person looks at during and after training: a progress bar, the loss curve and
predictions beside the ground truth (PNG)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib import colormaps  # noqa: E402

from synth_core.body.parts import CLASS14_NAMES, PART_TO_CLASS14, part_palette  # noqa: E402
from trainers import runs  # noqa: E402


def class_palette(task: str) -> np.ndarray:
    """RGB uint8 per class: segmentation classes take the colour `synth preview` gives their
    first part (background black); depth bins run along turbo from near (red) to far (blue)."""
    if task == "segm":
        parts = part_palette()
        first_part = [int(np.flatnonzero(PART_TO_CLASS14 == c)[0]) for c in range(len(CLASS14_NAMES))]
        return parts[first_part]
    bins = colormaps["turbo"](np.linspace(1.0, 0.0, 19))[:, :3]
    return np.vstack([[0, 0, 0], np.round(bins * 255)]).astype(np.uint8)


def colour_classes(classes: np.ndarray, task: str) -> np.ndarray:
    return class_palette(task)[np.asarray(classes, dtype=np.int64)]


def image_to_rgb(image: torch.Tensor) -> np.ndarray:
    """A network input (C x H x W, RGB first, [0, 1]) as uint8 H x W x 3."""
    return (image[:3].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def upscale(labels: np.ndarray, size: int) -> np.ndarray:
    factor = size // labels.shape[0]
    return np.repeat(np.repeat(labels, factor, axis=0), factor, axis=1)


def sample_predictions(model, dataset, task, device, path: Path, amp_dtype=None, count: int = 4) -> None:
    """Rows of held-out samples: input crop, prediction, ground truth."""
    from trainers.train import predict_classes

    indices = np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int)
    samples = [dataset[int(i)] for i in indices]
    images = torch.stack([s["image"] for s in samples]).to(device)
    was_training = model.training
    model.eval()
    predicted = predict_classes(model, images, amp_dtype).cpu().numpy()
    model.train(was_training)
    size = images.shape[-1]
    fig, axes = plt.subplots(len(samples), 3, figsize=(7.5, 2.5 * len(samples)), squeeze=False)
    for row, (sample, prediction) in enumerate(zip(samples, predicted)):
        panels = [image_to_rgb(sample["image"]), upscale(colour_classes(prediction, task.name), size),
                  upscale(colour_classes(sample[task.target].numpy(), task.name), size)]
        for ax, panel, title in zip(axes[row], panels, ("input", "prediction", "ground truth")):
            ax.imshow(panel)
            ax.set_title(f"{title} (clip {int(sample['clip'])}, frame {int(sample['frame'])})" if title == "input"
                         else title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    _save(fig, path)


def loss_curve(train_rows: list[dict], eval_rows: list[dict], score: str, path: Path, title: str = "",
               losses: tuple[str, ...] = ("loss",), loss_label: str | None = None) -> None:
    """Training losses (the columns ``losses``, log scale) and the held-out score against the step."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, colour in zip(losses, ("tab:blue", "tab:cyan", "tab:purple", "tab:green", "tab:olive", "tab:gray")):
        rows = [r for r in train_rows if r.get(name) not in (None, "") and float(r[name]) > 0]
        if rows:   # a term logged in one row only (e.g. the last stage's) is a point, not a line
            ax.plot([int(r["step"]) for r in rows], [float(r[name]) for r in rows], color=colour, label=name,
                    marker="o" if len(rows) == 1 else None)
    if len(losses) > 1:
        ax.legend(loc="lower left", fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel(loss_label or "training loss", color="tab:blue")
    ax.set_yscale("log")
    if eval_rows:
        other = ax.twinx()
        other.plot([int(r["step"]) for r in eval_rows], [float(r[score]) for r in eval_rows], "o-", color="tab:red")
        other.set_ylabel(f"held-out {score}", color="tab:red")
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    runs.atomic_write(Path(path), lambda p: fig.savefig(p, dpi=100, format="png"))
    plt.close(fig)


class _Bar:
    def __init__(self, progress, task) -> None:
        self.progress, self.task = progress, task

    def update(self, step: int, loss: float, rate: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, loss=f"{loss:.4f}", rate=f"{rate:.1f}")


@contextlib.contextmanager
def progress(total: int, done: int, enabled: bool = True):
    """A rich progress bar of optimiser steps with the loss and samples/s (silent when disabled)."""
    if not enabled:
        yield _Bar(None, None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TextColumn("{task.fields[rate]} samples/s"), TimeRemainingColumn()]
    with Progress(*columns) as bar:
        task = bar.add_task("train", total=total, completed=done, loss="-", rate="-")
        yield _Bar(bar, task)

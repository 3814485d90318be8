"""The training loop of `synth train segm|depth`: a plain loop over optimiser steps.

Reproducible: the model's initial weights come from ``seed``; batch k of every process is a
function of (seed, k) (:class:`StepSampler`), and each sample's augmentation a function of
(seed, epoch, index) (``FrameDataset``). A run resumed from its last checkpoint therefore sees
the same batches as an uninterrupted one, and on the CPU ends with the same weights.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset

from synth_core.errors import TrainingError
from trainers import distributed, plots, runs
from trainers.config import TrainConfig
from trainers.data import FrameDataset, open_dataset, split_clips
from trainers.models import StackedHourglass, stacked_cross_entropy
from trainers.tasks import Task, passes_for, task_for

# NHWC: tensor cores for cuDNN's convolutions, and 1.3x on the CPU too (bench/train_speed.py)
MEMORY_FORMAT = torch.channels_last


# ------------------------------------------------------------------------------- building blocks

def build_model(config: TrainConfig) -> StackedHourglass:
    return StackedHourglass(in_channels=config.in_channels, n_classes=config.n_classes, stacks=config.stacks,
                            features=config.features, modules=config.modules, depth=config.depth,
                            full_res_head=config.full_res_head)


def label_size(config: TrainConfig) -> int:
    """Labels come at the finest output's size: input_size with the full-resolution head."""
    return config.input_size if config.full_res_head else config.output_size


def make_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    optimizer = {"rmsprop": torch.optim.RMSprop, "adam": torch.optim.Adam}[config.optimizer]
    return optimizer(model.parameters(), lr=config.lr)


def frame_dataset(config: TrainConfig, clips: list[Path], augment: bool) -> FrameDataset:
    """Frames of ``clips`` as the run's network sees them (crops, inputs, labels)."""
    return FrameDataset(clips, targets=task_for(config).targets, input_size=config.input_size,
                        output_size=label_size(config), inputs=tuple(config.inputs.split("+")),
                        augment=augment, seed=config.seed)


def held_out_clips(config: TrainConfig, data: str | Path) -> list[Path]:
    """The clips of ``data`` a run may be scored on: all of them, except when ``data`` is the
    run's own training folder, whose held-out clips only."""
    clips = open_dataset(data, needs=passes_for(config))
    if config.val_data is None and Path(data).resolve() == Path(config.data).resolve():
        return split_clips(clips, held_out=config.held_out)[1]
    return clips


def make_datasets(config: TrainConfig) -> tuple[FrameDataset, FrameDataset]:
    """Training and held-out frames: held-out clips are whole clips the network never sees."""
    clips = open_dataset(config.data, needs=passes_for(config))
    if config.val_data:
        train_clips, eval_clips = clips, open_dataset(config.val_data, needs=passes_for(config))
    else:
        if len(clips) < 2:
            raise TrainingError(f"{config.data} has 1 clip; held-out evaluation needs at least 2 "
                                f"(or give --val-data)")
        train_clips, eval_clips = split_clips(clips, held_out=config.held_out)
    return frame_dataset(config, train_clips, config.augment), frame_dataset(config, eval_clips, False)


def preflight(config: TrainConfig, world_size: int = 1) -> tuple[FrameDataset, FrameDataset]:
    """Every check of the user's input that can fail, before a run folder is written."""
    distributed.resolve_device(config.device)
    train_set, eval_set = make_datasets(config)
    check_batch_size(config, world_size, len(train_set), f"training frames of {config.data}")
    return train_set, eval_set


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """Mixed precision on CUDA: bf16 where the GPU has it (no loss scaling needed), else fp16."""
    if not config.amp or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


class StepSampler(Sampler):
    """Yields (epoch, index) for this process's share of every global batch, from global batch
    ``start_step`` on, forever. Epoch e's order is a permutation drawn from (seed, e); the last
    incomplete global batch of an epoch is dropped."""

    def __init__(self, n: int, batch_per_rank: int, world_size: int, rank: int, seed: int, start_step: int = 0):
        self.n, self.batch, self.world, self.rank, self.seed = n, batch_per_rank, world_size, rank, seed
        self.steps_per_epoch = n // (batch_per_rank * world_size)
        self.start_step = start_step

    def __iter__(self):
        epoch, batch_in_epoch = divmod(self.start_step, self.steps_per_epoch)
        while True:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch))
            usable = order[: self.steps_per_epoch * self.batch * self.world]
            mine = usable.reshape(self.steps_per_epoch, self.world, self.batch)[batch_in_epoch:, self.rank]
            for index in mine.reshape(-1).tolist():
                yield epoch, index
            epoch, batch_in_epoch = epoch + 1, 0


class AtEpoch(Dataset):
    """Lets the sampler set the augmentation epoch inside each DataLoader worker."""

    def __init__(self, dataset: FrameDataset) -> None:
        self.dataset = dataset

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        self.dataset.set_epoch(epoch)
        return self.dataset[index]


def _one_thread_per_worker(_: int) -> None:
    # each loader worker is one core's worth of work; OpenCV's and torch's own pools would fight
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def coarse_labels(labels: torch.Tensor, factor: int = 4) -> torch.Tensor:
    """Full-resolution labels at the stacks' resolution: coarse pixel j covers fine pixels
    4j..4j+3 (centre 4j + 1.5); it takes fine pixel 4j + 2, one of the two nearest its centre."""
    return labels[..., factor // 2::factor, factor // 2::factor]


def forward_loss(model, batch: dict, task: Task, config: TrainConfig, device, amp_dtype):
    images = batch["image"].to(device, non_blocking=True, memory_format=MEMORY_FORMAT)
    target = batch[task.target].to(device, non_blocking=True)
    with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        outputs = model(images)
        if config.full_res_head:
            return stacked_cross_entropy(outputs, coarse_labels(target), full_res_target=target)
        return stacked_cross_entropy(outputs, target)


@torch.no_grad()
def predict_logits(model, images: torch.Tensor, amp_dtype=None) -> torch.Tensor:
    """The finest output (the last stack, or the full-resolution head), float32."""
    with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        return model(images)[-1].float()


def predict_classes(model, images: torch.Tensor, amp_dtype=None) -> torch.Tensor:
    """Class per pixel from the finest output."""
    return predict_logits(model, images, amp_dtype).argmax(1)


@torch.no_grad()
def evaluate(model, dataset, task: Task, device, amp_dtype=None, batch_size: int = 8, workers: int = 0) -> dict:
    """Held-out metrics over ``dataset`` (no augmentation): SURREAL's IoU / accuracy, or depth RMSE."""
    was_training = model.training
    model.eval()
    metrics = task.metrics()
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, worker_init_fn=_one_thread_per_worker)
    for batch in loader:
        task.update(metrics, predict_logits(model, batch["image"].to(device), amp_dtype).cpu(), batch)
    model.train(was_training)
    return metrics.summary()


def evenly_spaced(dataset, count: int | None):
    if count is None or count >= len(dataset):
        return dataset
    return Subset(dataset, np.linspace(0, len(dataset) - 1, count).round().astype(int).tolist())


# ------------------------------------------------------- pieces every loop uses (segm/depth, pose)

def step_loader(dataset, batch_per_rank: int, world: distributed.World, seed: int, start_step: int,
                workers: int, device: torch.device) -> tuple[DataLoader, StepSampler]:
    """Batches of ``dataset`` from global batch ``start_step`` on, forever, reproducibly."""
    sampler = StepSampler(len(dataset), batch_per_rank, world.size, world.rank, seed, start_step=start_step)
    loader = DataLoader(AtEpoch(dataset), batch_size=batch_per_rank, sampler=sampler, num_workers=workers,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                        worker_init_fn=_one_thread_per_worker)
    return loader, sampler


def check_batch_size(config: TrainConfig, world_size: int, n_samples: int, what: str) -> None:
    if config.batch_size % world_size:
        raise TrainingError(f"batch size {config.batch_size} does not split over {world_size} processes; "
                            f"use a multiple of {world_size}")
    if n_samples < config.batch_size:
        raise TrainingError(f"batch size {config.batch_size} is larger than the {n_samples} {what}")


class LossWindow:
    """Sums of the values a step reports (tensors stay on their device until read), averaged over
    the steps since the last log row that reported them and over the processes. A step reports
    None for a term it does not have (yet): the term is averaged over the other steps, and is NaN
    in a row with none."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums, self.counts, self.steps, self.start = {}, {}, 0, time.perf_counter()

    def add(self, values: dict) -> None:
        for name, value in values.items():
            self.sums.setdefault(name, 0.0)
            self.counts.setdefault(name, 0)
            if value is None:
                continue
            value = value.detach().float() if isinstance(value, torch.Tensor) else float(value)
            self.sums[name] = self.sums[name] + value
            self.counts[name] += 1
        self.steps += 1

    def means(self, world: distributed.World, step: int) -> dict[str, float]:
        means = {name: world.mean(float(total) / self.counts[name] if self.counts[name] else math.nan)
                 for name, total in self.sums.items()}
        if not math.isfinite(means.get("loss", 0.0)):
            raise TrainingError(f"the loss became {means['loss']} at step {step}; lower --lr, or turn "
                                f"off mixed precision (--no-amp)")
        return means

    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def log(self, logs: "RunLogs | None", bar, world: distributed.World, step: int, epoch: int,
            config: TrainConfig) -> None:
        """One train_log.csv row (main process) and the progress bar's loss and rate from the
        steps since the last row; then starts the next window."""
        means, seconds = self.means(world, step), self.seconds()
        rate = self.steps * config.batch_size / seconds
        if logs:
            logs.train_row(step, epoch, means, config.lr, rate, seconds)
        bar.update(step, means["loss"], rate)
        self.reset()


class RunLogs:
    """train_log.csv, eval_log.csv and TensorBoard, cut back to ``step`` when a run resumes."""

    def __init__(self, run_dir: Path, train_fields: list[str] | None, eval_fields: list[str], step: int) -> None:
        """``train_fields``: what a step reports; None: the columns of the run's train_log.csv,
        or for a new log the keys of the first row written."""
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir = run_dir
        path = run_dir / "train_log.csv"
        fields = _csv_header(path) if train_fields is None else self._train_columns(train_fields)
        self.train = runs.CsvLog(path, fields or [])
        self.eval = runs.CsvLog(run_dir / "eval_log.csv", ["step", *eval_fields])
        for log in (self.train, self.eval):
            log.cut_after(step)
        self.board = SummaryWriter(str(run_dir / "tensorboard"), purge_step=step if step else None)

    @staticmethod
    def _train_columns(train_fields) -> list[str]:
        return ["step", "epoch", *train_fields, "lr", "samples_per_s", "seconds"]

    def train_row(self, step: int, epoch: int, values: dict[str, float], lr: float, rate: float,
                  seconds: float) -> None:
        if not self.train.fields:
            self.train.fields = self._train_columns(values)
        self.train.append({"step": step, "epoch": epoch, **{k: f"{v:.6g}" for k, v in values.items()}, "lr": lr,
                           "samples_per_s": f"{rate:.2f}", "seconds": f"{seconds:.3f}"})
        for name, value in values.items():
            self.board.add_scalar(f"train/{name}", value, step)
        self.board.add_scalar("train/samples_per_s", rate, step)

    def eval_row(self, step: int, metrics: dict) -> None:
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        self.eval.append({"step": step, **{k: f"{v:.6g}" for k, v in scalars.items()}})
        for name, value in scalars.items():
            self.board.add_scalar(f"eval/{name}", value, step)
        self.board.flush()

    def last_eval(self) -> dict:
        rows = self.eval.read()
        return {k: float(v) for k, v in rows[-1].items() if k != "step" and v != ""} if rows else {}

    def plot(self, score: str, title: str, losses: tuple[str, ...] = ("loss",), loss_label: str | None = None) -> None:
        plots.loss_curve(self.train.read(), self.eval.read(), score, self.run_dir / "loss_curve.png", title=title,
                         losses=losses, loss_label=loss_label)

    def close(self) -> dict:
        """Close TensorBoard's writer; returns the last held-out metrics."""
        self.board.close()
        return self.last_eval()


def _csv_header(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    with open(path, newline="") as handle:
        return next(csv.reader(handle), None)


def save_run_checkpoints(run_dir: Path, config: TrainConfig, model: torch.nn.Module, step: int, metrics: dict,
                         score: float, best: float | None, better, optimizer, scaler, extra=None) -> float | None:
    """best.pt when ``score`` beats ``best`` (``better(score, best)``), then last.pt with the
    optimiser state; returns the best score so far."""
    if not math.isnan(score) and better(score, best):
        best = score
        runs.save_checkpoint(runs.checkpoint_path(run_dir, "best"), config, model, step,
                             metrics={**metrics, "best": best}, extra=extra)
    runs.save_checkpoint(runs.checkpoint_path(run_dir), config, model, step, optimizer=optimizer,
                         scaler=scaler if scaler.is_enabled() else None, metrics={**metrics, "best": best},
                         extra=extra)
    return best


# ------------------------------------------------------------------------------------ the loop

def train(config: TrainConfig, run_dir: Path, show_progress: bool = True,
          datasets: tuple[FrameDataset, FrameDataset] | None = None) -> dict:
    """Train (or resume) the run in ``run_dir`` up to ``config.steps``; returns the last metrics.
    ``datasets``: what :func:`preflight` returned for ``config``, if it was already called."""
    world = distributed.start(config.device)
    try:
        return _train(config.validate(), Path(run_dir), world, show_progress, datasets)
    finally:
        distributed.stop(world)


def _train(config: TrainConfig, run_dir: Path, world: distributed.World, show_progress: bool,
           datasets: tuple[FrameDataset, FrameDataset] | None) -> dict:
    task, device = task_for(config), world.device
    train_set, eval_set = datasets or preflight(config, world.size)
    torch.manual_seed(config.seed)  # the same initial weights in every process and every run
    model = build_model(config).to(device, memory_format=MEMORY_FORMAT)
    optimizer = make_optimizer(config, model)
    amp_dtype = autocast_dtype(config, device)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)

    step, best = 0, None
    if runs.checkpoint_path(run_dir).is_file():
        state = runs.load_checkpoint(runs.checkpoint_path(run_dir), config, model, optimizer=optimizer,
                                     scaler=scaler, map_location=device)
        step, best = state["step"], state["metrics"].get("best")
    new_logs = lambda: RunLogs(run_dir, ["loss"], list(task.logged), step)  # noqa: E731
    if step >= config.steps:
        return new_logs().close() if world.is_main else {}
    logs = new_logs() if world.is_main else None

    net = model
    if world.size > 1:
        if device.type == "cuda":
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    per_rank = config.batch_size // world.size
    loader, sampler = step_loader(train_set, per_rank, world, config.seed, step, config.workers, device)
    eval_subset = evenly_spaced(eval_set, config.eval_frames)

    metrics: dict = logs.last_eval() if logs else {}
    net.train()
    with plots.progress(config.steps, step, enabled=show_progress and world.is_main) as bar:
        window = LossWindow()
        for batch in loader:
            loss = forward_loss(net, batch, task, config, device, amp_dtype)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            window.add({"loss": loss})
            if step % config.log_every == 0 or step == config.steps:
                window.log(logs, bar, world, step, step // sampler.steps_per_epoch, config)
            if step % config.eval_every == 0 or step == config.steps:
                if world.is_main:
                    metrics = evaluate(model, eval_subset, task, device, amp_dtype, per_rank, config.workers)
                    best = save_run_checkpoints(run_dir, config, model, step, metrics, metrics[task.score], best,
                                                task.better, optimizer, scaler)
                    logs.eval_row(step, metrics)
                    logs.plot(task.score, f"{config.task}: {config.stacks} stacks x {config.features} features",
                              loss_label="training loss (cross-entropy summed over stacks)")
                    plots.sample_predictions(model, eval_set, task, device, run_dir / "samples.png", amp_dtype)
                world.barrier()
                window.reset()  # evaluation time is not training speed
            if step >= config.steps:
                break
    if logs:
        logs.close()
    return metrics

"""The training loop of `synth train segm|depth`: a plain loop over optimiser steps.

Reproducible: the model's initial weights come from ``seed``; batch k of every process is a
function of (seed, k) (:class:`StepSampler`), and each sample's augmentation a function of
(seed, epoch, index) (``FrameDataset``). A run resumed from its last checkpoint therefore sees
the same batches as an uninterrupted one, and on the CPU ends with the same weights.
"""

from __future__ import annotations

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

TRAIN_FIELDS = ["step", "epoch", "loss", "lr", "samples_per_s", "seconds"]
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
    if config.batch_size % world_size:
        raise TrainingError(f"batch size {config.batch_size} does not split over {world_size} processes; "
                            f"use a multiple of {world_size}")
    train_set, eval_set = make_datasets(config)
    if len(train_set) < config.batch_size:
        raise TrainingError(f"batch size {config.batch_size} is larger than the {len(train_set)} training frames "
                            f"of {config.data}")
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
    if step >= config.steps:
        return _Logs(run_dir, task, step).close() if world.is_main else {}
    logs = _Logs(run_dir, task, step) if world.is_main else None

    net = model
    if world.size > 1:
        if device.type == "cuda":
            net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    per_rank = config.batch_size // world.size
    sampler = StepSampler(len(train_set), per_rank, world.size, world.rank, config.seed, start_step=step)
    loader = DataLoader(AtEpoch(train_set), batch_size=per_rank, sampler=sampler, num_workers=config.workers,
                        pin_memory=device.type == "cuda", persistent_workers=config.workers > 0,
                        worker_init_fn=_one_thread_per_worker)
    eval_subset = evenly_spaced(eval_set, config.eval_frames)

    metrics: dict = logs.last_eval() if logs else {}
    net.train()
    with plots.progress(config.steps, step, enabled=show_progress and world.is_main) as bar:
        window_loss, window_steps, window_start = torch.zeros((), device=device), 0, time.perf_counter()
        for batch in loader:
            loss = forward_loss(net, batch, task, config, device, amp_dtype)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            window_loss += loss.detach().float()
            window_steps += 1
            if step % config.log_every == 0 or step == config.steps:
                mean_loss = world.mean(float(window_loss) / window_steps)
                if not math.isfinite(mean_loss):
                    raise TrainingError(f"the loss became {mean_loss} at step {step}; lower --lr, or turn "
                                        f"off mixed precision (--no-amp)")
                seconds = time.perf_counter() - window_start
                rate = window_steps * config.batch_size / seconds
                if logs:
                    logs.train_row(step, step // sampler.steps_per_epoch, mean_loss, config.lr, rate, seconds)
                bar.update(step, mean_loss, rate)
                window_loss.zero_()
                window_steps, window_start = 0, time.perf_counter()
            if step % config.eval_every == 0 or step == config.steps:
                if world.is_main:
                    metrics = evaluate(model, eval_subset, task, device, amp_dtype, per_rank, config.workers)
                    if not math.isnan(metrics[task.score]) and task.better(metrics[task.score], best):
                        best = metrics[task.score]
                        runs.save_checkpoint(runs.checkpoint_path(run_dir, "best"), config, model, step,
                                             metrics={**metrics, "best": best})
                    runs.save_checkpoint(runs.checkpoint_path(run_dir), config, model, step, optimizer=optimizer,
                                         scaler=scaler if scaler.is_enabled() else None,
                                         metrics={**metrics, "best": best})
                    logs.eval_row(step, metrics)
                    logs.plot(config)
                    plots.sample_predictions(model, eval_set, task, device, run_dir / "samples.png", amp_dtype)
                world.barrier()
                window_start = time.perf_counter()  # evaluation time is not training speed
            if step >= config.steps:
                break
    if logs:
        logs.close()
    return metrics


class _Logs:
    """train_log.csv, eval_log.csv and TensorBoard, cut back to ``step`` when a run resumes."""

    def __init__(self, run_dir: Path, task: Task, step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir, self.task = run_dir, task
        self.train = runs.CsvLog(run_dir / "train_log.csv", TRAIN_FIELDS)
        self.eval = runs.CsvLog(run_dir / "eval_log.csv", ["step", *task.logged])
        for log in (self.train, self.eval):
            log.cut_after(step)
        self.board = SummaryWriter(str(run_dir / "tensorboard"), purge_step=step if step else None)

    def train_row(self, step, epoch, loss, lr, rate, seconds) -> None:
        self.train.append({"step": step, "epoch": epoch, "loss": f"{loss:.6g}", "lr": lr,
                           "samples_per_s": f"{rate:.2f}", "seconds": f"{seconds:.3f}"})
        self.board.add_scalar("train/loss", loss, step)
        self.board.add_scalar("train/samples_per_s", rate, step)

    def eval_row(self, step: int, metrics: dict) -> None:
        self.eval.append({"step": step, **{k: f"{v:.6g}" for k, v in metrics.items() if not isinstance(v, list)}})
        for name, value in metrics.items():
            if not isinstance(value, list):
                self.board.add_scalar(f"eval/{name}", value, step)
        self.board.flush()

    def last_eval(self) -> dict:
        rows = self.eval.read()
        return {k: float(v) for k, v in rows[-1].items() if k != "step" and v != ""} if rows else {}

    def plot(self, config: TrainConfig) -> None:
        plots.loss_curve(self.train.read(), self.eval.read(), self.task.score, self.run_dir / "loss_curve.png",
                         title=f"{config.task}: {config.stacks} stacks x {config.features} features")

    def close(self) -> dict:
        """Close TensorBoard's writer; returns the last held-out metrics."""
        self.board.close()
        return self.last_eval()


"""`synth eval`: a trained run scored on a dataset, written as RUN/eval/DATA.json + a PNG.

segm / depth: SURREAL's metrics and RUN/eval/DATA_samples.png. 3D pose runs: MPJPE, PA-MPJPE (mm)
and PCK3D @150 mm overall and per joint, beside the mean-pose baseline's (the training set's mean
pose, kept in the checkpoint), and RUN/eval/DATA_skeletons.png (predicted over true skeletons).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from trainers import distributed, plots, runs
from trainers.config import TrainConfig
from trainers.tasks import task_for
from trainers.train import autocast_dtype, build_model, evaluate, evenly_spaced, frame_dataset, held_out_clips


def load_trained(run_dir: Path, checkpoint: str, device: torch.device) -> tuple[TrainConfig, torch.nn.Module, int]:
    """The run's configuration and its network with the chosen checkpoint's weights, in eval mode."""
    config = runs.load_run_config(run_dir)
    model = build_model(config).to(device)
    state = runs.load_checkpoint(runs.checkpoint_path(run_dir, checkpoint), config, model, map_location=device)
    return config, model.eval(), int(state["step"])


def evaluate_run(run_dir: Path, data: Path, checkpoint: str = "best", device_name: str = "auto",
                 batch_size: int = 8, workers: int = 2, frames: int | None = None) -> tuple[dict, Path]:
    run_dir, data = Path(run_dir), Path(data)
    device = distributed.resolve_device(device_name)
    if runs.load_run_config(run_dir).is_pose:
        return evaluate_pose_run(run_dir, data, checkpoint, device, batch_size, workers, frames)
    config, model, step = load_trained(run_dir, checkpoint, device)
    clips = held_out_clips(config, data)
    dataset = frame_dataset(config, clips, augment=False)
    scored = evenly_spaced(dataset, frames)
    task, amp_dtype = task_for(config), autocast_dtype(config, device)
    metrics = evaluate(model, scored, task, device, amp_dtype, batch_size, workers)
    result = {"run": str(run_dir.resolve()), "data": str(data.resolve()), "checkpoint": checkpoint, "step": step,
              "clips": len(clips), "frames": len(scored), "metrics": metrics}
    name = data.resolve().name
    json_path = run_dir / "eval" / f"{name}.json"
    runs.atomic_write(json_path, lambda p: p.write_text(json.dumps(result, indent=2) + "\n"))
    plots.sample_predictions(model, dataset, task, device, run_dir / "eval" / f"{name}_samples.png", amp_dtype)
    return result, json_path


def pose_eval_set(recipe, config: TrainConfig, data: Path):
    """The samples of ``data`` a pose run is scored on, as its recipe makes them (no
    augmentation): the held-out clips of its own training folder, else every clip of ``data``."""
    if config.val_data is None and data.resolve() == Path(config.data).resolve():
        return recipe.datasets(config)[1]
    return recipe.datasets(dataclasses.replace(config, data=str(data), val_data=str(data)))[1]


def evaluate_pose_run(run_dir: Path, data: Path, checkpoint: str, device: torch.device, batch_size: int,
                      workers: int, frames: int | None) -> tuple[dict, Path]:
    from trainers.pose3d.loop import evaluate_pose, load_pose_run, skeleton_samples
    from trainers.pose3d.recipe import StepContext

    config, recipe, modules, step, baseline_pose = load_pose_run(run_dir, checkpoint, device)
    dataset = pose_eval_set(recipe, config, data)
    scored = evenly_spaced(dataset, frames)
    ctx = StepContext(config, device, autocast_dtype(config, device))
    metrics = evaluate_pose(recipe, modules, scored, ctx, baseline_pose, batch_size, workers)
    result = {"run": str(run_dir.resolve()), "data": str(data.resolve()), "checkpoint": checkpoint, "step": step,
              "joint_set": config.joint_set, "clips": len(getattr(dataset, "clips", [])), "frames": len(scored),
              "metrics": metrics}
    name = data.resolve().name
    json_path = run_dir / "eval" / f"{name}.json"
    runs.atomic_write(json_path, lambda p: p.write_text(json.dumps(result, indent=2) + "\n"))
    skeleton_samples(recipe, modules, dataset, ctx, run_dir / "eval" / f"{name}_skeletons.png")
    return result, json_path

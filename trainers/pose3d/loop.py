"""The training loop of `synth train pose3d|adversarial|motion`: one loop, three recipes.

A recipe (trainers/pose3d/recipe.py documents the interface) says what the networks are and what
one optimiser step does; this loop owns everything else, with part 1's pieces (trainers.train):
reproducible batches (StepSampler: batch k of every process is a function of (seed, k)) of the
synthetic set and, when the recipe uses one, of the real domain; mixed precision; torchrun
(gradients averaged by ``StepContext.optimise``); train_log.csv / eval_log.csv / TensorBoard;
atomic checkpoints of every module and optimiser; resume (the same weights as an uninterrupted
run on the CPU); loss_curve.png and skeletons.png.

Held-out evaluation: PoseMetrics (MPJPE, PA-MPJPE, PCK3D) of the recipe's predictions, and beside
them the same scores of the mean-pose baseline, which predicts the training set's mean
root-relative pose (un-augmented) for every held-out frame. The mean pose is computed when a run
starts and kept in its checkpoints (``extra["mean_pose"]``). best.pt: the lowest
``recipe.score`` (MPJPE unless the recipe says otherwise).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from synth_core.errors import TrainingError
from trainers import distributed, plots, runs
from trainers.config import TrainConfig
from trainers.pose3d.chen import ChenRecipe
from trainers.pose3d.doersch import DoerschRecipe
from trainers.pose3d.joints import get_joint_set
from trainers.pose3d.metrics import PoseMetrics
from trainers.pose3d.recipe import StepContext
from trainers.pose3d.yang import YangRecipe
from trainers.tasks import POSE_SCORES, task_for
from trainers.train import (LossWindow, RunLogs, _one_thread_per_worker, autocast_dtype, check_batch_size,
                            evenly_spaced, save_run_checkpoints, step_loader)

# Recipes by task. Another recipe's module is imported when its task is first asked for; it names its
# class RECIPE (or defines one class whose ``task`` is the task).
RECIPES: dict[str, type] = {"pose3d": ChenRecipe, "adversarial": YangRecipe, "motion": DoerschRecipe}
MEAN_POSE_SAMPLES = 20000     # training targets averaged into the mean pose (evenly spaced)
SKELETON_SAMPLES = 4


def recipe_class(task: str) -> type:
    if task not in RECIPES:
        raise TrainingError(f"{task} is not a 3D pose task; those are {', '.join(RECIPES)}")
    return RECIPES[task]


def make_recipe(config: TrainConfig):
    """The run's recipe, its joint set the run's (``config.joint_set``, resolved)."""
    recipe = recipe_class(config.task)()
    recipe.joint_set = config.joint_set or recipe.joint_set
    return recipe


def resolve(config: TrainConfig) -> TrainConfig:
    """The configuration with the task's own joint set filled in where none was chosen."""
    if config.joint_set is None:
        config = dataclasses.replace(config, joint_set=recipe_class(config.task).joint_set)
    return config.validate()


@dataclasses.dataclass
class Prepared:
    """What :func:`preflight` checked and built, handed to :func:`train`."""
    config: TrainConfig
    recipe: object
    train_set: object
    eval_set: object
    real_set: object | None


def preflight(config: TrainConfig, world_size: int = 1) -> Prepared:
    """Every check of the user's input that can fail (device, datasets, real domain, batch
    size, joint set), before a run folder is written."""
    distributed.resolve_device(config.device)
    config = resolve(config)
    recipe = make_recipe(config)
    train_set, eval_set = recipe.datasets(config)
    check_batch_size(config, world_size, len(train_set), f"training samples of {config.data}")
    real_set = recipe.real_dataset(config)
    if real_set is not None and len(real_set) < config.batch_size:
        raise TrainingError(f"the real domain {config.real_data} has {len(real_set)} images, fewer than the batch "
                            f"size {config.batch_size}; give more images or a smaller --batch-size")
    return Prepared(config, recipe, train_set, eval_set, real_set)


# ---------------------------------------------------------------------------- statistics

def training_targets(recipe, dataset, limit: int = MEAN_POSE_SAMPLES) -> torch.Tensor:
    """The recipe's targets for up to ``limit`` evenly spaced training samples, un-augmented.
    From the joints the dataset keeps in memory when it has them (no image is decoded), else
    from the samples of an un-augmented copy."""
    rows = np.linspace(0, len(dataset) - 1, min(limit, len(dataset))).round().astype(int)
    if hasattr(dataset, "joints3d") and hasattr(dataset, "index"):
        window = getattr(dataset, "window", None)
        joints = [dataset.joints3d[c][f:f + window] if window else dataset.joints3d[c][f]
                  for c, f in dataset.index[rows]]
        try:
            return recipe.target({"joints3d": torch.from_numpy(np.stack(joints))}).float().cpu()
        except KeyError:
            pass  # the recipe's target needs more than the joints: decode the samples
    plain = copy.copy(dataset)
    if hasattr(plain, "augment"):
        plain.augment = False
    loader = DataLoader(torch.utils.data.Subset(plain, rows.tolist()), batch_size=16)
    return torch.cat([recipe.target(batch).float().cpu() for batch in loader])


def mean_pose(targets: torch.Tensor) -> torch.Tensor:
    """K x 3: the mean root-relative pose over every sample (and frame) of ``targets``."""
    return targets.reshape(-1, *targets.shape[-2:]).mean(0)


# ---------------------------------------------------------------------------- evaluation

@torch.no_grad()
def predict_batches(recipe, modules: dict, dataset, ctx: StepContext, batch_size: int = 8, workers: int = 0):
    """Yield (prediction, target, batch) over ``dataset``, every module in eval mode meanwhile."""
    modes = {name: module.training for name, module in modules.items()}
    for module in modules.values():
        module.eval()
    try:
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, worker_init_fn=_one_thread_per_worker)
        for batch in loader:
            yield recipe.predict(modules, batch, ctx).float().cpu(), recipe.target(batch).float().cpu(), batch
    finally:
        for name, module in modules.items():
            module.train(modes[name])


def evaluate_pose(recipe, modules: dict, dataset, ctx: StepContext, baseline_pose: torch.Tensor,
                  batch_size: int = 8, workers: int = 0) -> dict:
    """MPJPE / PA-MPJPE / PCK3D over ``dataset`` and, as "baseline_*", those of the mean pose;
    "per_joint" and "baseline_per_joint" hold the per-joint tables."""
    names = get_joint_set(recipe.joint_set).names
    scores, baseline = PoseMetrics(names), PoseMetrics(names)
    for predicted, target, _ in predict_batches(recipe, modules, dataset, ctx, batch_size, workers):
        if predicted.shape != target.shape:
            raise TrainingError(f"mismatched joint sets: the network predicts {tuple(predicted.shape)} but the "
                                f"ground truth is {tuple(target.shape)}")
        scores.update(predicted, target)
        baseline.update(baseline_pose.expand_as(target), target)
    mine, theirs = scores.summary(), baseline.summary()
    return {**{name: mine[name] for name in POSE_SCORES}, **{f"baseline_{name}": theirs[name] for name in POSE_SCORES},
            "skeletons": mine["skeletons"], "per_joint": mine["per_joint"], "baseline_per_joint": theirs["per_joint"]}


def skeleton_samples(recipe, modules: dict, dataset, ctx: StepContext, path: Path, count: int = SKELETON_SAMPLES):
    """PNG of ``count`` evenly spaced held-out samples: predicted over true 3D skeletons (a clip
    sample shows its middle frame)."""
    from trainers.pose3d.plots import skeleton_figure

    rows = np.linspace(0, len(dataset) - 1, min(count, len(dataset))).round().astype(int).tolist()
    subset = torch.utils.data.Subset(dataset, rows)
    predicted, target, batch = next(predict_batches(recipe, modules, subset, ctx, batch_size=len(rows)))
    frames = batch["frame"]
    if predicted.ndim == 4:  # clips: their middle frame
        middle = predicted.shape[1] // 2
        predicted, target, frames = predicted[:, middle], target[:, middle], frames[:, middle]
    titles = [f"clip {int(c)}, frame {int(f)}" for c, f in zip(batch["clip"], frames)]
    skeleton_figure(predicted, target, recipe.joint_set, path, titles=titles)


# ------------------------------------------------------------------------------------ the loop

def train(config: TrainConfig, run_dir: Path, show_progress: bool = True, prepared: Prepared | None = None) -> dict:
    """Train (or resume) the pose run in ``run_dir`` up to ``config.steps``; returns the last
    held-out metrics. ``prepared``: what :func:`preflight` returned, if it was already called."""
    world = distributed.start(config.device)
    try:
        return _train(prepared or preflight(config, world.size), Path(run_dir), world, show_progress)
    finally:
        distributed.stop(world)


def _train(prepared: Prepared, run_dir: Path, world: distributed.World, show_progress: bool) -> dict:
    config, recipe, device = prepared.config, prepared.recipe, world.device
    torch.manual_seed(config.seed)  # the same initial weights in every process and every run
    modules = {name: module.to(device) for name, module in recipe.build(config).items()}
    bundle = torch.nn.ModuleDict(modules)  # one state dict, each module's keys under its name
    optimizers = recipe.optimizers(config, modules)
    ctx = StepContext(config, device, autocast_dtype(config, device), world=world)
    score = getattr(recipe, "score", "mpjpe_mm")

    step, best = 0, None
    if runs.checkpoint_path(run_dir).is_file():
        state = runs.load_checkpoint(runs.checkpoint_path(run_dir), config, bundle, optimizer=optimizers,
                                     scaler=ctx.scaler, map_location=device)
        step, best, extra = state["step"], state["metrics"].get("best"), state.get("extra", {})
    else:
        targets = training_targets(recipe, prepared.train_set)
        extra = {"mean_pose": mean_pose(targets)}
        if hasattr(recipe, "calibrate"):
            recipe.calibrate(modules, targets)
    baseline_pose = extra["mean_pose"]
    new_logs = lambda: RunLogs(run_dir, None, [*POSE_SCORES, *(f"baseline_{s}" for s in POSE_SCORES)], step)  # noqa: E731
    if step >= config.steps:
        return new_logs().close() if world.is_main else {}
    logs = new_logs() if world.is_main else None

    per_rank = config.batch_size // world.size
    loader, sampler = step_loader(prepared.train_set, per_rank, world, config.seed, step, config.workers, device)
    real_batches = None
    if prepared.real_set is not None:  # its own order, from its own seed
        real_loader, _ = step_loader(prepared.real_set, per_rank, world, config.seed + 1, step, config.workers, device)
        real_batches = iter(real_loader)
    eval_subset = evenly_spaced(prepared.eval_set, config.eval_frames)
    title = f"{config.task} ({type(recipe).__name__}): {config.joint_set}"

    metrics: dict = logs.last_eval() if logs else {}
    for module in modules.values():
        module.train()
    with plots.progress(config.steps, step, enabled=show_progress and world.is_main) as bar:
        window = LossWindow()
        for batch in loader:
            real_batch = next(real_batches) if real_batches is not None else None
            window.add(recipe.train_step(modules, optimizers, batch, real_batch, step, ctx))
            step += 1
            if step % config.log_every == 0 or step == config.steps:
                window.log(logs, bar, world, step, step // sampler.steps_per_epoch, config)
            if step % config.eval_every == 0 or step == config.steps:
                if world.is_main:
                    metrics = evaluate_pose(recipe, modules, eval_subset, ctx, baseline_pose, per_rank, config.workers)
                    best = save_run_checkpoints(run_dir, config, bundle, step, metrics, metrics[score], best,
                                                task_for(config).better, optimizers, ctx.scaler,
                                                extra={"mean_pose": baseline_pose})
                    logs.eval_row(step, metrics)
                    losses = tuple(name for name in logs.train.fields if name.startswith("loss"))
                    logs.plot(score, title, losses=losses, loss_label="training losses")
                    skeleton_samples(recipe, modules, prepared.eval_set, ctx, run_dir / "skeletons.png")
                world.barrier()
                window.reset()  # evaluation time is not training speed
            if step >= config.steps:
                break
    if logs:
        logs.close()
    return metrics


# ------------------------------------------------------------------------- trained runs

def load_pose_run(run_dir: Path, checkpoint: str, device: torch.device):
    """(config, recipe, modules in eval mode, step, mean pose) of a trained pose run."""
    config = runs.load_run_config(run_dir)
    if not config.is_pose:
        raise TrainingError(f"{run_dir} is a {config.task} run, not a 3D pose run")
    recipe = make_recipe(config)
    modules = {name: module.to(device) for name, module in recipe.build(config).items()}
    state = runs.load_checkpoint(runs.checkpoint_path(run_dir, checkpoint), config, torch.nn.ModuleDict(modules),
                                 map_location=device)
    for module in modules.values():
        module.eval()
    return config, recipe, modules, int(state["step"]), state.get("extra", {}).get("mean_pose")

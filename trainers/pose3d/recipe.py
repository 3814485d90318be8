"""What a 3D pose recipe is: the interface the shared loop (:mod:`trainers.pose3d.loop`) drives.

A recipe is a plain class (duck-typed: nothing to inherit) instantiated without arguments, with:

    task: str          "pose3d" | "adversarial" | "motion": the `synth train` subcommand
    joint_set: str     the JOINT_SETS key it predicts by default. The loop stores the run's choice
                       (the user's --joint-set, else this) in ``config.joint_set`` before anything is
                       built, and sets it on the instance too (``recipe.joint_set``), so ``target``,
                       which gets no config, reads ``self.joint_set``

    build(config) -> dict[str, torch.nn.Module]
        Every network of the recipe. The loop seeds torch with ``config.seed`` first (the same initial
        weights in every process and run) and checkpoints each module under its key.
    optimizers(config, modules) -> dict[str, torch.optim.Optimizer]
        Checkpointed under their keys as well.
    datasets(config) -> (train_set, held_out_set)
        Synthetic samples; held-out = whole clips (``trainers.data.split_clips``, as
        ``trainers.train.make_datasets`` does). The training set's augmentation must be a function of
        (seed, epoch, index) (``set_epoch``), like ``FrameDataset``; an ``augment`` attribute the loop
        can turn off (it reads un-augmented training targets for the mean-pose baseline).
    real_dataset(config) -> Dataset | None
        Unlabelled real frames/clips when ``config.real_data`` is set and the recipe uses them
        (e.g. ``trainers.data.RealImages``); None otherwise. Batches come with the same
        reproducible sampling as the synthetic ones.
    train_step(modules, optimizers, batch, real_batch, step, ctx) -> dict[str, float]
        One optimiser step (alternating stages etc. decided by ``step``, counted from 0). Use
        ``ctx.optimise(loss, *optimizers)`` for zero_grad/backward/step: it scales the loss for fp16,
        averages gradients over torchrun's processes and updates the scaler. Run forward passes under
        ``with ctx.autocast():``. Must return "loss" (what was minimised); every key returned is
        averaged over log_every steps into train_log.csv (None: no such term in this step, e.g. before
        a stage that adds it; the column is that term's mean over the steps that had it), and keys
        starting with "loss" are drawn in
        loss_curve.png. Randomness inside a step must come from ``ctx.generator(step)`` (not torch's
        global generator) so that a resumed run equals an uninterrupted one.
    predict(modules, batch, ctx) -> Tensor
        (B, K, 3) or (B, T, K, 3): metres, root-relative, camera axes (x right, y down, z forward), in
        ``config.joint_set``. Called under ``torch.no_grad()`` with every module in eval mode.
    target(batch) -> Tensor
        The ground truth in the same form (on the CPU is fine).

Optional:
    score: str = "mpjpe_mm"   the held-out metric that picks best.pt (lower is better)
    calibrate(modules, targets) -> None
        Called once when a new run starts, with the training set's un-augmented targets (N x K x 3 or
        N x T x K x 3, metres, CPU), e.g. to set a buffer (checkpointed with its module) holding a
        length scale.
    real_video_inputs(...) (motion): how `synth predict` makes the network's inputs from a real video.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
import torch.distributed as dist

from trainers.config import TrainConfig
from trainers.distributed import World
from trainers.pose3d.joints import mirror_pairs


@dataclasses.dataclass
class StepContext:
    """What a recipe's ``train_step`` / ``predict`` may use besides its modules."""
    config: TrainConfig
    device: torch.device
    amp_dtype: torch.dtype | None = None        # None: float32
    scaler: torch.amp.GradScaler | None = None  # enabled for fp16 only
    world: World | None = None                  # torchrun's processes (None: one)

    def __post_init__(self) -> None:
        if self.scaler is None:
            self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def autocast(self):
        """Mixed precision on CUDA when the run has it; a no-op otherwise."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def generator(self, step: int, stream: int = 0) -> torch.Generator:
        """A CPU generator that is a function of (seed, step, stream) only."""
        return torch.Generator().manual_seed((self.config.seed * 1_000_003 + step) * 31 + stream)

    def optimise(self, loss: torch.Tensor, *optimizers: torch.optim.Optimizer) -> None:
        """Zero the optimisers' gradients, backpropagate ``loss`` (scaled for fp16), average the
        gradients over processes, step every optimiser and update the scaler. Parameters of other
        optimisers get gradients too unless their modules are frozen (``requires_grad_(False)``);
        they are not stepped, and are zeroed the next time their optimiser is used."""
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.world is not None and self.world.size > 1:
            for optimizer in optimizers:
                _average_gradients(optimizer, self.world.size)
        for optimizer in optimizers:
            self.scaler.step(optimizer)
        self.scaler.update()


def _average_gradients(optimizer: torch.optim.Optimizer, world_size: int) -> None:
    """What DistributedDataParallel does, for any set of modules and any freezing scheme: one
    flattened all-reduce of the optimiser's gradients (missing gradients count as zero)."""
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


def set_trainable(module: torch.nn.Module, trainable: bool) -> None:
    """Freeze or unfreeze every parameter of ``module`` (its buffers are left alone)."""
    for parameter in module.parameters():
        parameter.requires_grad_(trainable)


def mirror_half(batch: dict, generator: torch.Generator) -> dict:
    """A FrameDataset batch (RGB crops) with a random half of its samples flipped left-right, every
    label alike, left and right joints swapped (SMPL's 24, as the batch holds them): the crop,
    ``heatmaps``, ``joints2d`` (output pixels, x -> O - 1 - x), ``joints3d`` (camera axes, x -> -x),
    ``joints_in_crop`` and ``joints_visible``: the usual flip of 3D pose work. Which samples flip is
    drawn from ``generator`` (give it ``ctx.generator(step)``)."""
    flip = torch.rand(len(batch["image"]), generator=generator) < 0.5
    pairs = mirror_pairs("smpl24")
    mirrored = {"image": batch["image"].flip(-1)}
    if "joints3d" in batch:
        mirrored["joints3d"] = batch["joints3d"][:, pairs] * torch.tensor([-1.0, 1.0, 1.0])
    if "heatmaps" in batch:   # with its joints2d on the heatmaps' grid
        mirrored["heatmaps"] = batch["heatmaps"][:, pairs].flip(-1)
        mirrored["joints2d"] = batch["joints2d"][:, pairs].clone()
        mirrored["joints2d"][..., 0] = (batch["heatmaps"].shape[-1] - 1) - mirrored["joints2d"][..., 0]
    for key in ("joints_in_crop", "joints_visible"):
        if key in batch:
            mirrored[key] = batch[key][:, pairs]
    return {**batch, **{key: torch.where(flip.view(-1, *[1] * (value.ndim - 1)), value, batch[key])
                        for key, value in mirrored.items()}}

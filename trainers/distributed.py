"""Devices and torchrun: one process per GPU (DDP), or one process on the CPU.

``torchrun --nproc_per_node 4 -m synth_cli train segm ...`` sets RANK, WORLD_SIZE and
LOCAL_RANK; every process then trains on its share of each global batch, and only rank 0
writes the run folder. Without torchrun the world is one process.
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.distributed as dist

from synth_core.errors import TrainingError


@dataclasses.dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def mean(self, value: float) -> float:
        """The mean of ``value`` over all processes."""
        if self.size == 1:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.size


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: the process's GPU when torch sees one, else the CPU. Asking for CUDA where
    there is none is an error, not a silent fall-back to a run 100 times slower."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not name.startswith("cuda"):
        raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        build = "a CPU-only build of torch" if torch.version.cuda is None else "no visible CUDA GPU"
        raise TrainingError(f"--device {name}: torch {torch.__version__} here has {build}; "
                            f"use --device cpu, or install a CUDA build of torch (see README)")
    index = int(name.split(":", 1)[1]) if ":" in name else local_rank
    if index >= torch.cuda.device_count():
        raise TrainingError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device("cuda", index)


def start(device_name: str) -> World:
    """Join the torchrun job if there is one; pick this process's device."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(rank, size, device)


def stop(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()

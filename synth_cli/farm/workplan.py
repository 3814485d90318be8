"""The deterministic work plan: clip index -> seed -> scene plan, and which clips a shard owns.

Clip ``i`` of a dataset started at ``--seed S`` always has seed ``S + i`` and the plan
``sample_plan(S + i, options)``, so the dataset is the same whatever the number of workers,
shards or interruptions. Plans are sampled lazily by whoever renders the clip.

Shards split the clip indices round-robin (clip ``i`` belongs to shard ``i mod N``), so every
shard gets a similar mix of clips and ``N`` shards together cover the dataset exactly once.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from synth_core.errors import PlanError

UNITS = ("clips", "frames")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.count, int) and self.count >= 1 and 0 <= self.index < self.count):
            raise PlanError(f"shard must be i/N with 0 <= i < N, got {self.index}/{self.count}")

    @classmethod
    def parse(cls, text: str) -> "Shard":
        """``"3/16"`` -> Shard(3, 16)."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise PlanError(f"--shard must look like i/N (e.g. 0/4), got {text!r}") from None
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_from_environment(environ=None) -> Shard | None:
    """The shard a cluster scheduler assigned to this process, if any.

    - SLURM job arrays: ``SLURM_ARRAY_TASK_ID`` and ``SLURM_ARRAY_TASK_COUNT`` (the index is
      taken relative to ``SLURM_ARRAY_TASK_MIN``, so ``--array=1-8`` works too);
    - Kubernetes Indexed Jobs: ``JOB_COMPLETION_INDEX``, with the count in
      ``SYNTH_SHARD_COUNT`` (Kubernetes does not export ``completions``; the manifest sets it).
    """
    env = os.environ if environ is None else environ
    if "SLURM_ARRAY_TASK_ID" in env:
        task, count = _env_int(env, "SLURM_ARRAY_TASK_ID"), _env_int(env, "SLURM_ARRAY_TASK_COUNT")
        first = _env_int(env, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else 0
        return Shard(task - first, count)
    if "JOB_COMPLETION_INDEX" in env:
        if "SYNTH_SHARD_COUNT" not in env:
            raise PlanError("JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but SYNTH_SHARD_COUNT "
                            "is not: set it to the Job's completions in the manifest")
        return Shard(_env_int(env, "JOB_COMPLETION_INDEX"), _env_int(env, "SYNTH_SHARD_COUNT"))
    return None


def _env_int(env, name: str) -> int:
    try:
        return int(env[name])
    except KeyError:
        raise PlanError(f"{name} is not set, but the scheduler's other variables are") from None
    except ValueError:
        raise PlanError(f"{name}={env[name]!r} is not an integer") from None


@dataclass(frozen=True)
class WorkPlan:
    """Clips ``0 .. n_clips - 1`` of a dataset whose first seed is ``first_seed``."""

    first_seed: int
    n_clips: int

    @classmethod
    def of(cls, first_seed: int, count: int, unit: str = "clips", frames_per_clip: int = 100) -> "WorkPlan":
        """``count`` clips, or enough clips for ``count`` frames with ``unit="frames"``."""
        if unit not in UNITS:
            raise PlanError(f"--unit must be one of {', '.join(UNITS)}, got {unit!r}")
        if count < 1:
            raise PlanError(f"--n must be at least 1, got {count}")
        n_clips = count if unit == "clips" else math.ceil(count / frames_per_clip)
        return cls(first_seed, n_clips)

    def seed(self, clip_index: int) -> int:
        return self.first_seed + clip_index

    def seeds(self, shard: Shard = Shard()) -> range:
        """The seeds ``shard`` owns, in rendering order."""
        return range(self.first_seed + shard.index, self.first_seed + self.n_clips, shard.count)

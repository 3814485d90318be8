"""Which clips a process renders: seeds from clip indices, shards from flags or scheduler variables."""

from __future__ import annotations

import pytest

from synth_cli.farm.workplan import Shard, WorkPlan, shard_from_environment
from synth_core.errors import PlanError


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_cover_every_clip_exactly_once(count):
    plan = WorkPlan.of(first_seed=100, count=23)
    owned = [seed for index in range(count) for seed in plan.seeds(Shard(index, count))]
    assert sorted(owned) == list(range(100, 123))


def test_frames_count_rounds_up_to_whole_clips():
    assert WorkPlan.of(0, 250, unit="frames", frames_per_clip=100).n_clips == 3
    assert WorkPlan.of(0, 200, unit="frames", frames_per_clip=100).n_clips == 2


@pytest.mark.parametrize("text", ["3", "1/0", "4/4", "-1/3", "a/b", "1/2/3"])
def test_bad_shards_are_named(text):
    with pytest.raises(PlanError, match="shard"):
        Shard.parse(text)


def test_slurm_array_variables_give_the_shard_relative_to_the_first_task():
    env = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_MIN": "1"}
    assert shard_from_environment(env) == Shard(4, 8)
    assert shard_from_environment({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2"}) == Shard(0, 2)


def test_kubernetes_indexed_jobs_need_the_shard_count():
    assert shard_from_environment({"JOB_COMPLETION_INDEX": "3", "SYNTH_SHARD_COUNT": "10"}) == Shard(3, 10)
    with pytest.raises(PlanError, match="SYNTH_SHARD_COUNT"):
        shard_from_environment({"JOB_COMPLETION_INDEX": "3"})
    with pytest.raises(PlanError, match="SLURM_ARRAY_TASK_COUNT"):
        shard_from_environment({"SLURM_ARRAY_TASK_ID": "3"})
    assert shard_from_environment({}) is None

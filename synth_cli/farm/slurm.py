"""``--executor slurm``: one SLURM job array through submitit, one array task per shard.

Array task ``i`` of ``N`` renders the clips of shard ``i/N`` (``WorkPlan.seeds(Shard(i, N))``)
with its own :class:`~synth_cli.farm.local.LocalExecutor` and Blender workers, into the one
dataset folder every node sees: shards never share a clip, and the dataset index is safe with
concurrent writers. The shard comes from the pickled call, not from SLURM's variables, so the
same code runs under submitit's local executor (how it is tested here).

A task that nears its time limit (or is preempted) gets submitit's signal, is checkpointed and
requeued with the same call (:class:`ShardTask` is ``Checkpointable``); resume being the default,
it goes on where it stopped. Task logs: ``OUT/.synth/slurm/<job id>_0_log.err`` (and ``.out``).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from synth_cli.farm.local import LocalExecutor, Summary, WorkerSettings, cores
from synth_cli.farm.progress import PlainReporter
from synth_cli.farm.workplan import Shard, WorkPlan
from synth_core.dataset.index import STATE_DIR, DatasetIndex
from synth_core.errors import PlanError, RenderError

try:
    import submitit
    from submitit.helpers import Checkpointable
except ImportError:  # the module still imports, so the error below can name the fix
    submitit, Checkpointable = None, object

DEFAULT_TIMEOUT_MIN = 24 * 60   # submitit's local executor would stop a task after 2 minutes
POLL_S = 10.0                   # how often the driver reads the dataset index while it waits


@dataclass
class ArraySummary(Summary):
    """The array's clips, merged over its tasks, and the tasks that ended without a summary."""

    failed_shards: dict[int, str] = field(default_factory=dict)
    job_ids: list[str] = field(default_factory=list)


@dataclass
class ShardTask(Checkpointable):
    """What one array task runs (pickled by submitit): shard ``shard_index`` of ``shard_count``."""

    out: str
    first_seed: int
    n_clips: int
    shard_count: int
    options_dict: dict
    settings: WorkerSettings

    def __call__(self, shard_index: int) -> dict:
        settings = dataclasses.replace(self.settings, threads=self.settings.threads or threads_per_worker(
            self.settings.workers))
        seeds = WorkPlan(self.first_seed, self.n_clips).seeds(Shard(shard_index, self.shard_count))
        renders_per_frame = 2 if "rgb" in self.options_dict["passes"] else 1
        # A batch log (the task's stderr file), so plain lines rather than a live view.
        with PlainReporter(Console(stderr=True), len(seeds), self.options_dict["n_frames"],
                           renders_per_frame) as reporter:
            summary = LocalExecutor(Path(self.out), self.options_dict, settings, reporter).run(seeds)
        return dataclasses.asdict(summary)


def threads_per_worker(workers: int) -> int:
    """Cycles threads per worker from the CPUs this task was given (SLURM's cgroup/affinity),
    which the submitting login node cannot know."""
    return max(1, cores() // workers)


def submit_slurm(out: Path, first_seed: int, n_clips: int, options_dict: dict, settings: WorkerSettings,
                 n_jobs: int, slurm_parameters: dict | None = None, executor_folder: Path | None = None,
                 local: bool = False) -> list:
    """Submit one array of ``n_jobs`` tasks (at most one per clip) rendering clips
    ``0 .. n_clips - 1`` into ``out``; returns submitit's jobs, task ``i`` rendering shard ``i``.

    ``slurm_parameters`` go to submitit's ``AutoExecutor.update_parameters`` (``timeout_min``,
    ``cpus_per_task``, ``mem_gb``, ``gpus_per_node``, ``slurm_partition``,
    ``slurm_array_parallelism``, ...). Submission files and task logs go to ``executor_folder``
    (default ``OUT/.synth/slurm``, files named by job id). ``local=True`` runs the tasks as processes on
    this machine (submitit's local executor) instead of submitting them.
    """
    require_submitit()
    if n_jobs < 1:
        raise PlanError(f"the SLURM array needs at least 1 task, got {n_jobs}")
    if not local:
        require_sbatch()
    n_jobs = min(n_jobs, n_clips)  # an array task without clips would only start workers
    folder = executor_folder or Path(out) / STATE_DIR / "slurm"
    executor = submitit.AutoExecutor(folder=folder, cluster="local" if local else "slurm")
    parameters = {"name": "synth-render", "timeout_min": DEFAULT_TIMEOUT_MIN}
    if settings.threads:
        parameters["cpus_per_task"] = settings.workers * settings.threads
    try:
        executor.update_parameters(**{**parameters, **(slurm_parameters or {})})
    except (TypeError, ValueError, NameError, AssertionError) as exc:  # submitit's checks raise all four
        raise PlanError(f"bad SLURM parameter: {str(exc).splitlines()[0]}") from None
    task = ShardTask(str(out), first_seed, n_clips, n_jobs, options_dict, settings)
    return executor.map_array(task, range(n_jobs))


def require_submitit() -> None:
    """A RenderError naming the fix when submitit is missing (call it early: before any work)."""
    if submitit is None:
        raise RenderError("--executor slurm needs submitit: pip install 'synth-humans[farm]'")


def require_sbatch() -> None:
    """A RenderError naming the alternative when this machine cannot submit SLURM jobs."""
    if shutil.which("sbatch") is None:
        raise RenderError("--executor slurm: sbatch is not on PATH; submit from a SLURM login node "
                          "(or run `synth render --shard i/N` under your own scheduler)")


def parse_slurm_parameters(pairs) -> dict:
    """``["timeout_min=120", "slurm_partition=gpu"]`` -> ``{"timeout_min": 120, ...}``
    (numbers become numbers, the rest stays text)."""
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise PlanError(f"a SLURM parameter must look like KEY=VALUE (e.g. timeout_min=120), got {pair!r}")
        parameters[key.strip()] = _number_or_text(value.strip())
    return parameters


def _number_or_text(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def wait_for_shards(jobs, out: Path, first_seed: int, reporter=None, poll_s: float = POLL_S) -> ArraySummary:
    """Wait for every task of the array, feeding ``reporter`` from the dataset index as clips
    complete or fail (slot ``i`` = task ``i``, which owns the clips ``seed - first_seed = i mod
    len(jobs)``), then merge the tasks' summaries. A task that
    ended without one (killed, out of time, a crash) is named with its log in ``failed_shards``.
    Ctrl-C stops waiting only: the array goes on (``summary.interrupted``, ``summary.job_ids``)."""
    watcher = _IndexWatcher(out, first_seed, reporter)
    summary = ArraySummary(job_ids=[job.job_id for job in jobs])
    try:
        while not all(job.done() for job in jobs):
            watcher.poll(jobs)
            time.sleep(poll_s)
    except KeyboardInterrupt:
        summary.interrupted = True
        return summary
    watcher.poll(jobs)
    for shard_index, job in enumerate(jobs):
        _merge_task(summary, shard_index, job)
    return summary


def _merge_task(summary: ArraySummary, shard_index: int, job) -> None:
    try:
        task = job.result()
    except Exception as exc:  # submitit raises its own errors for failed or vanished tasks
        lines = str(exc).strip().splitlines()
        summary.failed_shards[shard_index] = (f"{lines[0] if lines else type(exc).__name__} "
                                              f"(log: {job.paths.stderr})")
        return
    summary.rendered += task["rendered"]
    summary.skipped += task["skipped"]
    summary.failed.update(task["failed"])
    summary.interrupted = summary.interrupted or task["interrupted"]


class _IndexWatcher:
    """Turns new lines of the dataset index into reporter calls, for the driver's live view."""

    def __init__(self, out: Path, first_seed: int, reporter) -> None:
        self.index, self.first_seed, self.reporter = DatasetIndex(out), first_seed, reporter
        self.seen = set(self.index.done()) | set(self.index.failures())

    def poll(self, jobs) -> None:
        if self.reporter is None:
            return
        for name, entry in self.index.done().items():
            if name not in self.seen:
                self.seen.add(name)
                with self.reporter.lock:  # frames arrive a clip at a time here, not one by one
                    self.reporter.frames_done += entry["n_frames"]
                self.reporter.clip_finished(self._task_of(entry["seed"], jobs), entry["seed"], True, "")
        for name, entry in self.index.failures().items():
            if name not in self.seen:
                self.seen.add(name)
                self.reporter.clip_finished(self._task_of(entry["seed"], jobs), entry["seed"], False,
                                            entry["reason"])
        for slot, job in enumerate(jobs):
            self.reporter.worker_state(slot, f"task {job.job_id}: {job.state}")

    def _task_of(self, seed: int, jobs) -> int:
        return (seed - self.first_seed) % len(jobs)


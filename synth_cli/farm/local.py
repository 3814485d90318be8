"""Render a list of seeds on this machine with N persistent Blender workers.

Each worker slot is a thread driving one :class:`~synth_cli.farm.workers.WorkerProcess`. A
slot takes the next seed, skips it if the clip exists (another shard may have made it),
renders it, and on failure retries with backoff (kills, crashes and timeouts; bad input is not
retried), then records the clip as failed and goes on. Workers are recycled after
``recycle_clips`` clips or when their memory passes ``max_rss_mb``. Ctrl-C stops every worker;
their partial clips and scratch folders are removed, and the next run resumes.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from synth_cli.farm.workers import ClipResult, WorkerProcess, render_job
from synth_core.dataset.format import PARTIAL_SUFFIX, process_tag, remove_stale
from synth_core.dataset.index import STATE_DIR, DatasetIndex

MAX_BACKOFF_S = 30.0


def clip_name(seed: int) -> str:
    return f"clip_{seed:08d}"


def cores() -> int:
    """The CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class WorkerSettings:
    """How each local worker runs (none of it changes a pixel)."""

    workers: int = 1
    threads: int | None = None        # Cycles threads per worker (None: all cores)
    blender: str | None = None        # a Blender binary; None: the bpy module of this Python
    device: str = "cpu"               # Cycles device: cpu, cuda, optix, hip, metal, oneapi
    timeout_s: float | None = None    # per clip attempt
    retries: int = 2                  # extra attempts after a failure that may not repeat
    backoff_s: float = 1.0            # first wait before a retry; doubles each time
    recycle_clips: int = 50           # restart a worker after this many clips...
    max_rss_mb: float | None = None   # ...or once its resident memory passes this


@dataclass
class Summary:
    rendered: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    interrupted: bool = False
    stopped_by: str | None = None  # why the run stopped early (the output cannot be written)


class LocalExecutor:
    """Renders seeds into ``out`` with ``settings.workers`` Blender workers on this machine."""

    def __init__(self, out: Path, options_dict: dict, settings: WorkerSettings, reporter) -> None:
        self.out, self.options_dict, self.settings, self.reporter = out, options_dict, settings, reporter
        self.owner = process_tag()
        self.index = DatasetIndex(out)
        self.scratch_root = out / STATE_DIR / "tmp"
        self.summary = Summary()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[WorkerProcess] = []

    def run(self, seeds) -> Summary:
        remove_stale(self.scratch_root)
        remove_stale(self.out, f"clip_*{PARTIAL_SUFFIX}-*")
        pending = iter(seeds)
        self.index.log_event(self.owner, "run_started", workers=self.settings.workers)
        finished = [threading.Event() for _ in range(self.settings.workers)]
        threads = [threading.Thread(target=self._slot, args=(slot, pending, finished[slot]), daemon=True)
                   for slot in range(self.settings.workers)]
        interrupted = threading.Event()
        with _signals_set(interrupted, signal.SIGINT, signal.SIGTERM):
            for thread in threads:
                thread.start()
            while not all(event.is_set() for event in finished):
                if interrupted.wait(0.1) and not self._stop.is_set():
                    self.stop(interrupted=True)
        if self.scratch_root.is_dir() and not any(self.scratch_root.iterdir()):
            self.scratch_root.rmdir()
        self.index.log_event(self.owner, "run_finished", rendered=len(self.summary.rendered),
                             failed=len(self.summary.failed), interrupted=self.summary.interrupted)
        return self.summary

    def stop(self, interrupted: bool = False) -> None:
        """Stop every worker now (their partial clips are removed); the run returns soon after."""
        self.summary.interrupted |= interrupted
        self._stop.set()
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.shutdown()

    def _next_seed(self, pending) -> int | None:
        with self._lock:
            return next(pending, None)

    def _slot(self, slot: int, pending, finished: threading.Event) -> None:
        worker = self._new_worker(slot)
        with self._lock:
            self._workers.append(worker)
        try:
            if not self._ready(slot, worker):
                return
            while not self._stop.is_set():
                seed = self._next_seed(pending)
                if seed is None:
                    break
                if (self.out / clip_name(seed)).is_dir():
                    self.summary.skipped.append(seed)
                    self.reporter.clip_skipped(seed)
                    continue
                self._render_with_retries(slot, worker, seed)
                self._maybe_recycle(worker)
        finally:
            if self._stop.is_set():
                worker.shutdown()
            worker.stop()
            self._release(worker)
            self.reporter.worker_state(slot, "finished")
            finished.set()

    # Hooks for executors whose workers live elsewhere (synth_cli.farm.ray_cluster).
    def _new_worker(self, slot: int):
        return WorkerProcess(f"w{slot}", self.scratch_root / f"{self.owner}-w{slot}",
                             self.settings.threads, self.settings.blender, self.settings.device)

    def _ready(self, slot: int, worker) -> bool:
        """Whether ``worker`` can take clips (a local process always can)."""
        return True

    def _release(self, worker) -> None:
        """Free what ``worker`` holds beyond its process (nothing, locally)."""

    def _render_with_retries(self, slot: int, worker: WorkerProcess, seed: int) -> None:
        name = clip_name(seed)
        job = {"seed": seed, "options": self.options_dict}
        attempts, result = 0, ClipResult(False, "not started")
        while not self._stop.is_set() and attempts <= self.settings.retries:
            attempts += 1
            self.reporter.clip_started(slot, seed, attempts)
            result = render_job(worker, self.out / name, job,
                                lambda event: self.reporter.worker_event(slot, seed, event),
                                self.settings.timeout_s)
            if result.ok or not result.retryable or (self.out / name).is_dir():
                break  # (a clip that exists now was finished by another shard given the same seed)
            if self._stop.is_set():
                return
            self.index.log_event(self.owner, "clip_retry", clip=name, attempt=attempts, reason=result.message)
            self._stop.wait(min(self.settings.backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S))
        if self._stop.is_set() and not result.ok:
            return  # interrupted: neither done nor failed; the next run renders it
        if result.output_unwritable:  # nothing more can be written: stop, keep what is complete
            self.summary.stopped_by = result.message
            self.index.log_event(self.owner, "run_stopped", clip=name, reason=result.message)
            self._stop.set()
            return
        if not result.ok and (self.out / name).is_dir():
            self.summary.skipped.append(seed)
            self.reporter.clip_skipped(seed)
            return
        if result.ok:
            self.summary.rendered.append(seed)
            self.index.record_done(self.owner, name, seed, result.frames or self.options_dict["n_frames"])
            self.index.log_event(self.owner, "clip_done", clip=name, attempts=attempts, rss_mb=result.rss_mb,
                                 timings=result.timings)
        else:
            self.summary.failed[seed] = result.message
            self.index.record_failed(name, seed, result.message, attempts, self.owner)
            self.index.log_event(self.owner, "clip_failed", clip=name, attempts=attempts, reason=result.message,
                                 log_tail=result.log_tail)
        self.reporter.clip_finished(slot, seed, result.ok, result.message)

    def _maybe_recycle(self, worker: WorkerProcess) -> None:
        settings = self.settings
        too_old = worker.clips_done >= settings.recycle_clips
        too_big = settings.max_rss_mb is not None and (worker.rss_mb or 0) > settings.max_rss_mb
        if worker.alive and (too_old or too_big):
            self.index.log_event(self.owner, "worker_recycled", worker=worker.name, clips=worker.clips_done,
                                 rss_mb=worker.rss_mb)
            worker.stop()
            worker.scratch.mkdir(parents=True, exist_ok=True)


@contextmanager
def _signals_set(event: threading.Event, *signals):
    """While inside, ``signals`` (Ctrl-C, a scheduler's SIGTERM) set ``event`` instead of raising
    in whatever the main thread was doing; outside the main thread signals cannot be caught."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, lambda *_: event.set()) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)

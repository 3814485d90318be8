"""``--executor ray [--address ...]``: render clips on a Ray cluster.

Each worker slot is a Ray actor holding one persistent Blender
:class:`~synth_cli.farm.workers.WorkerProcess` on whichever node Ray placed it, so Blender
starts once per actor, not once per clip. The driver is a
:class:`~synth_cli.farm.local.LocalExecutor` whose workers are :class:`ActorWorker` stand-ins:
the same seed queue (free actors take the next clip), retries with backoff, per-clip timeout,
recycling, failure records and dataset index as a local run. Each attempt streams the worker's
progress events back (a Ray streaming generator), so the progress view shows frames as they
render. An actor whose process dies (killed, out of memory, its node lost) is restarted by Ray
and the clip retried like a killed local worker.

The dataset folder must be on a file system every node mounts at the same path, and the project
installed on every node. Without an address (and without ``RAY_ADDRESS``) a private
single-machine cluster is started for the run, listening on 127.0.0.1 only, and shut down after.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import shutil
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from synth_cli.farm.local import LocalExecutor, WorkerSettings, cores
from synth_cli.farm.workers import ClipResult, WorkerProcess, render_job
from synth_core.dataset.format import PARTIAL_SUFFIX, process_tag, remove_stale
from synth_core.dataset.index import STATE_DIR
from synth_core.errors import RenderError

# Ray binds a single-machine cluster to the loopback address only when told its node is not part
# of a larger cluster (the setting Ray uses on macOS and Windows); read by every Ray process.
LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
PRIVATE_OBJECT_STORE_BYTES = 128 * 1024 ** 2  # only progress events and results travel through it
PLACEMENT_POLL_S = 1.0
ACTOR_RESTART_WAIT_S = 300.0  # a restarted actor may need a new node first


def import_ray():
    """Ray, or a RenderError naming the fix (call it early: before any work)."""
    try:
        import ray
    except ImportError:
        raise RenderError("--executor ray needs Ray: pip install 'synth-humans[farm]'") from None
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None):
    """Connected to Ray for the duration; yields the cluster's GCS address.

    ``address``: a running cluster (``"head-node:6379"``, ``"ray://head-node:10001"``, ``"auto"``).
    None with ``RAY_ADDRESS`` set: that cluster (as under ``ray job submit``). None otherwise: a
    private cluster of ``num_cpus`` CPUs on this machine, listening on 127.0.0.1 only.
    A connection made here is closed at the end; one the caller made is left open."""
    private = address is None and not os.environ.get("RAY_ADDRESS")
    with _loopback_only() if private else nullcontext():
        ray = import_ray()
        connected_here = not ray.is_initialized()
        if connected_here:
            options = dict(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                           object_store_memory=PRIVATE_OBJECT_STORE_BYTES) if private else {}
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING, **options)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise RenderError(f"cannot connect to the Ray cluster at {address or os.environ.get('RAY_ADDRESS')}: "
                                  f"{exc}") from None
        try:
            yield ray.get_runtime_context().gcs_address
        finally:
            if connected_here:
                ray.shutdown()


@contextmanager
def _loopback_only():
    """Ray's loopback setting for this process and the Ray processes it starts. Ray reads it
    when imported; if it was imported before, its copy of the setting is changed for the while."""
    saved = os.environ.get(LOOPBACK_ONLY_ENV)
    os.environ[LOOPBACK_ONLY_ENV] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    saved_constant = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if saved_constant is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if saved_constant is not None:
            constants.ENABLE_RAY_CLUSTER = saved_constant
        if saved is None:
            os.environ.pop(LOOPBACK_ONLY_ENV, None)
        else:
            os.environ[LOOPBACK_ONLY_ENV] = saved


@dataclass
class AttemptEnd:
    """The last item an actor's attempt yields: how it ended and the worker's state after it."""

    result: ClipResult
    alive: bool
    clips_done: int
    rss_mb: float | None


class ClipActor:
    """Lives in a Ray worker process (``ray.remote`` is applied at run time, so importing this
    module needs no Ray); holds one Blender worker, started on its first clip."""

    def __init__(self, out: str, settings: WorkerSettings) -> None:
        self.out = Path(out)
        scratch_root = self.out / STATE_DIR / "tmp"
        # What a killed predecessor of this actor left on this node (its processes are gone).
        remove_stale(scratch_root)
        remove_stale(self.out, f"clip_*{PARTIAL_SUFFIX}-*")
        tag = process_tag()
        self.worker = WorkerProcess(f"ray-{tag}", scratch_root / f"{tag}-ray", settings.threads,
                                    settings.blender, settings.device)

    def where(self) -> str:
        """``<host>-<pid>`` of the actor; returns once Ray has placed it on a node."""
        return process_tag()

    def render(self, job: dict, timeout_s: float | None):
        """One attempt at ``job`` (the driver's folders in it are replaced by this node's):
        yields the worker's progress events as they come, then an :class:`AttemptEnd`."""
        events: queue.Queue = queue.Queue()
        ended: list[ClipResult] = []
        clip_dir = Path(job["out"])
        own_job = {key: value for key, value in job.items() if key not in ("out", "work_dir")}

        def attempt() -> None:
            try:
                ended.append(render_job(self.worker, clip_dir, own_job, events.put, timeout_s))
            except Exception as exc:  # reported as a failed attempt, not a dead actor
                ended.append(ClipResult(False, f"{type(exc).__name__}: {exc}", "crash"))
            finally:
                events.put(None)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        while (event := events.get()) is not None:
            yield event
        thread.join()
        yield AttemptEnd(ended[0], self.worker.alive, self.worker.clips_done, self.worker.rss_mb)

    def shutdown_worker(self) -> None:
        self.worker.shutdown()

    def stop_worker(self) -> None:
        self.worker.stop()


class ActorWorker:
    """Stands where the LocalExecutor expects a WorkerProcess: the Blender worker of one actor.

    ``render_job`` on the driver only makes and removes an empty folder in :attr:`scratch`; the
    actor runs ``render_job`` again on its node, with its own scratch and partial-clip cleanup
    (so :attr:`last_pid` stays None here)."""

    def __init__(self, name: str, actor, scratch: Path) -> None:
        self.name, self.actor, self.scratch = name, actor, scratch
        self.last_pid: int | None = None
        self.placed = False  # until Ray has started the actor on a node
        self.lost = False    # the actor died: Ray is restarting it
        self.closed = False  # shut down: no more attempts
        self.alive, self.clips_done, self.rss_mb = False, 0, None

    def render(self, job: dict, on_event=None, timeout: float | None = None) -> ClipResult:
        if self.closed:
            return ClipResult(False, f"worker {self.name} was shut down", "stopped")
        ray = import_ray()
        try:
            if self.lost:
                self._wait_for_restart()
            for reference in self.actor.render.remote(job, timeout):
                item = ray.get(reference)
                if isinstance(item, AttemptEnd):
                    self.alive, self.clips_done, self.rss_mb = item.alive, item.clips_done, item.rss_mb
                    return item.result
                if on_event is not None:
                    on_event(item)
        except ray.exceptions.RayActorError as exc:
            self.alive, self.lost = False, True
            return ClipResult(False, f"the Ray actor holding worker {self.name} died ({_first_line(exc)})", "killed")
        except ray.exceptions.RayError as exc:
            return ClipResult(False, f"Ray failed on worker {self.name}: {_first_line(exc)}", "crash")
        return ClipResult(False, f"the Ray actor holding worker {self.name} ended the attempt without a result",
                          "crash")

    def _wait_for_restart(self) -> None:
        """Wait while Ray restarts the actor, so that a retry is not spent on a restarting actor.
        Raises Ray's error if the actor is gone for good or not back in ``ACTOR_RESTART_WAIT_S``."""
        ray = import_ray()
        deadline = time.monotonic() + ACTOR_RESTART_WAIT_S
        while True:
            try:
                ray.get(self.actor.where.remote())
                self.lost = False
                return
            except ray.exceptions.ActorUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(PLACEMENT_POLL_S)

    def shutdown(self) -> None:
        """Kill the Blender worker at once and never start it again (Ctrl-C, the run's end);
        the actor answers while it renders."""
        self.closed = True
        self._call("shutdown_worker")

    def stop(self) -> None:
        self._call("stop_worker")
        self.alive = False
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _call(self, method: str) -> None:
        if not self.placed:
            return
        ray = import_ray()
        try:
            ray.get(getattr(self.actor, method).remote(), timeout=30)
        except (ray.exceptions.RayError, TimeoutError):
            pass  # a dead actor's Blender worker died with it (Ray kills a worker's children)


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class RayExecutor(LocalExecutor):
    """A LocalExecutor whose ``settings.workers`` workers are Ray actors (see the module doc).

    ``cpus_per_worker`` (default ``settings.threads`` or 1) is what each actor reserves on the
    cluster, and its Blender worker's Cycles threads unless ``settings.threads`` says otherwise;
    ``address`` as in :func:`ray_session`. Actors the cluster has no room for wait, and give up
    once the others have taken every clip."""

    def __init__(self, out: Path, options_dict: dict, settings: WorkerSettings, reporter,
                 address: str | None = None, cpus_per_worker: int | None = None) -> None:
        self.cpus_per_worker = cpus_per_worker or settings.threads or 1
        # Cycles uses the CPUs the actor reserved, not every core of its node.
        super().__init__(out, options_dict, dataclasses.replace(settings, threads=settings.threads or
                                                                self.cpus_per_worker), reporter)
        self.address = address
        self._exhausted = threading.Event()
        self._actor_class = None
        self._start_errors: list[str] = []

    def run(self, seeds):
        private_cpus = max(cores(), self.settings.workers * self.cpus_per_worker)
        with ray_session(self.address, private_cpus) as gcs_address:
            ray = import_ray()  # imported by ray_session, after the loopback setting
            self.index.log_event(self.owner, "ray_connected", address=gcs_address, actors=self.settings.workers,
                                 cpus_per_actor=self.cpus_per_worker)
            # max_restarts=-1: Ray restarts a dead actor (on another node if its node is gone);
            # no task retries: the executor retries the clip and counts the attempts.
            # max_concurrency=2: shutdown_worker is answered while render runs.
            self._actor_class = ray.remote(ClipActor).options(
                num_cpus=self.cpus_per_worker, max_restarts=-1, max_task_retries=0, max_concurrency=2)
            summary = super().run(seeds)
        if self.scratch_root.is_dir() and not any(self.scratch_root.iterdir()):
            self.scratch_root.rmdir()  # the actors may empty it only after the run's own check
        if len(self._start_errors) == self.settings.workers:
            raise RenderError(f"no Ray actor could start: {self._start_errors[0]} (is the project installed "
                              "on every node, with the dataset folder mounted at the same path?)")
        return summary

    def _next_seed(self, pending) -> int | None:
        seed = super()._next_seed(pending)
        if seed is None:
            self._exhausted.set()
        return seed

    def _new_worker(self, slot: int) -> "ActorWorker":
        actor = self._actor_class.remote(str(self.out), self.settings)
        return ActorWorker(f"ray{slot}", actor, self.scratch_root / f"{self.owner}-ray{slot}")

    def _ready(self, slot: int, worker: "ActorWorker") -> bool:
        worker.placed = self._placed(slot, worker.actor)
        return worker.placed

    def _release(self, worker: "ActorWorker") -> None:
        import_ray().kill(worker.actor)

    def _placed(self, slot: int, actor) -> bool:
        """Wait until Ray places the actor on a node; give up once the other actors have taken
        every clip (a cluster too small for all actors must not hang the run)."""
        ray = import_ray()
        self.reporter.worker_state(slot, "waiting for a place on the Ray cluster")
        where = actor.where.remote()
        while not (self._stop.is_set() or self._exhausted.is_set()):
            ready, _ = ray.wait([where], timeout=PLACEMENT_POLL_S)
            if ready:
                try:
                    self.reporter.worker_state(slot, f"on {ray.get(where)}")
                except ray.exceptions.RayError as exc:
                    self._start_errors.append(_first_line(exc))
                    self.index.log_event(self.owner, "ray_actor_failed", worker=f"ray{slot}",
                                         reason=_first_line(exc))
                    self.reporter.worker_state(slot, f"actor failed to start: {_first_line(exc)}")
                    return False
                return True
        return False

"""Long-lived Blender worker processes (``blender_addon.worker --serve``) and one clip job.

A :class:`WorkerProcess` is started once and renders many clips: Python, bpy and the
project's caches (body model, motion files, background lists) load once per worker, not once
per clip. The executor talks to it over pipes: one JSON job a line in, the worker's progress
events (``SYNTH {...}`` lines) out. A clip that runs past its timeout gets the worker killed;
the executor then starts a fresh one.

Each worker's scratch files (the clip's texture and RGB frames, Blender's compiled shaders)
live in a scratch folder the executor gives it, named for the host and process that own it, so
two workers given the same seed never touch each other's files and nothing is left in /tmp.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from synth_core.dataset.writer import partial_dir
from synth_core.errors import RenderError

PROGRESS_PREFIX = "SYNTH "   # the worker's event lines (blender_addon.worker.emit)
LOG_TAIL_LINES = 10          # of a worker's own output, kept to explain a failure


class WorkerStopped(Exception):
    """A worker asked to start after its executor shut it down."""


@dataclass
class ClipResult:
    """How one attempt at a clip ended."""

    ok: bool
    message: str = ""
    kind: str = ""               # the worker's error class, "killed", "timeout", "crash", ...
    rss_mb: float | None = None  # the worker's resident memory after the clip
    frames: int | None = None    # frames written (a short AMASS file gives fewer than asked)
    timings: dict | None = None  # seconds per stage of the clip, as the worker measured them
    log_tail: list[str] = field(default_factory=list)

    @property
    def retryable(self) -> bool:
        """Bad input fails the same way every time; crashes, kills and timeouts may not."""
        return not self.ok and self.kind not in INPUT_ERRORS and not self.output_unwritable

    @property
    def output_unwritable(self) -> bool:
        """The disk is full or read-only: every later clip would fail the same way."""
        return not self.ok and any(f"[Errno {errno}]" in self.message for errno in UNWRITABLE_ERRNOS)


UNWRITABLE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)
# Error classes (synth_core.errors) that mean the plan's input is wrong: no retry helps.
INPUT_ERRORS = frozenset({"PlanError", "MotionError", "TextureError", "BackgroundError",
                          "BodyModelFileError", "BodyInputError", "AssetError"})




def worker_command(blender: str | None, threads: int | None, device: str = "cpu") -> list[str]:
    """``python -m blender_addon.worker --serve`` with the bpy module of this environment, or the
    worker script run inside a Blender binary (``blender -b --python worker.py -- --serve``)."""
    options = ["--serve", "--device", device] + (["--threads", str(threads)] if threads else [])
    if blender is None:
        return [sys.executable, "-P", "-m", "blender_addon.worker", *options]
    script = Path(find_spec("blender_addon").origin).parent / "worker.py"
    return [blender, "--background", "--factory-startup", "--python-exit-code", "1",
            "--python", str(script), "--", *options]


def worker_environment(work_dir: Path | None = None) -> dict[str, str]:
    """The worker imports this process's copy of the project (a checkout, an editable install
    or a wheel), prints unbuffered, and keeps Blender's temporary files in ``work_dir``."""
    root = str(Path(find_spec("blender_addon").origin).resolve().parents[1])
    paths = [root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(paths)}
    if work_dir is not None:
        env["TMPDIR"] = str(work_dir)
    return env


def check_device(device: str, blender: str | None = None) -> str:
    """Ask Blender whether it can render on ``device``; returns the device names or raises
    RenderError with Blender's reason (no such back-end, no such GPU). Costs one Blender start."""
    if blender is None:
        command = [sys.executable, "-P", "-m", "blender_addon.render.devices", device]
    else:
        script = Path(find_spec("blender_addon").origin).parent / "render" / "devices.py"
        command = [blender, "--background", "--factory-startup", "--python", str(script), "--", device]
    result = subprocess.run(command, capture_output=True, text=True, env=worker_environment())
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0:
        raise RenderError(lines[-1] if lines else f"Blender could not check device {device}: {result.stderr[-500:]}")
    return lines[-1]


def signal_text(number: int) -> str:
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = "unknown signal"
    hint = " (out of memory, or killed by a user or a scheduler)" if number == signal.SIGKILL else ""
    return f"killed by signal {number} ({name}){hint}"


class WorkerProcess:
    """One Blender worker serving clip jobs until :meth:`stop` (or a kill)."""

    def __init__(self, name: str, scratch: Path, threads: int | None = None, blender: str | None = None,
                 device: str = "cpu"):
        self.name, self.threads, self.blender, self.device = name, threads, blender, device
        self.scratch = scratch  # TMPDIR of the worker: Blender's own temporary files
        self.clips_done = 0
        self.rss_mb: float | None = None
        self._process: subprocess.Popen | None = None
        self.last_pid: int | None = None
        self._lines: queue.Queue = queue.Queue()
        self._tail: list[str] = []
        self._closed = False             # after shutdown(): never start again
        self._starting = threading.Lock()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        with self._starting:  # never races shutdown(): a worker started after it would be orphaned
            if self._closed:
                raise WorkerStopped(f"worker {self.name} was shut down")
            self.scratch.mkdir(parents=True, exist_ok=True)
            # Its own session: a terminal's Ctrl-C reaches the executor only, which stops workers itself.
            self._process = subprocess.Popen(
                worker_command(self.blender, self.threads, self.device), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=worker_environment(self.scratch),
                cwd=self.scratch, start_new_session=True)
        self.last_pid = self._process.pid  # names its partial clips (ClipWriter's owner)
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self._process, self._lines), daemon=True).start()
        self.clips_done, self.rss_mb, self._tail = 0, None, []

    @staticmethod
    def _pump(process: subprocess.Popen, lines: queue.Queue) -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)  # end of output: the process exited

    def render(self, job: dict, on_event=None, timeout: float | None = None) -> ClipResult:
        """Send one job and wait for its end; kills the worker past ``timeout`` seconds."""
        if not self.alive:
            try:
                self.start()
            except WorkerStopped as exc:
                return ClipResult(False, str(exc), "stopped")
        try:
            self._process.stdin.write(json.dumps(job) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._ended_result()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self.kill()
                return ClipResult(False, f"timed out after {timeout:g} s", "timeout", log_tail=self._tail)
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                return self._ended_result()
            if not line.startswith(PROGRESS_PREFIX):
                self._tail = (self._tail + [line.rstrip()])[-LOG_TAIL_LINES:]
                continue
            event = json.loads(line[len(PROGRESS_PREFIX):])
            if on_event is not None:
                on_event(event)
            if event["event"] == "done":
                self.clips_done += 1
                self.rss_mb = event.get("rss_mb")
                return ClipResult(True, rss_mb=self.rss_mb, frames=event.get("frames"),
                                  timings=event.get("timings"))
            if event["event"] == "error":
                self.rss_mb = event.get("rss_mb", self.rss_mb)
                if event.get("kind") == "crash":
                    self._wait_exit()
                return ClipResult(False, event["message"], event.get("kind", ""), self.rss_mb, self._tail)

    def _ended_result(self) -> ClipResult:
        code = self._wait_exit()
        if code is not None and code < 0:
            return ClipResult(False, f"the Blender worker was {signal_text(-code)}", "killed", log_tail=self._tail)
        return ClipResult(False, f"the Blender worker exited (code {code}) without finishing the clip",
                          "crash", log_tail=self._tail)

    def _wait_exit(self) -> int | None:
        try:
            return self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return self._process.returncode

    def kill(self) -> None:
        if self.alive:
            self._process.kill()
            self._process.wait()

    def shutdown(self) -> None:
        """Kill the worker now and refuse to start it again (Ctrl-C, end of the run)."""
        with self._starting:
            self._closed = True
            self.kill()

    def stop(self) -> None:
        """Close the job stream (the worker exits after its current job) and wait briefly."""
        if self._process is None:
            return
        try:
            self._process.stdin.close()
            self._process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)


def render_job(worker: WorkerProcess, clip_dir: Path, job: dict, on_event=None,
               timeout: float | None = None) -> ClipResult:
    """Render one clip with ``worker`` (job: ``{"plan": ...}`` or ``{"seed", "options"}``).
    The clip's scratch folder lives in the worker's; a failed attempt leaves neither scratch
    nor a partial clip behind."""
    work_dir = worker.scratch / clip_dir.name
    shutil.rmtree(work_dir, ignore_errors=True)
    try:
        work_dir.mkdir(parents=True)
        result = worker.render({**job, "out": str(clip_dir), "work_dir": str(work_dir)}, on_event, timeout)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if not result.ok and worker.last_pid is not None:  # a killed worker cannot clean up after itself
        shutil.rmtree(partial_dir(clip_dir, f"{socket.gethostname()}-{worker.last_pid}"), ignore_errors=True)
    return result

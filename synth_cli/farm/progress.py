"""What a render run shows while it works: a rich live view on a terminal (frames, clips,
frames/s, ETA, failures, one line per worker), plain periodic lines otherwise (logs of batch
jobs). Both are fed by the executor's worker threads, so every method is thread-safe."""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

PLAIN_INTERVAL_S = 10.0


def clip_label(seed: int) -> str:
    return f"clip_{seed:08d}"


class Reporter:
    """Counts clips and frames; subclasses show them."""

    def __init__(self, console: Console, n_clips: int, frames_per_clip: int, renders_per_frame: int) -> None:
        self.console = console
        self.total_frames = n_clips * frames_per_clip
        self.frames_per_clip, self.renders_per_frame = frames_per_clip, renders_per_frame
        self.frames_done = 0.0
        self.clips_done = self.clips_failed = self.clips_skipped = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.states: dict[int, str] = {}

    @property
    def frames_per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.frames_done / elapsed if elapsed > 0 else 0.0

    def clip_skipped(self, seed: int) -> None:
        with self.lock:
            self.clips_skipped += 1
            self.total_frames -= self.frames_per_clip
        self.refresh()

    def clip_started(self, slot: int, seed: int, attempt: int) -> None:
        self.worker_state(slot, f"{clip_label(seed)}" + (f" (attempt {attempt})" if attempt > 1 else ""))

    def worker_event(self, slot: int, seed: int, event: dict) -> None:
        if event["event"] == "render":
            with self.lock:
                self.frames_done += 1 / self.renders_per_frame
            self.states[slot] = f"{clip_label(seed)} {event['kind']} frame {event['frame'] + 1}"
            self.refresh()
        elif event["event"] == "start":  # a clip may be shorter than asked (a short AMASS file)
            with self.lock:
                self.total_frames += event["frames"] - self.frames_per_clip

    def clip_finished(self, slot: int, seed: int, ok: bool, message: str) -> None:
        with self.lock:
            if ok:
                self.clips_done += 1
            else:
                self.clips_failed += 1
        if not ok:
            self.console.print(f"[red]{clip_label(seed)} failed:[/] {escape(message)}", highlight=False)
        self.worker_state(slot, "idle")

    def worker_state(self, slot: int, text: str) -> None:
        self.states[slot] = text
        self.refresh()

    def refresh(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass


class RichReporter(Reporter):
    """A live view: the overall bar and one line per worker."""

    def __enter__(self):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[stats]}"), TimeRemainingColumn(),
                                 console=self.console, transient=False)
        self.progress.__enter__()
        self.task = self.progress.add_task("frames", total=self.total_frames, stats="")
        self.worker_tasks: dict[int, int] = {}
        return self

    def refresh(self) -> None:
        if not hasattr(self, "progress"):
            return
        with self.lock:
            stats = (f"{self.frames_per_second:5.1f} frames/s  clips {self.clips_done} done"
                     + (f", [red]{self.clips_failed} failed[/]" if self.clips_failed else ""))
            self.progress.update(self.task, completed=int(self.frames_done), total=max(self.total_frames, 1),
                                 stats=stats)
            for slot, text in sorted(self.states.items()):
                if slot not in self.worker_tasks:
                    self.worker_tasks[slot] = self.progress.add_task(f"  worker {slot}", total=None,
                                                                     stats="", start=False)
                self.progress.update(self.worker_tasks[slot], stats=escape(text))

    def __exit__(self, *exc_info) -> None:
        self.refresh()
        self.progress.__exit__(*exc_info)


class PlainReporter(Reporter):
    """One line every ``PLAIN_INTERVAL_S`` seconds and at the end: readable in a batch log."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._last = time.monotonic()

    def refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PLAIN_INTERVAL_S:
            return
        self._last = now
        with self.lock:
            remaining = max(self.total_frames - self.frames_done, 0)
            eta = f"{remaining / self.frames_per_second:.0f} s" if self.frames_per_second > 0 else "-"
            line = (f"frames {int(self.frames_done)}/{self.total_frames}  {self.frames_per_second:.2f} frames/s  "
                    f"clips done {self.clips_done} failed {self.clips_failed} skipped {self.clips_skipped}  "
                    f"ETA {eta}")
        self.console.print(line, highlight=False, markup=False)

    def __exit__(self, *exc_info) -> None:
        self.refresh(force=True)


def make_reporter(console: Console, n_clips: int, frames_per_clip: int, renders_per_frame: int) -> Reporter:
    cls = RichReporter if console.is_terminal else PlainReporter
    return cls(console, n_clips, frames_per_clip, renders_per_frame)

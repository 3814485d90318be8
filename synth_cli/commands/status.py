"""`synth status`: how far a dataset is (done / failed / in progress / remaining), from one
directory listing and the dataset's own records (``DIR/.synth``), without opening any clip."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import click

from synth_cli.farm.local import clip_name
from synth_core.dataset.format import PARTIAL_SUFFIX
from synth_core.dataset.index import DatasetIndex
from synth_core.errors import DatasetFormatError

# clip_<seed> (finished, see synth_cli.farm.local.clip_name) or clip_<seed>.partial-<host>-<pid>
# (being written by that process, see synth_core.dataset.writer)
CLIP_FOLDER = re.compile(r"clip_(\d+)(" + re.escape(PARTIAL_SUFFIX) + r".*)?")
SHOWN_NAMES = 5      # clip names listed per line of the text report
SHOWN_FAILURES = 20  # failed clips listed with their reason in the text report
JSON_NAMES = 100     # ...and per list of the JSON report
FAILURE_FIELDS = ("reason", "attempts", "owner", "time")  # of DatasetIndex.record_failed


@dataclass
class DatasetStatus:
    """Where a dataset stands. Seeds are clip seeds; the folders are the truth: a clip is done
    when its folder exists, whatever the records say."""

    root: Path
    first_seed: int | None = None
    requested: int | None = None          # clips asked for (largest --n recorded), None: unknown
    frames_per_clip: int | None = None
    finished: set[int] = field(default_factory=set)     # clip_<seed> folders
    partial: set[int] = field(default_factory=set)      # clip_<seed>.partial* folders
    failures: dict[int, dict] = field(default_factory=dict)  # last failure record per seed

    @property
    def known_extent(self) -> bool:
        return self.first_seed is not None and self.requested is not None

    # Computed once, after the scan (the fields are not changed afterwards).

    @cached_property
    def done(self) -> list[int]:
        if not self.known_extent:
            return sorted(self.finished)
        return sorted(self.finished.intersection(range(self.first_seed, self.first_seed + self.requested)))

    @cached_property
    def outside_request(self) -> list[int]:
        """Finished clips beyond what any recorded run asked for."""
        return sorted(self.finished.difference(self.done))

    @cached_property
    def in_progress(self) -> list[int]:
        return sorted(self.partial - self.finished)

    @cached_property
    def failed(self) -> list[int]:
        return sorted(set(self.failures) - self.finished - self.partial)

    @cached_property
    def remaining(self) -> list[int] | None:
        """Expected clips neither done, failed nor being written; None when the extent is unknown."""
        if not self.known_extent:
            return None
        taken = self.finished | self.partial | set(self.failures)
        return sorted(set(range(self.first_seed, self.first_seed + self.requested)) - taken)


def scan_dataset(root: Path) -> DatasetStatus:
    """One ``os.scandir`` of ``root`` plus the small files of ``root/.synth`` (config, requests,
    failure records): nothing per finished clip is opened."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetFormatError(f"{root} is not a folder (give the dataset folder, the --out of synth render)")
    index = DatasetIndex(root)
    identity = (index.config() or {}).get("identity", {})
    status = DatasetStatus(root, identity.get("first_seed"), index.requested_clips(),
                           identity.get("options", {}).get("n_frames"))
    with os.scandir(root) as entries:
        for entry in entries:
            match = CLIP_FOLDER.fullmatch(entry.name)
            if match and entry.is_dir():
                (status.partial if match.group(2) else status.finished).add(int(match.group(1)))
    for record in index.failures().values():
        if isinstance(record.get("seed"), int):
            status.failures[record["seed"]] = record
    return status


@click.command("status")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text (for scripts).")
def status(directory: Path, as_json: bool) -> None:
    """How far the dataset in DIRECTORY is: clips done, failed (with the reason), in progress
    (being written, or left by a killed run) and remaining.

    Reads one directory listing and the records in DIRECTORY/.synth; no clip is opened, so it
    is instant on 100,000 clips. To check the clips themselves, use `synth validate`.

    Example: `synth status data` or `synth status data --json | jq .remaining`.
    """
    state = scan_dataset(directory)
    click.echo(json.dumps(status_dict(state), indent=1) if as_json else status_text(state))


def status_dict(state: DatasetStatus) -> dict:
    remaining = state.remaining
    return {
        "dataset": str(state.root), "first_seed": state.first_seed, "requested": state.requested,
        "frames_per_clip": state.frames_per_clip,
        "done": len(state.done), "failed": len(state.failed), "in_progress": len(state.in_progress),
        "remaining": None if remaining is None else len(remaining),
        "outside_request": len(state.outside_request),
        "frames_done": None if state.frames_per_clip is None else len(state.done) * state.frames_per_clip,
        "failures": [{"clip": clip_name(s), **{key: state.failures[s].get(key) for key in FAILURE_FIELDS}}
                     for s in state.failed],
        "in_progress_clips": [clip_name(s) for s in state.in_progress[:JSON_NAMES]],
        "first_remaining": None if remaining is None else [clip_name(s) for s in remaining[:JSON_NAMES]],
    }


def status_text(state: DatasetStatus) -> str:
    remaining = state.remaining
    lines = [f"Dataset {state.root}: {_extent(state)}"]
    frames = f"   ({len(state.done) * state.frames_per_clip:,} frames)" if state.frames_per_clip else ""
    lines.append(f"  done         {len(state.done):>9,}{_share(len(state.done), state)}{frames}")
    lines.append(f"  failed       {len(state.failed):>9,}")
    lines.append(f"  in progress  {len(state.in_progress):>9,}" + _names(state.in_progress))
    lines.append("  remaining    " + ("  unknown (no run recorded how many clips it was asked for)"
                                      if remaining is None else f"{len(remaining):>9,}" + _names(remaining)))
    if state.outside_request:
        lines.append(f"  beyond the requested clips: {len(state.outside_request):,}" + _names(state.outside_request))
    if state.failed:
        lines.append("Failed clips (their last attempt; re-running synth render tries them again):")
        for seed in state.failed[:SHOWN_FAILURES]:
            record = state.failures[seed]
            attempts, reason = record.get("attempts", "?"), record.get("reason", "")
            lines.append(f"  {clip_name(seed)} after {attempts} attempt(s): {reason}")
        if len(state.failed) > SHOWN_FAILURES:
            lines.append(f"  ... and {len(state.failed) - SHOWN_FAILURES:,} more (all of them: synth status --json)")
    return "\n".join(lines)


def _extent(state: DatasetStatus) -> str:
    if not state.known_extent:
        seeds = "" if state.first_seed is None else f"first seed {state.first_seed}, "
        return f"{seeds}{len(state.finished):,} clip folder(s); how many were asked for is not recorded"
    last = state.first_seed + state.requested - 1
    per_clip = f" of {state.frames_per_clip} frames" if state.frames_per_clip else ""
    return f"{state.requested:,} clip(s){per_clip}, seeds {state.first_seed}..{last}"


def _share(count: int, state: DatasetStatus) -> str:
    return f" ({100 * count / state.requested:5.1f}%)" if state.known_extent and state.requested else ""


def _names(seeds: list[int]) -> str:
    if not seeds:
        return ""
    shown = ", ".join(clip_name(s) for s in seeds[:SHOWN_NAMES])
    return f"   {shown}" + (f", ... ({len(seeds) - SHOWN_NAMES:,} more)" if len(seeds) > SHOWN_NAMES else "")

"""A dataset's own records, in ``<dataset>/.synth/``, safe with many processes on many hosts:

- ``config.json``: the resolved render configuration, versions and asset hashes of the run
  that created the dataset; a run with another configuration is refused.
- ``index/<owner>.jsonl``: one line per completed clip (clip, seed, frames, time), appended by
  the process ``owner`` only, so concurrent shards never write the same file. The clip folders
  remain the truth: a line whose folder is gone does not count.
- ``failed/<clip>.json``: the last failure of a clip that gave up (reason, attempts); removed
  when the clip is later completed.
- ``events/<owner>.jsonl``: what each process did, one JSON object a line (a log to read).

Every whole-file write goes through a temporary name and a rename; appends are one ``write``
of one line, and a reader skips a torn last line left by a killed process.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from synth_core.errors import DatasetFormatError

STATE_DIR = ".synth"


class DatasetIndex:
    """The records of the dataset at ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.state = self.root / STATE_DIR

    # -- configuration --------------------------------------------------------------------------

    def claim_config(self, config: dict) -> None:
        """Record ``config`` as the dataset's, or check it equals the recorded one.
        ``config["identity"]`` is what must match; the rest (versions, hashes) is provenance."""
        path = self.state / "config.json"
        if path.is_file():
            recorded = _read_json(path)
            if recorded.get("identity") != config["identity"]:
                raise DatasetFormatError(_config_mismatch(path, recorded.get("identity", {}), config["identity"]))
            return
        self.state.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(path, config)

    def config(self) -> dict | None:
        path = self.state / "config.json"
        return _read_json(path) if path.is_file() else None

    def record_request(self, owner: str, n_clips: int) -> None:
        """Note that ``owner``'s run was asked for clips ``0 .. n_clips - 1`` (what ``synth
        status`` counts as remaining); one small file per process, so shards never share one."""
        folder = self.state / "requests"
        folder.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(folder / f"{owner}.json", {"n_clips": n_clips, "owner": owner, "time": time.time()})

    def requested_clips(self) -> int | None:
        """The most clips any run asked for (a later run may grow the dataset); None if no run
        recorded its request."""
        counts = []
        for path in (self.state / "requests").glob("*.json"):
            try:
                counts.append(int(_read_json(path)["n_clips"]))
            except (DatasetFormatError, KeyError, TypeError, ValueError):
                continue  # being replaced right now, or not ours
        return max(counts, default=None)

    # -- clips ----------------------------------------------------------------------------------

    def record_done(self, owner: str, clip: str, seed: int, n_frames: int) -> None:
        self._append(self.state / "index" / f"{owner}.jsonl",
                     {"clip": clip, "seed": seed, "n_frames": n_frames, "time": time.time()})
        (self.state / "failed" / f"{clip}.json").unlink(missing_ok=True)

    def record_failed(self, clip: str, seed: int, reason: str, attempts: int, owner: str) -> None:
        folder = self.state / "failed"
        folder.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(folder / f"{clip}.json", {"clip": clip, "seed": seed, "reason": reason,
                                                      "attempts": attempts, "owner": owner,
                                                      "time": time.time()})

    def done(self) -> dict[str, dict]:
        """Completed clips by name, as recorded, whose folder still exists."""
        entries = {}
        for path in sorted((self.state / "index").glob("*.jsonl")):
            for entry in _read_lines(path):
                entries[entry["clip"]] = entry
        return {name: entry for name, entry in entries.items() if (self.root / name).is_dir()}

    def failures(self) -> dict[str, dict]:
        failed = {}
        for path in sorted((self.state / "failed").glob("*.json")):
            try:
                entry = _read_json(path)
            except DatasetFormatError:
                continue  # being replaced right now
            failed[entry["clip"]] = entry
        return failed

    # -- events ---------------------------------------------------------------------------------

    def log_event(self, owner: str, event: str, **fields) -> None:
        self._append(self.state / "events" / f"{owner}.jsonl", {"time": time.time(), "event": event, **fields})

    def events(self) -> list[dict]:
        lines = [entry for path in (self.state / "events").glob("*.jsonl") for entry in _read_lines(path)]
        return sorted(lines, key=lambda entry: entry.get("time", 0))

    @staticmethod
    def _append(path: Path, entry: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(entry, sort_keys=True) + "\n").encode()
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)  # one write of one line: never interleaved with another
        finally:
            os.close(descriptor)


def _read_lines(path: Path) -> list[dict]:
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line from a killed process
    return entries


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetFormatError(f"cannot read {path}: {exc}") from exc


def _write_json_atomic(path: Path, data: dict) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(temporary, path)


def _config_mismatch(path: Path, recorded: dict, given: dict) -> str:
    recorded, given = _flatten(recorded), _flatten(given)
    differences = [f"{key}: dataset has {recorded.get(key)!r}, this run {given.get(key)!r}"
                   for key in sorted(set(recorded) | set(given)) if recorded.get(key) != given.get(key)]
    return (f"{path.parent.parent} was rendered with other options ({path}); render into another "
            f"folder or use the same options. Differences: " + "; ".join(differences))


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat

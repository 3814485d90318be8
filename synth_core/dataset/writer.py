"""Write one clip folder atomically: everything goes into ``<clip_dir>.partial-<owner>/`` and is renamed
to ``<clip_dir>`` only once complete, so a crash never leaves a ``clip_dir`` behind and a
complete clip is never overwritten. A failure while writing files (a full disk) deletes the
partial folder at once and raises the disk's own error, naming the clip.

>>> with ClipWriter("out/clip_000001", 240, 320, n_frames=100,
...                 passes=["rgb", "depth", "segmentation"]) as writer:   # doctest: +SKIP
...     for i in range(100):
...         writer.write_frame(i, rgb=rgb[i], depth=depth[i], segmentation=seg[i])
...     writer.finish(meta, annotations)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from synth_core.assets import sha256_of
from synth_core.dataset import format as fmt
from synth_core.errors import DatasetFormatError

# Fixed zip timestamps: the same content gives the same bytes (and checksums) on every run.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_DEFLATE_LEVEL = 6


class ClipWriter:
    """Collects the frames of one clip, then :meth:`finish` writes meta + annotations and
    publishes the folder. Used as a context manager, an exception removes the partial folder."""

    def __init__(self, clip_dir: str | Path, height: int, width: int, n_frames: int,
                 passes, rgb_format: str = "jpeg", owner: str | None = None) -> None:
        self.clip_dir = Path(clip_dir)
        self.height, self.width, self.n_frames = _positive("height", height), _positive("width", width), \
            _positive("n_frames", n_frames)
        if self.n_frames > fmt.MAX_FRAMES:
            raise DatasetFormatError(f"n_frames {n_frames} exceeds the format's {fmt.MAX_FRAMES}")
        self.passes = _check_passes(passes)
        if rgb_format not in fmt.RGB_FORMATS:
            raise DatasetFormatError(f"rgb_format must be one of {fmt.RGB_FORMATS}, got {rgb_format!r}")
        self.rgb_format = rgb_format
        if self.clip_dir.exists():
            raise DatasetFormatError(f"{self.clip_dir} already exists; a finished clip is never overwritten")
        # Named for its owner (host and process): two writers given the same clip never touch
        # each other's files; the first to finish publishes the clip, the other gives up.
        self.partial_dir = partial_dir(self.clip_dir, owner or fmt.process_tag())
        if self.partial_dir.exists():  # left by a crashed writer of this owner: start again
            shutil.rmtree(self.partial_dir)
        self._zips: dict[str, zipfile.ZipFile] = {}
        self._written = np.zeros(self.n_frames, dtype=bool)
        self._wide_frames: dict[str, dict[str, list[int]]] = {}  # pass -> {dtype: frames}
        self._state = "open"
        with self._fatal_on_failure("the folder"):
            self.partial_dir.mkdir(parents=True)
            if "rgb" in self.passes:
                (self.partial_dir / "rgb").mkdir()
            for name in self.passes:
                if name != "rgb":
                    self._zips[name] = zipfile.ZipFile(self.partial_dir / fmt.LABEL_PASSES[name].file, "w")

    # -- frames ---------------------------------------------------------------------------------

    def write_frame(self, i: int, **arrays: np.ndarray) -> None:
        """Encode and store frame ``i``: one array per pass given at creation (names and
        dtypes as in FORMAT.md). Errors name the pass and the frame."""
        self._require_open()
        frame = self._check_frame_index(i)
        given, expected = set(arrays), set(self.passes)
        if given != expected:
            problems = []
            if expected - given:
                problems.append(f"missing {', '.join(sorted(expected - given))}")
            if given - expected:
                problems.append(f"unexpected {', '.join(sorted(given - expected))} "
                                f"(this clip has passes {', '.join(self.passes)})")
            raise DatasetFormatError(f"frame {frame}: {'; '.join(problems)}")
        encoded = {name: self._encode(name, frame, array) for name, array in arrays.items()}
        with self._fatal_on_failure(f"frame {frame}"):
            for name, payload in encoded.items():
                if name == "rgb":
                    self._write_rgb(frame, payload)
                else:
                    self._write_member(name, frame, payload)
        self._written[frame] = True

    def _write_member(self, name: str, frame: int, stored: np.ndarray) -> None:
        info = zipfile.ZipInfo(fmt.member_name(frame), date_time=_ZIP_DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        self._zips[name].writestr(info, fmt.npy_bytes(stored), compresslevel=_DEFLATE_LEVEL)
        if stored.dtype != np.dtype(fmt.LABEL_PASSES[name].stored_dtype):  # a wide frame
            self._wide_frames.setdefault(name, {}).setdefault(stored.dtype.name, []).append(frame)

    def _encode(self, name: str, frame: int, array: np.ndarray) -> np.ndarray:
        if name == "rgb":
            return fmt.encode_rgb(frame, array, self.height, self.width)
        return fmt.encode_label(name, frame, array, self.height, self.width)

    def _write_rgb(self, frame: int, rgb: np.ndarray) -> None:
        buffer = io.BytesIO()
        image = Image.fromarray(rgb)
        if self.rgb_format == "jpeg":
            image.save(buffer, "JPEG", quality=fmt.JPEG_QUALITY, subsampling=0)
        else:
            image.save(buffer, "PNG", compress_level=6)
        (self.partial_dir / fmt.rgb_file(frame, self.rgb_format)).write_bytes(buffer.getvalue())

    def _check_frame_index(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.n_frames:
            raise DatasetFormatError(f"frame index {i!r} is outside 0..{self.n_frames - 1}")
        if self._written[i]:
            raise DatasetFormatError(f"frame {i} was already written")
        return int(i)

    # -- finishing ------------------------------------------------------------------------------

    def finish(self, meta: dict, annotations: dict) -> Path:
        """Write meta.json, annotations.npz and checksums, then rename the folder into place."""
        self._require_open()
        missing = np.flatnonzero(~self._written)
        if missing.size:
            shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if missing.size > 10 else "")
            raise DatasetFormatError(f"{self.clip_dir}: frames not written: {shown}")
        annotations = fmt.validate_annotations(annotations, self.n_frames, str(self.clip_dir))
        meta_text = self._meta_json(meta)
        # From here on the zips are closed: any failure ends the clip (no partial folder is left).
        with self._fatal_on_failure("the clip's last files"):
            for archive in self._zips.values():
                archive.close()
            (self.partial_dir / fmt.ANNOTATIONS_FILE).write_bytes(_npz_bytes(annotations))
            (self.partial_dir / fmt.META_FILE).write_text(meta_text)
            digests = {path: sha256_of(self.partial_dir / path) for path in self._files()}
            (self.partial_dir / fmt.CHECKSUMS_FILE).write_text(fmt.format_checksums(digests))
            self._publish()
        self._state = "finished"
        return self.clip_dir

    def _meta_json(self, meta: dict) -> str:
        if not isinstance(meta, dict):
            raise DatasetFormatError(f"{self.clip_dir}: meta must be a dict, got {type(meta).__name__}")
        clash = [key for key in fmt.RESERVED_META_KEYS if key in meta]
        if clash:
            raise DatasetFormatError(f"{self.clip_dir}: meta keys {', '.join(clash)} are written by the "
                                     "clip writer itself; leave them out")
        full = {"format": fmt.FORMAT_NAME, "version": fmt.FORMAT_VERSION, "passes": list(self.passes),
                "encodings": {name: fmt.pass_encoding(name, self.rgb_format, self._wide_frames.get(name))
                              for name in self.passes},
                "n_frames": self.n_frames, "height": self.height, "width": self.width, **meta}
        try:
            return json.dumps(full, indent=2, allow_nan=False, default=_json_default) + "\n"
        except (TypeError, ValueError) as exc:
            raise DatasetFormatError(f"{self.clip_dir}: meta is not JSON-serialisable: {exc}") from exc

    def _files(self) -> list[str]:
        files = [fmt.META_FILE, fmt.ANNOTATIONS_FILE]
        files += [fmt.LABEL_PASSES[name].file for name in self.passes if name != "rgb"]
        if "rgb" in self.passes:
            files += [fmt.rgb_file(i, self.rgb_format) for i in range(self.n_frames)]
        return files

    def _publish(self) -> None:
        if self.clip_dir.exists():
            raise DatasetFormatError(f"{self.clip_dir} appeared while writing; it is left untouched "
                                     "and this writer's copy of the clip was deleted")
        try:
            os.rename(self.partial_dir, self.clip_dir)
        except OSError as exc:
            raise DatasetFormatError(f"could not rename {self.partial_dir} to {self.clip_dir}: {exc}") from exc

    # -- lifecycle ------------------------------------------------------------------------------

    def abort(self) -> None:
        """Drop everything written so far (the partial folder). Never raises: on a full disk,
        closing a zip fails again, and the folder must be deleted all the same."""
        for archive in self._zips.values():
            try:
                archive.close()  # releases the file handle even when writing its directory fails
            except Exception:  # noqa: BLE001 - the file is deleted next; its content does not matter
                pass
        shutil.rmtree(self.partial_dir, ignore_errors=True)
        self._state = "aborted"

    @contextlib.contextmanager
    def _fatal_on_failure(self, writing: str):
        """Any failure while writing files ends the clip: the partial folder is deleted at once
        (a full disk gets its space back) and a disk error is raised as an OSError with the
        disk's own errno and reason, naming what was being written."""
        try:
            yield
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                file = f" ({exc.filename})" if exc.filename else ""
                reason = (f"{exc.strerror or exc}{file} while writing {writing} of {self.clip_dir}; "
                          "the unfinished clip was deleted")
                raise (OSError(reason) if exc.errno is None else OSError(exc.errno, reason)) from exc
            raise

    def _require_open(self) -> None:
        if self._state != "open":
            raise DatasetFormatError(f"{self.clip_dir}: the writer is {self._state}")

    def __enter__(self) -> "ClipWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._state != "open":
            return
        self.abort()
        if exc_type is None:
            raise DatasetFormatError(f"{self.clip_dir}: the writer was closed without finish(); "
                                     "nothing was kept")


def _npz_bytes(arrays: dict) -> bytes:
    """savez in memory: numpy leaves its zip open on a failed file write (a full disk), and
    that zip would later write into a closed file."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def partial_dir(clip_dir: Path, owner: str) -> Path:
    """Where ``owner`` writes ``clip_dir`` until it is complete."""
    return clip_dir.with_name(f"{clip_dir.name}{fmt.PARTIAL_SUFFIX}-{owner}")


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise DatasetFormatError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_passes(passes) -> tuple[str, ...]:
    passes = tuple(passes)
    unknown = [name for name in passes if name not in fmt.PASS_NAMES]
    if unknown:
        raise DatasetFormatError(f"unknown pass {', '.join(map(repr, unknown))}; "
                                 f"passes are {', '.join(fmt.PASS_NAMES)}")
    if not passes or len(set(passes)) != len(passes):
        raise DatasetFormatError(f"passes must be a non-empty list without repeats, got {list(passes)}")
    return tuple(name for name in fmt.PASS_NAMES if name in passes)  # canonical order


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")

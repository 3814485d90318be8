"""Read clip folders written by :class:`~synth_core.dataset.writer.ClipWriter` (format version 1).

>>> clip = read_clip("out/clip_000001")            # doctest: +SKIP
>>> frame = clip.frame(0)                          # doctest: +SKIP
>>> frame["depth"].dtype, frame["flow_forward"].shape   # doctest: +SKIP
(dtype('float32'), (240, 320, 2))

Only the frame asked for is decompressed (one zip member per pass and frame). Open zip files
are shared by all clips of a process, at most 64 at once, and reopened after a fork, so Clips
can be shared with DataLoader worker processes and a dataset of 100,000 clips holds a bounded
number of file handles. RGB files are hashed only with ``read_clip(path, verify=True)``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile
import zlib
from collections import OrderedDict
from glob import escape as glob_escape
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from synth_core.assets import sha256_of
from synth_core.dataset import format as fmt
from synth_core.errors import DatasetFormatError

_REQUIRED_META = {"format": str, "version": int, "passes": list, "encodings": dict,
                  "n_frames": int, "height": int, "width": int}
_DECODE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError)


def read_clip(path: str | Path, verify: bool = False) -> "Clip":
    """Open a clip folder: checks meta.json, annotations and that every file is present.
    ``verify=True`` also checks each RGB file's sha256 as it is read (label members are always
    checked by zip's CRC); :meth:`Clip.verify` checks every file at once."""
    return Clip(Path(path), verify)


def find_clips(path: str | Path) -> list[Path]:
    """``path`` itself if it is a clip folder, else its sub-folders that are clips (sorted).
    Unfinished ``*.partial`` folders are never returned."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetFormatError(f"{path} is not a folder")
    if (path / fmt.META_FILE).is_file():
        return [path]
    return sorted(child for child in path.iterdir()
                  if child.is_dir() and not fmt.is_partial(child.name)
                  and (child / fmt.META_FILE).is_file())


class Clip:
    """One clip: ``meta`` (dict), ``annotations`` (dict of arrays), ``frame(i)`` (dict of arrays)."""

    def __init__(self, path: Path, verify: bool = False) -> None:
        self.path, self.check_rgb = path, verify
        _check_folder(path)
        self.meta = _load_meta(path)
        self.n_frames: int = self.meta["n_frames"]
        self.height: int = self.meta["height"]
        self.width: int = self.meta["width"]
        self.passes: tuple[str, ...] = tuple(self.meta["passes"])
        self._wide_frames: dict[str, dict[int, str]] = {}  # pass -> {frame: stored dtype}
        self.rgb_format = self._check_encodings()
        self._checksums = self._load_checksums()
        missing = [name for name in self._expected_files() if not (path / name).is_file()]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise DatasetFormatError(f"clip {path} is missing {shown}")
        self.annotations = self._load_annotations()

    def __repr__(self) -> str:
        return (f"Clip({str(self.path)!r}, {self.n_frames} frames, {self.height}x{self.width}, "
                f"passes={list(self.passes)})")

    # -- frames ---------------------------------------------------------------------------------

    def frame(self, i: int, passes=None) -> dict[str, np.ndarray]:
        """Decode frame ``i``: rgb uint8 H x W x 3, depth float32 metres (0 = background),
        segmentation uint8, flow_* float32 H x W x 2 px, normals float32 H x W x 3."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < self.n_frames:
            raise DatasetFormatError(f"clip {self.path}: frame {i!r} is outside 0..{self.n_frames - 1}")
        wanted = self.passes if passes is None else (passes,) if isinstance(passes, str) else tuple(passes)
        unknown = [name for name in wanted if name not in self.passes]
        if unknown:
            raise DatasetFormatError(f"clip {self.path} has no pass {', '.join(unknown)} "
                                     f"(it has {', '.join(self.passes)})")
        return {name: self._read_rgb(int(i)) if name == "rgb" else self._read_label(name, int(i))
                for name in wanted}

    def _read_rgb(self, frame: int) -> np.ndarray:
        relative = fmt.rgb_file(frame, self.rgb_format)
        try:
            payload = (self.path / relative).read_bytes()
        except OSError as exc:
            raise DatasetFormatError(f"clip {self.path}: cannot read {relative}: {exc}") from exc
        if self.check_rgb and hashlib.sha256(payload).hexdigest() != self._checksums[relative]:
            raise DatasetFormatError(f"clip {self.path}: {relative} is corrupt (checksum mismatch)")
        try:
            with Image.open(io.BytesIO(payload)) as image:
                image.load()
                rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
            raise DatasetFormatError(f"clip {self.path}: cannot decode {relative}: {exc}") from exc
        if rgb.shape != (self.height, self.width, 3):
            raise DatasetFormatError(f"clip {self.path}: {relative} is {rgb.shape}, "
                                     f"expected {(self.height, self.width, 3)}")
        return rgb

    def _read_label(self, name: str, frame: int) -> np.ndarray:
        spec = fmt.LABEL_PASSES[name]
        member = fmt.member_name(frame)
        try:
            stored = fmt.read_npy(self._zip(name).read(member))
        except _DECODE_ERRORS as exc:
            raise DatasetFormatError(f"clip {self.path}: member {member} of {spec.file} is missing, "
                                     f"truncated or corrupt: {exc}") from exc
        expected = fmt.stored_shape(name, self.height, self.width)
        dtype = self._wide_frames.get(name, {}).get(frame, spec.stored_dtype)
        if stored.dtype != np.dtype(dtype) or stored.shape != expected:
            raise DatasetFormatError(f"clip {self.path}: {spec.file}/{member} holds {stored.dtype} "
                                     f"{stored.shape}, expected {dtype} {expected}")
        return fmt.decode_label(name, stored)

    def _zip(self, name: str) -> zipfile.ZipFile:
        return _open_zips.get(self.path / fmt.LABEL_PASSES[name].file, f"clip {self.path}")

    def frame_nbytes(self) -> dict[str, np.ndarray]:
        """Stored bytes per frame and pass (rgb file size; compressed zip member size)."""
        sizes = {}
        for name in self.passes:
            if name == "rgb":
                sizes[name] = np.array([(self.path / fmt.rgb_file(i, self.rgb_format)).stat().st_size
                                        for i in range(self.n_frames)])
            else:
                archive = self._zip(name)
                try:
                    sizes[name] = np.array([archive.getinfo(fmt.member_name(i)).compress_size
                                            for i in range(self.n_frames)])
                except KeyError as exc:
                    raise DatasetFormatError(f"clip {self.path}: {archive.filename} lacks {exc}") from exc
        return sizes

    # -- integrity ------------------------------------------------------------------------------

    def verify(self) -> int:
        """Recompute every file's sha256 against checksums.sha256; returns the number of files
        checked, raises DatasetFormatError listing every missing or corrupt file."""
        bad = []
        for relative, digest in self._checksums.items():
            path = self.path / relative
            if not path.is_file():
                bad.append(f"{relative} (missing)")
            elif sha256_of(path) != digest:
                bad.append(f"{relative} (checksum mismatch)")
        if bad:
            raise DatasetFormatError(f"clip {self.path} failed verification: {', '.join(bad)}")
        return len(self._checksums)

    def close(self) -> None:
        """Close this clip's open label files (they also close themselves when others need room)."""
        for name in self.passes:
            if name != "rgb":
                _open_zips.close(self.path / fmt.LABEL_PASSES[name].file)

    def __enter__(self) -> "Clip":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- opening --------------------------------------------------------------------------------

    def _check_encodings(self) -> str:
        unknown = [name for name in self.passes if name not in fmt.PASS_NAMES]
        if unknown:
            raise DatasetFormatError(f"clip {self.path}: unknown pass {', '.join(unknown)} in meta.json")
        encodings = self.meta["encodings"]
        rgb_encoding = encodings.get("rgb")
        rgb_format = rgb_encoding.get("codec", "jpeg") if isinstance(rgb_encoding, dict) else "jpeg"
        for name in self.passes:
            expected = fmt.pass_encoding(name, rgb_format if rgb_format in fmt.RGB_FORMATS else "jpeg")
            encoding = encodings.get(name)
            if isinstance(encoding, dict) and "wide_frames" in encoding:  # optional, see FORMAT.md
                encoding = dict(encoding)
                self._wide_frames[name] = fmt.parse_wide_frames(name, encoding.pop("wide_frames"),
                                                                self.n_frames, f"clip {self.path}")
            if encoding != expected:
                raise DatasetFormatError(f"clip {self.path}: encoding of '{name}' is {encodings.get(name)}, "
                                         f"version 1 knows {expected}")
        return rgb_format

    def _expected_files(self) -> list[str]:
        files = [fmt.META_FILE, fmt.ANNOTATIONS_FILE, fmt.CHECKSUMS_FILE]
        files += [fmt.LABEL_PASSES[name].file for name in self.passes if name != "rgb"]
        if "rgb" in self.passes:
            files += [fmt.rgb_file(i, self.rgb_format) for i in range(self.n_frames)]
        return files

    def _load_checksums(self) -> dict[str, str]:
        path = self.path / fmt.CHECKSUMS_FILE
        if not path.is_file():
            raise DatasetFormatError(f"clip {self.path} is missing {fmt.CHECKSUMS_FILE}")
        digests = fmt.parse_checksums(path.read_text(errors="replace"), str(path))
        unlisted = [name for name in self._expected_files()
                    if name != fmt.CHECKSUMS_FILE and name not in digests]
        if unlisted:
            raise DatasetFormatError(f"{path} lists no checksum for {', '.join(unlisted[:5])}")
        return digests

    def _load_annotations(self) -> dict[str, np.ndarray]:
        path = self.path / fmt.ANNOTATIONS_FILE
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except _DECODE_ERRORS as exc:
            raise DatasetFormatError(f"clip {self.path}: {fmt.ANNOTATIONS_FILE} is truncated or corrupt: "
                                     f"{exc}") from exc
        return fmt.validate_annotations(arrays, self.n_frames, f"clip {self.path}")


class _ZipCache:
    """Open label zips shared by every Clip of a process, at most ``limit`` at once (least
    recently used closed first): a loader over 100,000 clips holds a bounded number of file
    handles. Reopened after a fork, so DataLoader workers never share a file offset."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._open: OrderedDict[Path, tuple[tuple, zipfile.ZipFile]] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, path: Path, where: str) -> zipfile.ZipFile:
        with self._lock:
            if self._pid != os.getpid():
                self._open, self._pid = OrderedDict(), os.getpid()
            try:
                stat = path.stat()
                identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)  # a rewritten file is reopened
                if path in self._open:
                    cached_identity, archive = self._open[path]
                    if cached_identity == identity:
                        self._open.move_to_end(path)
                        return archive
                    del self._open[path]
                    archive.close()
                archive = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DatasetFormatError(f"{where}: {path.name} is not a readable zip "
                                         f"(truncated or corrupt): {exc}") from exc
            self._open[path] = (identity, archive)
            while len(self._open) > self.limit:
                self._open.popitem(last=False)[1][1].close()
            return archive

    def close(self, path: Path) -> None:
        with self._lock:
            entry = self._open.pop(path, None)
        if entry is not None:
            entry[1].close()

    def __len__(self) -> int:
        return len(self._open)


_open_zips = _ZipCache()


def _check_folder(path: Path) -> None:
    if path.is_dir():
        return
    if path.exists():
        raise DatasetFormatError(f"{path} is a file; a clip is a folder")
    if fmt.is_partial(path.name) or any(path.parent.glob(f"{glob_escape(path.name)}{fmt.PARTIAL_SUFFIX}*")):
        raise DatasetFormatError(f"clip {path} is unfinished (its writer did not complete; "
                                 f"{fmt.PARTIAL_SUFFIX} folders are never read)")
    raise DatasetFormatError(f"clip folder {path} does not exist")


def _load_meta(path: Path) -> dict:
    meta_path = path / fmt.META_FILE
    if fmt.is_partial(path.name):
        raise DatasetFormatError(f"clip {path} is unfinished (its writer did not complete)")
    if not meta_path.is_file():
        raise DatasetFormatError(f"{path} is not a clip: {fmt.META_FILE} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != fmt.FORMAT_NAME:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DatasetFormatError(f"{meta_path}: format is {found!r}, expected {fmt.FORMAT_NAME!r}")
    if meta.get("version") != fmt.FORMAT_VERSION:
        raise DatasetFormatError(f"{meta_path}: format version {meta.get('version')!r} is unknown; "
                                 f"this reader understands version {fmt.FORMAT_VERSION}")
    for key, kind in _REQUIRED_META.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            raise DatasetFormatError(f"{meta_path}: field '{key}' must be a {kind.__name__}, "
                                     f"got {meta.get(key)!r}")
    for key in ("n_frames", "height", "width"):
        if meta[key] <= 0:
            raise DatasetFormatError(f"{meta_path}: field '{key}' must be positive, got {meta[key]}")
    return meta

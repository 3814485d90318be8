"""The clip format, version 1: names, encodings and validation shared by writer and reader.

One clip = one folder (see FORMAT.md at the repository root for the full description)::

    meta.json            what the clip is: seed, plan, camera, ... plus the encodings below
    annotations.npz      per-clip arrays (joints, pose, camera, SH, ...), float64 / bool / int64
    rgb/000000.jpg ...   one sRGB image per frame (JPEG quality 95, 4:4:4, or PNG)
    <pass>.npz           one zip per label pass, one ``000000.npy`` member per frame (deflate)
    checksums.sha256     ``sha256sum -c`` compatible list of every file above

Label encodings (lossless for segmentation, bounded error for the rest):

- depth: uint16 millimetres (error <= 0.5 mm), 0 = background, rows "up"-filtered;
- flow_forward / flow_backward: int16 in 1/64 px (error <= 1/128 px), channels first
  (2 x H x W), rows "up"-filtered;
- normals: int8 = round(127 n) (error <= 0.004), channels first (3 x H x W), "up"-filtered;
- segmentation: uint8 part ids 0..24, and 25 on an occluder (``--occluders``), unfiltered.

Wide frames: a depth or flow frame with a value outside that range (fast motion at high
resolution, a far background, a surface nearer than 0.5 mm) is stored in a wider integer type
with the same step and filter (uint32 / int32), or, if even that does not hold it, as the
float32 values themselves (unfiltered). ``meta["encodings"][pass]["wide_frames"]`` lists those
frames by dtype; the key is there only when a frame needed it, so ordinary clips are unchanged.

The "up" filter stores row 0 as is and each later row minus the row above it, wrapping in
the stored integer type; ``np.cumsum(stored, axis=-2, dtype=stored.dtype)`` undoes it
exactly. On smooth fields it halves the deflated size (measured, see FORMAT.md).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth_core.body.parts import NUM_JOINTS, OCCLUDER_ID
from synth_core.errors import DatasetFormatError

FORMAT_NAME = "synth-clip"
FORMAT_VERSION = 1

META_FILE = "meta.json"
ANNOTATIONS_FILE = "annotations.npz"
CHECKSUMS_FILE = "checksums.sha256"
PARTIAL_SUFFIX = ".partial"  # <clip>.partial-<host>-<pid>: a clip being written by that process


def process_tag() -> str:
    """This process among all that write into a dataset, on any host: ``<host>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"


def is_partial(name: str) -> bool:
    return PARTIAL_SUFFIX in name


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path, pattern: str = "*") -> list[Path]:
    """Remove the folders in ``folder`` matching ``pattern`` and named for a process (``...<host>-<pid>...``,
    see :func:`process_tag`) that ran on this host and is gone: the
    scratch and partial clips a killed run left. Other hosts' folders are never touched."""
    removed = []
    host = socket.gethostname()
    for path in folder.glob(pattern) if folder.is_dir() else ():
        if f"{host}-" not in path.name:
            continue
        pid_text = path.name.split(f"{host}-", 1)[1].split("-", 1)[0]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
MEMBER_TEMPLATE = "{frame:06d}.npy"
MAX_FRAMES = 1_000_000  # six-digit frame numbers

RGB_FORMATS = ("jpeg", "png")
JPEG_QUALITY = 95

# Keys the writer puts into meta.json; the renderer's meta must not use them.
RESERVED_META_KEYS = ("format", "version", "passes", "encodings", "n_frames", "height", "width")


@dataclass(frozen=True)
class LabelPass:
    """How one label pass is stored: integer = round(value * scale), optionally "up"-filtered."""

    name: str
    channels: int          # 0: H x W; otherwise H x W x channels on input, channels x H x W stored
    stored_dtype: str      # numpy dtype name of the stored integers
    scale: float
    unit: str
    filter: str            # "up" or "none"
    wide_dtype: str | None = None  # same step, for frames with values outside stored_dtype

    @property
    def wide_dtypes(self) -> tuple[str, ...]:
        """Types of wide frames, tried in this order: the wide integer, then float32 values."""
        return () if self.wide_dtype is None else (self.wide_dtype, WIDE_FLOAT_DTYPE)

    @property
    def file(self) -> str:
        return f"{self.name}.npz"

    @property
    def stored_shape_axes(self) -> str:
        return "H,W" if self.channels == 0 else "C,H,W"


WIDE_FLOAT_DTYPE = "float32"  # the reader's output type: exact for float32 input (what Blender gives)
LABEL_PASSES: dict[str, LabelPass] = {
    "depth": LabelPass("depth", 0, "uint16", 1000.0, "m", "up", wide_dtype="uint32"),
    "segmentation": LabelPass("segmentation", 0, "uint8", 1.0, "part id", "none"),
    "flow_forward": LabelPass("flow_forward", 2, "int16", 64.0, "px", "up", wide_dtype="int32"),
    "flow_backward": LabelPass("flow_backward", 2, "int16", 64.0, "px", "up", wide_dtype="int32"),
    "normals": LabelPass("normals", 3, "int8", 127.0, "1", "up"),
}
PASS_NAMES: tuple[str, ...] = ("rgb", *LABEL_PASSES)


def rgb_file(frame: int, rgb_format: str) -> str:
    return f"rgb/{frame:06d}.{'jpg' if rgb_format == 'jpeg' else 'png'}"


def member_name(frame: int) -> str:
    return MEMBER_TEMPLATE.format(frame=frame)


def pass_encoding(name: str, rgb_format: str = "jpeg", wide_frames: dict | None = None) -> dict:
    """The ``meta["encodings"][name]`` entry that version 1 writes (and the reader demands);
    ``wide_frames`` ({dtype: [frame, ...]}) only when some frame needed a wide type."""
    if name == "rgb":
        if rgb_format == "jpeg":
            return {"file": "rgb/{frame:06d}.jpg", "codec": "jpeg", "quality": JPEG_QUALITY,
                    "subsampling": "4:4:4", "dtype": "uint8", "channels": 3, "colour": "sRGB"}
        return {"file": "rgb/{frame:06d}.png", "codec": "png", "dtype": "uint8", "channels": 3,
                "colour": "sRGB"}
    spec = LABEL_PASSES[name]
    encoding = {"file": spec.file, "member": MEMBER_TEMPLATE, "stored_dtype": spec.stored_dtype,
                "layout": spec.stored_shape_axes, "filter": spec.filter, "scale": spec.scale,
                "unit": spec.unit}
    if name == "depth":
        encoding["background"] = 0
    if wide_frames:
        encoding["wide_frames"] = {dtype: sorted(wide_frames[dtype])
                                   for dtype in spec.wide_dtypes if wide_frames.get(dtype)}
    return encoding


def parse_wide_frames(name: str, wide_frames, n_frames: int, where: str) -> dict[int, str]:
    """Check a pass's ``wide_frames`` entry; returns {frame: stored dtype} for its wide frames."""
    allowed = LABEL_PASSES[name].wide_dtypes if name in LABEL_PASSES else ()
    problem = f"{where}: encoding of '{name}' has a bad wide_frames entry"
    if not isinstance(wide_frames, dict) or not wide_frames or not set(wide_frames) <= set(allowed):
        raise DatasetFormatError(f"{problem} {str(wide_frames)[:200]} (expected lists of frames "
                                 f"under {', '.join(allowed) or 'no key: this pass has no wide frames'})")
    dtypes = {}
    for dtype, frames in wide_frames.items():
        if not isinstance(frames, list) or not frames:
            raise DatasetFormatError(f"{problem}: '{dtype}' must be a non-empty list of frames")
        for frame in frames:
            if isinstance(frame, bool) or not isinstance(frame, int) or not 0 <= frame < n_frames \
                    or frame in dtypes:
                raise DatasetFormatError(f"{problem}: frame {frame!r} is repeated or outside "
                                         f"0..{n_frames - 1}")
            dtypes[frame] = dtype
    return dtypes


# ---------------------------------------------------------------------------------------------
# Frame arrays: validate, encode, decode


def _fail(pass_name: str, frame: int, problem: str) -> DatasetFormatError:
    return DatasetFormatError(f"pass '{pass_name}' of frame {frame}: {problem}")


def _check_shape(pass_name: str, frame: int, array: np.ndarray, shape: tuple) -> None:
    if array.shape != shape:
        raise _fail(pass_name, frame, f"expected shape {shape}, got {array.shape}")


def _check_float(pass_name: str, frame: int, array: np.ndarray, allow_pos_inf: bool = False) -> None:
    if not np.issubdtype(array.dtype, np.floating):
        raise _fail(pass_name, frame, f"expected a float array, got dtype {array.dtype}")
    bad = np.isnan(array) | (np.isinf(array) & ((array < 0) | (not allow_pos_inf)))
    if bad.any():
        where = tuple(int(v) for v in np.argwhere(bad)[0])
        raise _fail(pass_name, frame, f"non-finite value {array[where]} at {where} "
                                      "(an invalid render: labels must be finite)")


def _up_filter(values: np.ndarray) -> np.ndarray:
    """Row differences along axis -2, wrapping in the integer dtype."""
    return np.diff(values, axis=-2, prepend=np.zeros_like(values[..., :1, :]))


def _up_unfilter(stored: np.ndarray) -> np.ndarray:
    return np.cumsum(stored, axis=-2, dtype=stored.dtype)


def _quantise(values: np.ndarray, spec: LabelPass) -> np.ndarray | None:
    """round(values * scale) in the pass's stored type, else in its wide type (same step);
    None if neither holds every value (the caller then stores the floats themselves)."""
    scaled = np.round(values.astype(np.float64) * spec.scale)
    for dtype in (spec.stored_dtype, spec.wide_dtype or spec.stored_dtype):
        info = np.iinfo(dtype)
        low = 1 if spec.name == "depth" else -info.max  # depth: 0 is background
        if scaled.min(initial=low) >= low and scaled.max(initial=0) <= info.max:
            return scaled.astype(dtype)
    return None


def encode_rgb(frame: int, rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise _fail("rgb", frame, f"expected uint8 sRGB, got dtype {rgb.dtype}")
    _check_shape("rgb", frame, rgb, (height, width, 3))
    return np.ascontiguousarray(rgb)


def encode_label(name: str, frame: int, array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Check one label image (dtype, shape, range; errors name pass and frame) and encode it."""
    spec = LABEL_PASSES[name]
    array = np.asarray(array)
    shape = (height, width) if spec.channels == 0 else (height, width, spec.channels)
    _check_shape(name, frame, array, shape)
    if name == "segmentation":
        if array.dtype != np.uint8:
            raise _fail(name, frame, f"expected uint8 part ids, got dtype {array.dtype}")
        if array.max(initial=0) > OCCLUDER_ID:
            raise _fail(name, frame, f"part ids must lie in 0..{NUM_JOINTS} ({OCCLUDER_ID}: an occluder), "
                                     f"got {array.max()}")
        return np.ascontiguousarray(array)
    if name == "depth":
        _check_float(name, frame, array, allow_pos_inf=True)
        background = (array == 0) | np.isinf(array)
        if (array < 0).any():
            raise _fail(name, frame, f"negative depth {array.min()} (background must be 0 or inf)")
        millimetres = _quantise(np.where(background, 0.001, array), spec)
        if millimetres is None:
            return np.where(background, 0, array).astype(WIDE_FLOAT_DTYPE)
        millimetres[background] = 0
        return _up_filter(millimetres)
    _check_float(name, frame, array)
    if name == "normals":
        if np.abs(array).max(initial=0) > 1.001:
            raise _fail(name, frame, f"normal components must lie in [-1, 1], got {np.abs(array).max()}")
        array = np.clip(array, -1.0, 1.0)
    quantised = _quantise(array, spec)
    if quantised is None:
        return np.ascontiguousarray(np.moveaxis(array, -1, 0), dtype=WIDE_FLOAT_DTYPE)
    return _up_filter(np.ascontiguousarray(np.moveaxis(quantised, -1, 0)))


def stored_shape(name: str, height: int, width: int) -> tuple[int, ...]:
    spec = LABEL_PASSES[name]
    return (height, width) if spec.channels == 0 else (spec.channels, height, width)


def decode_label(name: str, stored: np.ndarray) -> np.ndarray:
    """Stored integers (or a wide frame's float32 values) -> the writer's input: depth float32 m
    (0 = background), flow float32 px (H x W x 2), normals float32 (H x W x 3), segmentation uint8."""
    spec = LABEL_PASSES[name]
    if stored.dtype.kind == "f":  # a wide frame holding the values themselves, unfiltered
        decoded = stored
    else:
        values = _up_unfilter(stored) if spec.filter == "up" else stored
        if name == "segmentation":
            return values
        decoded = values.astype(np.float32) / np.float32(spec.scale)
    return decoded if spec.channels == 0 else np.ascontiguousarray(np.moveaxis(decoded, 0, -1))


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def read_npy(payload: bytes) -> np.ndarray:
    return np.lib.format.read_array(io.BytesIO(payload), allow_pickle=False)


# ---------------------------------------------------------------------------------------------
# Per-clip annotations

# name -> (shape with "T" = n_frames, "K" = any length, "T?" = n_frames or absent (one value for
# the clip, or one per frame: a moving camera's); kind: float / bool / int)
ANNOTATION_SPECS: dict[str, tuple[tuple, str]] = {
    "joints2d": (("T", NUM_JOINTS, 2), "float"),
    "joints3d_world": (("T", NUM_JOINTS, 3), "float"),
    "joints3d_camera": (("T", NUM_JOINTS, 3), "float"),
    "joints_visible": (("T", NUM_JOINTS), "bool"),
    "pose": (("T", NUM_JOINTS, 3), "float"),
    "transl": (("T", 3), "float"),
    "betas": (("K",), "float"),
    "body_to_world": ((4, 4), "float"),
    "camera_K": (("T?", 3, 3), "float"),
    "camera_Rt": (("T?", 3, 4), "float"),
    "sh": ((9,), "float"),
    "yaw": ((), "float"),
    "frame_indices": (("T",), "int"),
}
STORED_DTYPES = {"float": np.float64, "bool": np.bool_, "int": np.int64}


def _expected_shape(template: tuple, array: np.ndarray, n_frames: int) -> tuple:
    if template and template[0] == "T?":
        template = ("T", *template[1:]) if array.ndim == len(template) else template[1:]
    sizes = {"T": n_frames, "K": array.shape[0] if array.ndim else -1}
    return tuple(sizes.get(axis, axis) for axis in template)


def frame_cameras(annotations: dict) -> tuple[np.ndarray, np.ndarray]:
    """(camera_K T x 3 x 3, camera_Rt T x 3 x 4): one per frame, whether the clip's camera is
    static (one stored, repeated here) or moving (one stored per frame)."""
    n = len(annotations["joints2d"])
    k, rt = np.asarray(annotations["camera_K"]), np.asarray(annotations["camera_Rt"])
    return (k if k.ndim == 3 else np.repeat(k[None], n, axis=0)), (rt if rt.ndim == 3 else np.repeat(rt[None], n, axis=0))


def validate_annotations(annotations: dict, n_frames: int, where: str) -> dict[str, np.ndarray]:
    """Check the clip's annotation arrays (all of ANNOTATION_SPECS, any extras) and convert them
    to their stored dtypes (float64, bool, int64). ``where`` names the clip in errors."""
    if not isinstance(annotations, dict):
        raise DatasetFormatError(f"{where}: annotations must be a dict of arrays, got {type(annotations).__name__}")
    missing = [name for name in ANNOTATION_SPECS if name not in annotations]
    if missing:
        raise DatasetFormatError(f"{where}: annotations lack {', '.join(missing)}")
    out = {}
    for name, value in annotations.items():
        array = np.asarray(value)
        if not isinstance(name, str) or not name.isidentifier():
            raise DatasetFormatError(f"{where}: annotation name {name!r} is not an identifier")
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise DatasetFormatError(f"{where}: annotation '{name}' must be numeric, got dtype {array.dtype}")
        if name in ANNOTATION_SPECS:
            array = _normalise_annotation(name, array, n_frames, where)
        out[name] = array
    return out


def _normalise_annotation(name: str, array: np.ndarray, n_frames: int, where: str) -> np.ndarray:
    template, kind = ANNOTATION_SPECS[name]
    expected = _expected_shape(template, array, n_frames)
    if array.shape != expected:
        shown = "x".join(str(axis) for axis in template).replace("T?x", "[T x]") or "a scalar"
        raise DatasetFormatError(
            f"{where}: annotation '{name}' must be {shown} (T = {n_frames} frames), got shape {array.shape}")
    if kind == "float" and not np.isfinite(array).all():
        raise DatasetFormatError(f"{where}: annotation '{name}' has non-finite values")
    if kind == "bool" and array.dtype != np.bool_ and not np.isin(array, (0, 1)).all():
        raise DatasetFormatError(f"{where}: annotation '{name}' must be boolean (0/1)")
    if kind == "int" and array.dtype.kind == "f" and not np.array_equal(array, np.round(array)):
        raise DatasetFormatError(f"{where}: annotation '{name}' must hold integers")
    return array.astype(STORED_DTYPES[kind])


# ---------------------------------------------------------------------------------------------
# Checksums


def format_checksums(digests: dict[str, str]) -> str:
    """``sha256sum`` text: one ``<hex>  <relative path>`` line per file, sorted by path."""
    return "".join(f"{digests[path]}  {path}\n" for path in sorted(digests))


def parse_checksums(text: str, where: str) -> dict[str, str]:
    digests = {}
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, path = line.partition("  ")
        if not sep or len(digest) != 64 or not path or ".." in Path(path).parts or Path(path).is_absolute():
            raise DatasetFormatError(f"{where}: line {number} is not '<sha256>  <relative path>': {line!r}")
        digests[path] = digest.lower()
    return digests

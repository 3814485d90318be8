"""Colour and compositing helpers: the sRGB transfer function, alpha-over, reading images.

Conventions:

- Pixel arrays are H x W x 3, rows top to bottom, RGB with Rec.709/sRGB primaries.
- "Linear" means scene-linear light, what Cycles renders and EXR files store. PNG/JPEG files
  are sRGB-encoded: :func:`read_image` decodes them to linear, :func:`linear_to_srgb_uint8`
  encodes for saving. Compositing and resampling happen in linear light.
- Foregrounds are **premultiplied** by alpha, as Cycles' Combined pass is with
  ``film_transparent``: a half-covered pixel already holds half of the body's colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from synth_core.errors import BackgroundError

PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg")
EXR_SUFFIXES = (".exr",)
IMAGE_SUFFIXES = PILLOW_SUFFIXES + EXR_SUFFIXES

# Rec.709 luminance weights of linear RGB.
LUMINANCE_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])


def find_images(folder: Path, suffixes: tuple[str, ...], what: str, error: type[Exception]) -> tuple[Path, ...]:
    """The images (by suffix) under ``folder``, recursively, hidden files and folders skipped,
    sorted, so a seed picks the same file on every machine. ``what`` names the folder in
    errors ("background", "texture"), raised as ``error``."""
    if folder.is_file():
        raise error(f"{folder} is a file; give a folder of {what} images")
    if not folder.is_dir():
        raise error(f"{what} folder not found: {folder}")
    images = tuple(sorted(path for path in folder.rglob("*")
                          if path.is_file() and path.suffix.lower() in suffixes
                          and not any(part.startswith(".") for part in path.relative_to(folder).parts)))
    if not images:
        raise error(f"no {what} images ({', '.join(suffixes)}) in {what} folder {folder}")
    return images


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """Decode sRGB to linear light (IEC 61966-2-1, piecewise: linear toe, 2.4 power).

    uint8 input is read as code values 0..255; float input as encoded values in [0, 1].
    Returns float32 (float64 for float64 input).
    """
    values = np.asarray(values)
    if values.dtype == np.uint8:
        encoded, out_dtype = values.astype(np.float64) / 255.0, np.float32
    else:
        encoded = values.astype(np.float64)
        out_dtype = np.float64 if values.dtype == np.float64 else np.float32
    linear = np.where(encoded <= 0.04045, encoded / 12.92,
                      ((np.maximum(encoded, 0.04045) + 0.055) / 1.055) ** 2.4)
    return linear.astype(out_dtype)


def linear_to_srgb_uint8(linear: np.ndarray) -> np.ndarray:
    """Encode linear light as sRGB code values: clip to [0, 1] (NaN -> 0), round half up."""
    linear = np.nan_to_num(np.asarray(linear, dtype=np.float64), nan=0.0)
    linear = np.clip(linear, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear,
                       1.055 * np.maximum(linear, 0.0031308) ** (1 / 2.4) - 0.055)
    return np.floor(encoded * 255.0 + 0.5).astype(np.uint8)


def luminance(linear_rgb: np.ndarray) -> np.ndarray:
    """Rec.709 luminance of linear RGB (... x 3 -> ...)."""
    return np.asarray(linear_rgb) @ LUMINANCE_WEIGHTS


def composite_over(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Premultiplied alpha-over in linear light: ``foreground + (1 - alpha) * background``.

    foreground: H x W x 3 linear, already multiplied by alpha (Cycles' Combined pass with a
    transparent film); alpha: H x W (or H x W x 1) coverage in [0, 1]; background: H x W x 3
    linear. Returns float32 H x W x 3. A straight (unpremultiplied) colour ``c`` must be
    passed as ``c * alpha``.
    """
    foreground = np.asarray(foreground, dtype=np.float32)
    background = np.asarray(background, dtype=np.float32)
    alpha = np.asarray(alpha, dtype=np.float32)
    if alpha.ndim == 3 and alpha.shape[2] == 1:
        alpha = alpha[..., 0]
    if foreground.ndim != 3 or foreground.shape[2] != 3:
        raise ValueError(f"foreground must be H x W x 3, got shape {foreground.shape}")
    if background.shape != foreground.shape or alpha.shape != foreground.shape[:2]:
        raise ValueError(
            f"shapes disagree: foreground {foreground.shape}, alpha {alpha.shape} "
            f"(expected {foreground.shape[:2]}), background {background.shape}")
    return foreground + (1.0 - alpha)[..., None] * background


def read_image(path: str | Path) -> np.ndarray:
    """Read a PNG/JPEG (sRGB, decoded to linear) or an EXR (already linear) as float32 H x W x 3.

    Grey images are repeated to RGB; alpha is dropped. EXR values are returned as stored
    (HDR values above 1; lossy compression may leave tiny negatives). BackgroundError names
    the path when the file is missing, unreadable or of another kind.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise BackgroundError(f"{path}: unsupported image type {suffix or '(none)'!r}; "
                              f"expected one of {', '.join(IMAGE_SUFFIXES)}")
    if not path.is_file():
        raise BackgroundError(f"image not found: {path}")
    return _read_exr(path) if suffix in EXR_SUFFIXES else _read_pillow(path)


def _read_pillow(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BackgroundError(f"cannot read image {path}: {exc}") from exc
    if image.mode.startswith("I"):  # 16-bit (or 32-bit integer) grey
        encoded = np.asarray(image, dtype=np.float64) / 65535.0
        encoded = np.repeat(np.clip(encoded, 0, 1)[..., None], 3, axis=2)
        return srgb_to_linear(encoded.astype(np.float32))
    return srgb_to_linear(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _read_exr(path: Path) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError as exc:
        raise BackgroundError(f"reading {path} needs the OpenEXR package (pip install OpenEXR)") from exc
    try:
        channels = OpenEXR.File(str(path), separate_channels=True).parts[0].channels
    except Exception as exc:  # the binding raises bare RuntimeError/ValueError for bad files
        raise BackgroundError(f"cannot read EXR {path}: {exc}") from exc
    names = _rgb_channel_names(path, list(channels))
    planes = [np.asarray(channels[name].pixels, dtype=np.float32) for name in names]
    return np.ascontiguousarray(np.stack(planes, axis=2))


def _rgb_channel_names(path: Path, names: list[str]) -> list[str]:
    """The three channels to read: R/G/B, else a layer's ``<layer>.R/G/B`` (a layer named
    like Blender's Combined pass first), else one grey channel repeated."""
    if {"R", "G", "B"} <= set(names):
        return ["R", "G", "B"]
    layers = sorted({name[:-2] for name in names if name.endswith((".R", ".G", ".B"))
                     and all(f"{name[:-2]}.{c}" in names for c in "RGB")},
                    key=lambda layer: ("combined" not in layer.lower(), layer))
    if layers:
        return [f"{layers[0]}.{c}" for c in "RGB"]
    greys = [name for name in names if name.split(".")[-1] in ("Y", "V", "L")]
    if greys or len(names) == 1:
        return [(greys or names)[0]] * 3
    raise BackgroundError(f"EXR {path} has no RGB channels (found {sorted(names)}); "
                          "expected R, G, B, <layer>.R/G/B or a single grey channel")


def read_exr_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an EXR's first part, from its header alone."""
    path = Path(path)
    try:
        import OpenEXR

        low, high = OpenEXR.File(str(path), header_only=True).parts[0].header["dataWindow"]
    except ImportError as exc:
        raise BackgroundError(f"reading {path} needs the OpenEXR package (pip install OpenEXR)") from exc
    except Exception as exc:  # missing file, not an EXR, no data window
        raise BackgroundError(f"cannot read EXR header of {path}: {exc}") from exc
    return int(high[1] - low[1] + 1), int(high[0] - low[0] + 1)

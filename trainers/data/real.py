"""Unlabelled real images: a folder of images or a video, read with imageio (the second
domain of the domain-adaptation trainers, and the frames of `synth predict`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from synth_core.errors import DatasetFormatError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def read_real_frames(path: str | Path, every: int = 1, max_frames: int | None = None) -> list[np.ndarray]:
    """RGB uint8 frames of a video file or an image folder (sorted by name): every ``every``-th,
    at most ``max_frames``. Decoded into memory once: real domains here are short videos and
    small folders (a 10 s 1080p video is ~1.8 GB; use --every / max_frames for longer ones)."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.exists():
        raise DatasetFormatError(f"{path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DatasetFormatError(f"{path} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        sources = files[::every][:max_frames]
        return [_rgb(_decode(iio.imread, f), f) for f in sources]
    frames = []
    try:
        for i, frame in enumerate(iio.imiter(path)):
            if i % every == 0:
                frames.append(_rgb(frame, path))
                if max_frames and len(frames) >= max_frames:
                    break
    except DatasetFormatError:
        raise
    except Exception as exc:  # imageio/ffmpeg raise many types for undecodable files
        raise DatasetFormatError(f"cannot decode {path}: {_first_line(exc)}") from None
    if not frames:
        raise DatasetFormatError(f"cannot decode {path}: no frames")
    return frames


def _decode(read, path: Path) -> np.ndarray:
    try:
        return read(path)
    except Exception as exc:
        raise DatasetFormatError(f"cannot decode {path}: {_first_line(exc)}") from None


def _rgb(frame: np.ndarray, source: Path) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
        raise DatasetFormatError(f"{source}: expected 8-bit RGB frames, got {frame.dtype} {frame.shape}")
    return np.ascontiguousarray(frame[..., :3])


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class RealImages(Dataset):
    """Square crops of real frames resized to input_size: random position and side (between
    half and all of the shorter edge) with ``augment``, else the centred square. Returns
    {"image": float32 3 x S x S in [0, 1], "index"}; the draw is a function of (seed, epoch, index)."""

    def __init__(self, path: str | Path, input_size: int = 256, augment: bool = True, seed: int = 0,
                 every: int = 1, max_frames: int | None = None) -> None:
        self.frames = read_real_frames(path, every, max_frames)
        self.input_size, self.augment, self.seed, self.epoch = input_size, augment, seed, 0

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        frame = self.frames[index]
        height, width = frame.shape[:2]
        short = min(height, width)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            side = int(rng.uniform(0.5, 1.0) * short)
            x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        else:
            side, x, y = short, (width - short) // 2, (height - short) // 2
        crop = cv2.resize(frame[y:y + side, x:x + side], (self.input_size,) * 2, interpolation=cv2.INTER_AREA)
        return {"image": torch.from_numpy(crop).permute(2, 0, 1).float().div(255), "index": torch.tensor(index)}

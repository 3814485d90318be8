"""Unlabelled real images: a folder of images or a video, read with imageio (the second
domain of the domain-adaptation trainers, and the frames of `synth predict`).

How frames are held: an image folder is random access, so ``RealImages`` lists its files once
and decodes an image when its sample is asked for (any folder size). A video is not (reading
frame i means decoding from the key frame before it), so it is decoded once, each frame shrunk
to a shorter side of at most 2 x input_size (``RealImages`` crops at least half the shorter side,
so no crop is made from fewer pixels than it is resized to) and kept in memory, up to ``max_mb``
(a 1080p frame keeps 512 x 910 x 3 bytes = 1.4 MB at input 256; 2 GB is ~48 s at 30 fps): a
longer video is refused with a hint to pass ``every`` / ``max_frames``. Frames in the parent
process are shared with forked DataLoader workers, not copied.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from synth_core.errors import DatasetFormatError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def iter_real_frames(path: str | Path, every: int = 1, max_frames: int | None = None):
    """Yield RGB uint8 frames (full resolution) of a video file or an image folder (sorted by
    name): every ``every``-th, at most ``max_frames``, one at a time."""
    path = _existing(path)
    if path.is_dir():
        return (_read_image(file) for file in image_files(path, every, max_frames))
    return _video_frames(path, every, max_frames)


def read_real_frames(path: str | Path, every: int = 1, max_frames: int | None = None) -> list[np.ndarray]:
    """:func:`iter_real_frames`, all decoded into memory."""
    return list(iter_real_frames(path, every, max_frames))


def image_files(folder: Path, every: int = 1, max_frames: int | None = None) -> list[Path]:
    """The folder's images (by suffix, sorted by name), every ``every``-th, at most ``max_frames``."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DatasetFormatError(f"{folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files[::every][:max_frames]


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise DatasetFormatError(f"{path} does not exist")
    return path


def _video_frames(path: Path, every: int, max_frames: int | None):
    """Yield RGB uint8 frames of a video; any decoding failure becomes "cannot decode VIDEO: ..."."""
    import imageio.v3 as iio

    count = 0
    try:
        for i, frame in enumerate(iio.imiter(path)):
            if i % every == 0:
                yield _rgb(frame, path)
                count += 1
                if max_frames and count >= max_frames:
                    return
    except DatasetFormatError:
        raise
    except Exception as exc:  # imageio/ffmpeg raise many types for undecodable files
        raise DatasetFormatError(f"cannot decode {path}: {_first_line(exc)}") from None
    if not count:
        raise DatasetFormatError(f"cannot decode {path}: no frames")


def _read_image(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    try:
        return _rgb(iio.imread(path), path)
    except DatasetFormatError:
        raise
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


def shrink(frame: np.ndarray, shorter_side: int) -> np.ndarray:
    """The frame resized (area averaging) so its shorter side is ``shorter_side``, if larger."""
    height, width = frame.shape[:2]
    factor = shorter_side / min(height, width)
    if factor >= 1:
        return frame
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


class RealImages(Dataset):
    """Square crops of real frames resized to input_size x input_size: with ``augment`` a random
    side (half to all of the shorter edge) at a random position, else the centred square.
    Returns {"image": float32 3 x S x S in [0, 1], "index": int64}; the draw is a function of
    (seed, epoch, index) only. See the module's docstring for how frames are held."""

    def __init__(self, path: str | Path, input_size: int = 256, augment: bool = True, seed: int = 0,
                 every: int = 1, max_frames: int | None = None, max_mb: float = 2048) -> None:
        self.path = _existing(path)
        self.input_size, self.augment, self.seed, self.epoch = input_size, augment, seed, 0
        if self.path.is_dir():
            self.files, self.frames = image_files(self.path, every, max_frames), None
            _read_image(self.files[0])  # an unreadable folder fails now, not in a loader worker
        else:
            self.files, self.frames = None, self._decode_video(every, max_frames, max_mb)

    def _decode_video(self, every: int, max_frames: int | None, max_mb: float) -> list[np.ndarray]:
        frames, total = [], 0
        for frame in _video_frames(self.path, every, max_frames):
            frames.append(shrink(frame, 2 * self.input_size))
            total += frames[-1].nbytes
            if total > max_mb * 2 ** 20:
                raise DatasetFormatError(
                    f"{self.path}: its frames take more than {max_mb:g} MB in memory (after {len(frames)} frames "
                    f"of {frames[-1].shape[1]}x{frames[-1].shape[0]}); keep fewer with every=N or max_frames=N")
        return frames

    def __len__(self) -> int:
        return len(self.files) if self.frames is None else len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def frame(self, index: int) -> np.ndarray:
        """RGB uint8 H x W x 3 of sample ``index`` (a video's frames as shrunk in memory)."""
        return _read_image(self.files[index]) if self.frames is None else self.frames[index]

    def __getitem__(self, index: int) -> dict:
        frame = self.frame(index)
        height, width = frame.shape[:2]
        short = min(height, width)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            side = max(1, int(rng.uniform(0.5, 1.0) * short))
            x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        else:
            side, x, y = short, (width - short) // 2, (height - short) // 2
        crop = cv2.resize(frame[y:y + side, x:x + side], (self.input_size,) * 2, interpolation=cv2.INTER_AREA)
        return {"image": torch.from_numpy(crop).permute(2, 0, 1).float().div(255), "index": torch.tensor(index)}

"""`synth predict`: trained networks run on real frames; their classes drawn over the frames.

Each person box is cropped the way training crops were made (widened, square, input_size),
the network's classes are warped back into the frame with the inverse of the same affine
(nearest), and drawn over it: parts in `synth preview`'s colours, depth bins along turbo
(near = red). One panel per run, side by side with the frame, in overlay.mp4 and overlay.png.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from synth_core.errors import TrainingError
from trainers import distributed, plots, runs
from trainers.data import iter_real_frames
from trainers.data.crop import box_affine, resize_affine
from trainers.evaluate import load_trained
from trainers.train import autocast_dtype, label_size, predict_classes

PANEL_HEIGHT = 352          # each panel's height in the outputs (a multiple of 16 for H.264)
PNG_ROWS = 4
OVERLAY_ALPHA = 0.65


def parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise TrainingError(f"--box must be X,Y,W,H in pixels, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise TrainingError(f"--box {text}: width and height must be positive")
    return x, y, w, h


def predict_video(run_dirs: list[Path], video: Path, out: Path, boxes: list[tuple], every: int = 1,
                  max_frames: int = 300, checkpoint: str = "best", device_name: str = "auto") -> list[Path]:
    """Write OUT/overlay.mp4 (every used frame) and OUT/overlay.png (up to 4 evenly spaced
    frames); returns their paths. Nothing is written unless every frame could be processed."""
    device = distributed.resolve_device(device_name)
    networks = [load_trained(Path(run), checkpoint, device) for run in run_dirs]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} is a file, not a folder")
    titles = ["input", *[f"{config.task} ({Path(run).name})" for (config, _, _), run in zip(networks, run_dirs)]]
    composed = []  # the small side-by-side frames only: full-resolution frames are decoded one at a time
    for frame in iter_real_frames(video, every=every, max_frames=max_frames):
        if not composed:
            for box in boxes:
                _check_box(box, frame.shape)
        overlays = [overlay(frame, boxes, config, model, device) for config, model, _ in networks]
        composed.append(compose([frame, *overlays], titles, boxes))
    video_path, png_path = out / "overlay.mp4", out / "overlay.png"
    runs.atomic_write(video_path, lambda p: _write_mp4(p, composed, fps=_fps(video) / every))
    rows = np.linspace(0, len(composed) - 1, min(PNG_ROWS, len(composed))).round().astype(int)
    runs.atomic_write(png_path, lambda p: Image.fromarray(_png(composed, rows)).save(p, format="PNG"))
    return [video_path, png_path]


def frame_classes(frame: np.ndarray, boxes: list[tuple], config, model, device) -> np.ndarray:
    """The network's class for every pixel of the frame (0 outside the boxes; the whole frame
    is one box when none is given)."""
    height, width = frame.shape[:2]
    classes = np.zeros((height, width), dtype=np.int64)
    for box in boxes or [(0.0, 0.0, float(width), float(height))]:
        affine = box_affine(box, config.input_size, widen=bool(boxes))
        crop = cv2.warpAffine(frame, affine, (config.input_size,) * 2, flags=cv2.INTER_LINEAR)
        image = torch.from_numpy(crop).permute(2, 0, 1).float().div(255)
        if config.in_channels > 3:  # a flow-input network sees zero motion on single frames
            image = torch.cat([image, image.new_zeros(config.in_channels - 3, *image.shape[1:])])
        predicted = predict_classes(model, image[None].to(device), autocast_dtype(config, device))[0].cpu().numpy()
        to_labels = resize_affine(affine, label_size(config) / config.input_size)
        back = cv2.warpAffine(predicted.astype(np.float32), to_labels, (width, height),
                              flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0).astype(np.int64)
        classes = np.where(back > 0, back, classes)
    return classes


def overlay(frame: np.ndarray, boxes: list[tuple], config, model, device) -> np.ndarray:
    """The frame with the predicted classes drawn over it (background dimmed)."""
    classes = frame_classes(frame, boxes, config, model, device)
    blended = (1 - OVERLAY_ALPHA) * frame + OVERLAY_ALPHA * plots.colour_classes(classes, config.task)
    return np.where(classes[..., None] > 0, blended, frame * 0.6).round().astype(np.uint8)


def compose(images: list[np.ndarray], titles: list[str], boxes: list[tuple]) -> np.ndarray:
    """Frame and overlays side by side, titled: the whole frames at PANEL_HEIGHT (width rounded
    to 16 pixels), or with one --box the person's square (widened like a training crop), enlarged."""
    if len(boxes) == 1:
        affine = box_affine(boxes[0], PANEL_HEIGHT)
        panels = [cv2.warpAffine(image, affine, (PANEL_HEIGHT,) * 2, flags=cv2.INTER_LINEAR) for image in images]
    else:
        width = int(round(images[0].shape[1] * PANEL_HEIGHT / images[0].shape[0] / 16)) * 16
        panels = [cv2.resize(image, (width, PANEL_HEIGHT), interpolation=cv2.INTER_AREA) for image in images]
    for panel, title in zip(panels, titles):
        # a dark band under the title keeps it readable over a bright sky
        panel[:34] = (panel[:34] * 0.4).astype(np.uint8)
        cv2.putText(panel, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
    return np.concatenate(panels, axis=1)


def _png(composed: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    return np.concatenate([composed[i] for i in rows], axis=0)


def _write_mp4(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v2 as imageio

    with imageio.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", quality=8,
                            macro_block_size=16, pixelformat="yuv420p") as writer:
        for frame in frames:
            writer.append_data(frame)


def _fps(video: Path) -> float:
    if Path(video).is_dir():
        return 10.0
    import imageio.v3 as iio

    try:
        fps = float(iio.immeta(video).get("fps", 30.0))
    except Exception:
        return 30.0
    return fps if math.isfinite(fps) and fps > 0 else 30.0


def _check_box(box: tuple, shape: tuple) -> None:
    x, y, w, h = box
    if x >= shape[1] or y >= shape[0] or x + w <= 0 or y + h <= 0:
        raise TrainingError(f"--box {x:g},{y:g},{w:g},{h:g} lies outside the {shape[1]}x{shape[0]} frames")

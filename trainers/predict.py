"""`synth predict`: trained networks run on real frames; their classes drawn over the frames.

Each person box is cropped the way training crops were made (widened, square, input_size),
the network's classes are warped back into the frame with the inverse of the same affine
(nearest), and drawn over it: parts in `synth preview`'s colours, depth bins along turbo
(near = red). One panel per run, side by side with the frame, in overlay.mp4 and overlay.png.

3D pose runs (one at a time): each box's crop, made the same way, gives a root-relative skeleton
in metres (camera axes); OUT/skeletons.json holds every frame's joints, OUT/skeletons.mp4 shows
the frame beside the skeleton seen from the camera and from its right, and OUT/skeletons.png up
to 4 frames' skeletons in 3D. A motion run (Doersch & Zisserman) reads windows of consecutive
frames and the video's 2D keypoints (--keypoints, trainers/pose3d/keypoints.py's format) through
its recipe's ``real_video_inputs``, and crops around the keypoints itself (no --box).
"""

from __future__ import annotations

import json
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
                  max_frames: int = 300, checkpoint: str = "best", device_name: str = "auto",
                  keypoints: Path | None = None) -> list[Path]:
    """Write OUT/overlay.mp4 (every used frame) and OUT/overlay.png (up to 4 evenly spaced
    frames); returns their paths. Nothing is written unless every frame could be processed.
    A 3D pose run writes OUT/skeletons.json, .mp4 and .png instead (:func:`predict_skeletons`)."""
    pose_runs = [run for run in run_dirs if runs.load_run_config(Path(run)).is_pose]
    if pose_runs:
        if len(run_dirs) > 1:
            raise TrainingError(f"give one 3D pose run at a time ({', '.join(map(str, pose_runs))} is one), "
                                f"not {len(run_dirs)} runs")
        return predict_skeletons(Path(pose_runs[0]), video, out, boxes, every, max_frames, checkpoint, device_name,
                                 keypoints)
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


def compose(images: list[np.ndarray], titles: list[str], boxes: list[tuple], resize_all: bool = True) -> np.ndarray:
    """Frame and overlays side by side, titled: the whole frames at PANEL_HEIGHT (width rounded
    to 16 pixels), or with one --box the person's square (widened like a training crop), enlarged.
    ``resize_all=False``: only the first image is a frame; the others are panels already."""
    framed = images if resize_all else images[:1]
    if len(boxes) == 1:
        affine = box_affine(boxes[0], PANEL_HEIGHT)
        panels = [cv2.warpAffine(image, affine, (PANEL_HEIGHT,) * 2, flags=cv2.INTER_LINEAR) for image in framed]
    else:
        width = int(round(images[0].shape[1] * PANEL_HEIGHT / images[0].shape[0] / 16)) * 16
        panels = [cv2.resize(image, (width, PANEL_HEIGHT), interpolation=cv2.INTER_AREA) for image in framed]
    panels += [image.copy() for image in images[len(framed):]]
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


# -------------------------------------------------------------------------------- 3D skeletons

def predict_skeletons(run_dir: Path, video: Path, out: Path, boxes: list[tuple], every: int = 1,
                      max_frames: int = 300, checkpoint: str = "best", device_name: str = "auto",
                      keypoints: Path | None = None) -> list[Path]:
    """OUT/skeletons.json (every used frame's joints per box), skeletons.mp4 and skeletons.png;
    returns their paths. Nothing is written unless every frame could be processed."""
    from trainers.pose3d.joints import get_joint_set
    from trainers.pose3d.loop import load_pose_run
    from trainers.pose3d.recipe import StepContext

    device = distributed.resolve_device(device_name)
    config, recipe, modules, step, _ = load_pose_run(run_dir, checkpoint, device)
    ctx = StepContext(config, device, autocast_dtype(config, device))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} is a file, not a folder")
    if hasattr(recipe, "real_video_inputs"):
        frames, indices, skeletons = _motion_skeletons(recipe, modules, ctx, config, video, keypoints, boxes, every)
        boxes = []
    else:
        frames, indices, skeletons = _frame_skeletons(recipe, modules, ctx, config, video, boxes, every, max_frames)
    joint_set = get_joint_set(config.joint_set)
    report = {"run": str(Path(run_dir).resolve()), "task": config.task, "checkpoint": checkpoint, "step": step,
              "video": str(Path(video).resolve()), "joint_set": joint_set.name, "joint_names": list(joint_set.names),
              "units": "metres, root-relative, camera axes (x right, y down, z forward)",
              "boxes": [list(box) for box in boxes],
              "frames": [{"frame": int(index), "people": np.round(people, 5).tolist()}
                         for index, people in zip(indices, skeletons)]}
    json_path, video_path, png_path = out / "skeletons.json", out / "skeletons.mp4", out / "skeletons.png"
    composed = [compose_skeleton(frame, people, joint_set, boxes) for frame, people in zip(frames, skeletons)]
    runs.atomic_write(video_path, lambda p: _write_mp4(p, composed, fps=_fps(video) / every))
    rows = np.linspace(0, len(frames) - 1, min(PNG_ROWS, len(frames))).round().astype(int)
    from trainers.pose3d.plots import skeleton_figure

    skeleton_figure(np.stack([skeletons[i][0] for i in rows]), None, joint_set, png_path,
                    titles=[f"frame {int(indices[i])}" for i in rows])
    runs.atomic_write(json_path, lambda p: p.write_text(json.dumps(report) + "\n"))
    return [json_path, video_path, png_path]


def _frame_skeletons(recipe, modules, ctx, config, video, boxes, every, max_frames):
    """Frames, their indices in the video and per frame a (people x K x 3) array: one skeleton
    per box (the whole frame when no box is given), each box cropped as the training crops."""
    frames, indices, skeletons = [], [], []
    for i, frame in enumerate(iter_real_frames(video, every=every, max_frames=max_frames)):
        if not frames:
            for box in boxes:
                _check_box(box, frame.shape)
        height, width = frame.shape[:2]
        crops_ = []
        for box in boxes or [(0.0, 0.0, float(width), float(height))]:
            affine = box_affine(box, config.input_size, widen=bool(boxes))
            crop = cv2.warpAffine(frame, affine, (config.input_size,) * 2, flags=cv2.INTER_LINEAR)
            crops_.append(torch.from_numpy(crop).permute(2, 0, 1).float().div(255))
        with torch.no_grad():
            predicted = recipe.predict(modules, {"image": torch.stack(crops_)}, ctx).float().cpu().numpy()
        frames.append(frame)
        indices.append(i * every)
        skeletons.append(predicted)
    return frames, indices, skeletons


def _motion_skeletons(recipe, modules, ctx, config, video, keypoints, boxes, every):
    """A motion run: windows of consecutive frames with the video's keypoints (its recipe's
    ``real_video_inputs``), one skeleton per frame."""
    from trainers.data import read_real_frames

    if keypoints is None:
        raise TrainingError(f"{config.task} runs read the video's 2D keypoints: give --keypoints FILE (a 2D "
                            f"detector's output in the JSON/CSV format of trainers/pose3d/keypoints.py)")
    if boxes or every != 1:
        raise TrainingError(f"{config.task} runs crop around the keypoints and need every frame: "
                            f"leave out --box and --every")
    windows = recipe.real_video_inputs(video, keypoints, config.input_size, config.window,
                                       motion_inputs=config.motion_inputs)
    frames = read_real_frames(video)
    skeletons: list = [None] * len(frames)
    with torch.no_grad():
        for start in range(0, len(windows["inputs"]), 4):
            predicted = recipe.predict(modules, {"inputs": windows["inputs"][start:start + 4]}, ctx).float().cpu()
            for window_frames, window_joints in zip(windows["frames"][start:start + 4], predicted.numpy()):
                for index, joints in zip(window_frames.tolist(), window_joints):
                    if skeletons[index] is None:   # overlapping windows: the first one's
                        skeletons[index] = joints[None]
    return frames, list(range(len(frames))), skeletons


SKELETON_HALF_EXTENT_M = 1.1   # the skeleton panels show +-1.1 m around the root
BONE_COLOURS = {"left": (60, 120, 255), "right": (255, 90, 60), "centre": (240, 240, 240)}


def draw_skeleton(joints: np.ndarray, joint_set, size: int, side_view: bool = False) -> np.ndarray:
    """A root-relative skeleton (K x 3, metres, camera axes) drawn orthographically on a dark
    size x size panel: from the camera (x right, y down), or from its right (z right, y down).
    Left limbs blue, right red."""
    panel = np.full((size, size, 3), 30, np.uint8)
    horizontal = joints[:, 2] if side_view else joints[:, 0]
    points = np.stack([horizontal, joints[:, 1]], axis=1) * (size / (2 * SKELETON_HALF_EXTENT_M)) + size / 2
    for parent, child in joint_set.edges:
        name = joint_set.names[child]
        side = "left" if name.startswith("left") else "right" if name.startswith("right") else "centre"
        a, b = (tuple(int(round(v)) for v in points[j]) for j in (parent, child))
        cv2.line(panel, a, b, BONE_COLOURS[side], 3, cv2.LINE_AA)
    for point in points:
        cv2.circle(panel, tuple(int(round(v)) for v in point), 4, (255, 255, 255), -1, cv2.LINE_AA)
    return panel


def compose_skeleton(frame: np.ndarray, people: np.ndarray, joint_set, boxes: list[tuple]) -> np.ndarray:
    """The frame (or the box's widened square), then the first person's skeleton from the
    camera and from its right, side by side at PANEL_HEIGHT."""
    front = draw_skeleton(people[0], joint_set, PANEL_HEIGHT)
    side = draw_skeleton(people[0], joint_set, PANEL_HEIGHT, side_view=True)
    return compose([frame, front, side], ["input", "3D pose (camera view)", "3D pose (from the right)"],
                   boxes[:1] if len(boxes) == 1 else boxes, resize_all=False)

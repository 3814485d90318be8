"""PyTorch datasets over rendered folders (FORMAT.md): frames, or windows of frames, cropped
around the person as SURREAL's training crops, with every label transformed the same way.

A sample's augmentation is a function of (seed, epoch, index) only, so any DataLoader worker,
any machine and a resumed run draw the same one.

Scale: a dataset keeps only each frame's joints (float32) and pelvis depth in memory (~200 bytes a
frame), read from meta.json and two members of annotations.npz (about 0.4 ms a clip). Clips are
opened lazily in each process for their frames (the reader shares a bounded set of open zip files
and reopens them after a fork) without their annotations: an open clip then holds ~30 KB (its
meta.json and checksums, measured at 20 frames) instead of ~75 KB at 20 frames and ~250 KB at 100,
which a DataLoader worker touching 10,000 clips would keep. Only the passes the inputs and
targets need are decoded. OpenCV splits each warp over its own thread pool: in DataLoader workers
call ``cv2.setNumThreads(1)`` (one worker = one core; N workers x N pool threads would fight over
the cores), as trainers/train.py does.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from synth_core.body.parts import person_mask
from synth_core.dataset import find_clips, read_clip
from synth_core.dataset.format import ANNOTATIONS_FILE, META_FILE, is_partial
from synth_core.errors import DatasetFormatError
from trainers.data import crop as crops
from trainers.data.targets import depth_bins, heatmaps, joints_inside, segmentation_classes

TARGETS = ("segm", "depth", "heatmaps", "joints3d")
INPUTS = ("rgb", "flow")
_PASSES = {"segm": "segmentation", "depth": "depth", "flow": "flow_forward"}


def passes_needed(targets: tuple[str, ...], inputs: tuple[str, ...] = ("rgb",)) -> tuple[str, ...]:
    """The clip passes that samples with these targets and inputs are made from (depth targets
    need the segmentation too: only the person's pixels have a depth class)."""
    wanted = ["rgb"] + [_PASSES[name] for name in (*targets, *inputs) if name in _PASSES]
    if "depth" in targets:
        wanted.append("segmentation")
    return tuple(dict.fromkeys(wanted))


def open_dataset(root: str | Path, needs: tuple[str, ...] = ("rgb",)) -> list[Path]:
    """The clip folders of a rendered dataset, each checked (meta.json, annotations, files,
    format version, the ``needs`` passes) before any training starts."""
    root = Path(root)
    if not root.exists():
        raise DatasetFormatError(f"dataset folder {root} does not exist")
    clips = find_clips(root)
    if not clips:
        raise DatasetFormatError(f"dataset folder {root} is empty: no clips; {_why_empty(root)}")
    for path in clips:
        try:
            with read_clip(path) as clip:
                missing = [name for name in needs if name not in clip.passes]
        except DatasetFormatError as exc:
            raise DatasetFormatError(f"clip {path.name} of {root} cannot be used: {exc}") from None
        if missing:
            raise DatasetFormatError(f"clip {path.name} of {root} has no {', '.join(missing)} pass "
                                     f"(it was rendered with --passes {','.join(clip.passes)})")
    return clips


def _why_empty(root: Path, look_at: int = 20) -> str:
    """What a folder without clips has instead: unfinished clips, or datasets in sub-folders
    (the user gave their parent; the first ``look_at`` sub-folders are looked at)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    unfinished = [p for p in folders if is_partial(p.name)]
    if unfinished:
        return f"it has only unfinished clips ({len(unfinished)} .partial folders): let `synth render` finish them"
    datasets = [p.name for p in folders[:look_at] if find_clips(p)]
    if datasets:
        return f"its sub-folders {', '.join(datasets)} hold clips: give one of them"
    return f"render some with `synth render --out {root}`"


def split_clips(clips: list[Path], held_out: float = 0.2) -> tuple[list[Path], list[Path]]:
    """(training, held-out) clips, decided by a hash of each folder's name only: the same on any
    machine, in any order, and whole clips are held out (frames of one clip are near copies)."""
    ranked = sorted(clips, key=lambda p: hashlib.sha256(Path(p).name.encode()).hexdigest())
    count = min(len(ranked) - 1, max(1, math.ceil(held_out * len(ranked)))) if len(ranked) >= 2 else 0
    held = set(ranked[len(ranked) - count:])
    return [p for p in clips if p not in held], [p for p in clips if p in held]


def clip_geometry(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """What a dataset keeps of a clip: joints2d (float32 T x 24 x 2, frame pixels, centres at
    integers) and the pelvis joint's camera z (float32 T, metres). Reads meta.json and two
    members of annotations.npz only (FORMAT.md: readable with numpy alone)."""
    try:
        n_frames = json.loads((path / META_FILE).read_text())["n_frames"]
        with np.load(path / ANNOTATIONS_FILE, allow_pickle=False) as annotations:
            joints2d = annotations["joints2d"].astype(np.float32)
            pelvis = annotations["joints3d_camera"][:, 0, 2].astype(np.float32)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetFormatError(f"clip {path}: cannot read its joints from {META_FILE} and "
                                 f"{ANNOTATIONS_FILE}: {exc}") from None
    if joints2d.shape != (n_frames, 24, 2) or pelvis.shape != (n_frames,):
        raise DatasetFormatError(f"clip {path}: joints2d is {joints2d.shape}, expected ({n_frames}, 24, 2)")
    return joints2d, pelvis


def clip_joints3d(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A clip's joints3d_camera (float32 T x 24 x 3, metres, camera axes) and joints_visible
    (bool T x 24), for the "joints3d" target (312 bytes a frame more in memory)."""
    try:
        with np.load(path / ANNOTATIONS_FILE, allow_pickle=False) as annotations:
            joints3d = annotations["joints3d_camera"].astype(np.float32)
            visible = annotations["joints_visible"].astype(bool)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetFormatError(f"clip {path}: cannot read joints3d_camera and joints_visible from "
                                 f"{ANNOTATIONS_FILE}: {exc}") from None
    if joints3d.shape[1:] != (24, 3) or visible.shape != joints3d.shape[:2]:
        raise DatasetFormatError(f"clip {path}: joints3d_camera is {joints3d.shape} and joints_visible "
                                 f"{visible.shape}, expected T x 24 x 3 and T x 24")
    return joints3d, visible


def rotate_about_camera_z(joints3d: np.ndarray, degrees: float) -> np.ndarray:
    """Camera-frame points turned about the camera's z (optical) axis as crop_affine turns the
    image by ``degrees``: its 2x2 [[cos, sin], [-sin, cos]] applied to (x, y), z kept. Image
    (u - cx, v - cy) is f (x, y) / z, so with square pixels the rotated points project to the
    rotated image (about the principal point; the crop's own centre differs by a shift only)."""
    angle = np.deg2rad(degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    return joints3d @ rotation.T


class FrameDataset(Dataset):
    """One sample per frame: the person crop (input_size) and its labels (output_size).

    Sample keys (tensors, no batch axis): ``image`` float32 C x S x S (RGB in [0, 1] after the
    colour factors, then with "flow" the forward flow in crop pixels, dx and dy); with "segm":
    ``segm`` int64 O x O (0..14); with "depth": ``depth_bins`` int64 O x O (0..19), ``depth``
    float32 O x O (camera z in m, 0 on background), ``pelvis_depth``; with "heatmaps":
    ``heatmaps`` 24 x O x O, ``joints2d`` 24 x 2 (output pixels), ``joints_in_crop`` bool 24;
    with "joints3d": ``joints3d`` float32 24 x 3 (joints3d_camera in metres, camera axes, turned
    about the camera's z axis by the crop's rotation augmentation so that the 3D target agrees
    with the rotated crop; unchanged without augmentation) and ``joints_visible`` bool 24
    (annotations' joints_visible); always ``clip`` and ``frame`` (indices).
    """

    def __init__(self, clips: list[Path], targets: tuple[str, ...] = ("segm",), input_size: int = 256,
                 output_size: int = 64, inputs: tuple[str, ...] = ("rgb",), augment: bool = True, seed: int = 0):
        unknown = [t for t in targets if t not in TARGETS] + [i for i in inputs if i not in INPUTS]
        if unknown or "rgb" not in inputs:
            raise ValueError(f"unknown targets/inputs {unknown}; targets are {TARGETS}, inputs rgb (+ flow)")
        self.clips = [Path(p) for p in clips]
        self.targets, self.inputs = tuple(targets), tuple(inputs)
        self.input_size, self.output_size, self.augment, self.seed = input_size, output_size, augment, seed
        self.epoch = 0
        geometry = [clip_geometry(path) for path in self.clips]
        self.joints2d = [joints for joints, _ in geometry]   # per clip: T x 24 x 2 frame pixels
        self.pelvis_depth = [pelvis for _, pelvis in geometry]   # per clip: T camera z (m)
        if "joints3d" in self.targets:   # per clip: T x 24 x 3 camera metres, T x 24 visibility
            labels3d = [clip_joints3d(path) for path in self.clips]
            self.joints3d = [joints for joints, _ in labels3d]
            self.joints_visible = [visible for _, visible in labels3d]
        self.index = self._frame_index([len(joints) for joints in self.joints2d])
        self._open: dict[int, object] = {}

    def _frame_index(self, lengths: list[int]) -> np.ndarray:
        """(clip, frame) of every sample."""
        rows = [(c, f) for c, length in enumerate(lengths) for f in range(length)]
        return np.array(rows, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def augmentation(self, index: int) -> crops.Augmentation:
        if not self.augment:
            return crops.Augmentation()
        return crops.Augmentation.sample(np.random.default_rng([self.seed, self.epoch, index]))

    def clip(self, c: int):
        """Clip ``c`` opened in this process, for its frames (the dataset has its annotations)."""
        if c not in self._open:
            clip = read_clip(self.clips[c])
            clip.annotations = {}  # ~200 KB per 100-frame clip that a worker would keep for nothing
            self._open[c] = clip
        return self._open[c]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": {}}  # each process opens its own clips

    def passes(self) -> tuple[str, ...]:
        return passes_needed(self.targets, self.inputs)

    def __getitem__(self, index: int) -> dict:
        c, f = (int(v) for v in self.index[index])
        augmentation = self.augmentation(index)
        affine = crops.crop_affine(crops.person_square(self.joints2d[c][f]), self.input_size, augmentation)
        sample = self.crop_frame(c, f, affine, augmentation)
        return {**sample, "clip": torch.tensor(c), "frame": torch.tensor(f)}

    def crop_frame(self, c: int, f: int, affine: np.ndarray, augmentation: crops.Augmentation) -> dict:
        """Everything of frame ``f`` of clip ``c`` through one affine (frame -> input crop)."""
        frame = self.clip(c).frame(f, self.passes())
        S, O = self.input_size, self.output_size
        to_labels = crops.resize_affine(affine, O / S)
        rgb = crops.scale_colours(crops.warp_image(frame["rgb"], affine, S), augmentation.colour)
        channels = [torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255)]
        if "flow" in self.inputs:
            channels.append(torch.from_numpy(crops.warp_flow(frame["flow_forward"], affine, S)).permute(2, 0, 1))
        sample = {"image": torch.cat(channels).contiguous()}
        if "segm" in self.targets:
            parts = crops.warp_labels(frame["segmentation"], to_labels, O)
            sample["segm"] = torch.from_numpy(segmentation_classes(parts).astype(np.int64))
        if "depth" in self.targets:  # the person's depth: an occluder's pixels are background
            depth = crops.warp_labels(np.where(person_mask(frame["segmentation"]), frame["depth"], 0.0), to_labels, O)
            pelvis = float(self.pelvis_depth[c][f])
            sample.update(depth=torch.from_numpy(depth), depth_bins=torch.from_numpy(depth_bins(depth, pelvis)),
                          pelvis_depth=torch.tensor(pelvis, dtype=torch.float32))
        if "heatmaps" in self.targets:
            joints = crops.apply_affine(to_labels, self.joints2d[c][f]).astype(np.float32)
            sample.update(heatmaps=torch.from_numpy(heatmaps(joints, O)), joints2d=torch.from_numpy(joints),
                          joints_in_crop=torch.from_numpy(joints_inside(joints, O)))
        if "joints3d" in self.targets:
            joints3d = rotate_about_camera_z(self.joints3d[c][f], augmentation.rotation)
            sample.update(joints3d=torch.from_numpy(joints3d),
                          joints_visible=torch.from_numpy(self.joints_visible[c][f].copy()))
        return sample


class ClipDataset(FrameDataset):
    """Windows of ``window`` consecutive frames every ``stride`` frames of each clip, with ONE
    crop (around the union of the window's joints) and one augmentation; every tensor gains a
    leading T axis. For temporal models (flow + keypoints -> 3D pose)."""

    def __init__(self, clips: list[Path], window: int = 16, stride: int = 8, **options):
        self.window, self.stride = window, stride
        super().__init__(clips, **options)

    def _frame_index(self, lengths: list[int]) -> np.ndarray:
        """(clip, first frame) of every window; clips shorter than a window give none."""
        rows = [(c, f) for c, length in enumerate(lengths) for f in range(0, length - self.window + 1, self.stride)]
        if not rows:
            shown = ", ".join(f"{path.name} ({length})" for path, length in list(zip(self.clips, lengths))[:5])
            raise DatasetFormatError(f"no clip has the {self.window} frames a window needs: {shown}")
        return np.array(rows, dtype=np.int64)

    def __getitem__(self, index: int) -> dict:
        c, start = (int(v) for v in self.index[index])
        frames = range(start, start + self.window)
        augmentation = self.augmentation(index)
        square = crops.person_square(self.joints2d[c][start:start + self.window])
        affine = crops.crop_affine(square, self.input_size, augmentation)
        samples = [self.crop_frame(c, f, affine, augmentation) for f in frames]
        stacked = {key: torch.stack([s[key] for s in samples]) for key in samples[0]}
        return {**stacked, "clip": torch.tensor(c), "frame": torch.tensor(list(frames))}

"""PyTorch datasets over rendered folders (FORMAT.md): frames, or windows of frames, cropped
around the person as SURREAL's training crops, with every label transformed the same way.

A sample's augmentation is a function of (seed, epoch, index) only, so any DataLoader worker,
any machine and a resumed run draw the same one. Clips are opened lazily in each process (the
reader shares a bounded set of open zip files and reopens them after a fork).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from synth_core.dataset import find_clips, read_clip
from synth_core.dataset.format import is_partial
from synth_core.errors import DatasetFormatError
from trainers.data import crop as crops
from trainers.data.targets import depth_bins, heatmaps, joints_inside, segmentation_classes

TARGETS = ("segm", "depth", "heatmaps")
INPUTS = ("rgb", "flow")
_PASSES = {"segm": "segmentation", "depth": "depth", "flow": "flow_forward"}


def open_dataset(root: str | Path, needs: tuple[str, ...] = ("rgb",)) -> list[Path]:
    """The clip folders of a rendered dataset, each checked (meta.json, annotations, files,
    format version, the ``needs`` passes) before any training starts."""
    root = Path(root)
    if not root.exists():
        raise DatasetFormatError(f"dataset folder {root} does not exist")
    clips = find_clips(root)
    if not clips:
        unfinished = [p.name for p in root.iterdir() if p.is_dir() and is_partial(p.name)] if root.is_dir() else []
        hint = (f"; it has only unfinished clips ({len(unfinished)} .partial folders): let `synth render` "
                f"finish them") if unfinished else "; render one with `synth render --out " + str(root) + "`"
        raise DatasetFormatError(f"dataset folder {root} is empty: no clips{hint}")
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


def split_clips(clips: list[Path], held_out: float = 0.2) -> tuple[list[Path], list[Path]]:
    """(training, held-out) clips, decided by a hash of each folder's name only: the same on any
    machine, in any order, and whole clips are held out (frames of one clip are near copies)."""
    ranked = sorted(clips, key=lambda p: hashlib.sha256(Path(p).name.encode()).hexdigest())
    count = min(len(ranked) - 1, max(1, math.ceil(held_out * len(ranked)))) if len(ranked) >= 2 else 0
    held = set(ranked[len(ranked) - count:])
    return [p for p in clips if p not in held], [p for p in clips if p in held]


class FrameDataset(Dataset):
    """One sample per frame: the person crop (input_size) and its labels (output_size).

    Sample keys (tensors, no batch axis): ``image`` float32 C x S x S (RGB in [0, 1] after the
    colour factors, then with "flow" the forward flow in crop pixels, dx and dy); with "segm":
    ``segm`` int64 O x O (0..14); with "depth": ``depth_bins`` int64 O x O (0..19), ``depth``
    float32 O x O (camera z in m, 0 on background), ``pelvis_depth``; with "heatmaps":
    ``heatmaps`` 24 x O x O, ``joints2d`` 24 x 2 (output pixels), ``joints_in_crop`` bool 24;
    always ``clip`` and ``frame`` (indices).
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
        self.index = self._frame_index()
        self._open: dict[int, object] = {}

    def _frame_index(self) -> np.ndarray:
        rows = []
        for c, path in enumerate(self.clips):
            with read_clip(path) as clip:
                rows.extend((c, f) for f in range(clip.n_frames))
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
        if c not in self._open:
            self._open[c] = read_clip(self.clips[c])
        return self._open[c]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_open": {}}  # each process opens its own clips

    def passes(self) -> tuple[str, ...]:
        wanted = ["rgb"] + [_PASSES[t] for t in self.targets if t in _PASSES] + \
                 [_PASSES[i] for i in self.inputs if i != "rgb"]
        return tuple(dict.fromkeys(wanted))

    def __getitem__(self, index: int) -> dict:
        c, f = (int(v) for v in self.index[index])
        clip = self.clip(c)
        augmentation = self.augmentation(index)
        affine = crops.crop_affine(crops.person_square(clip.annotations["joints2d"][f]), self.input_size,
                                   augmentation)
        sample = self.crop_frame(clip, f, affine, augmentation)
        return {**sample, "clip": torch.tensor(c), "frame": torch.tensor(f)}

    def crop_frame(self, clip, f: int, affine: np.ndarray, augmentation: crops.Augmentation) -> dict:
        """Everything of frame ``f`` through one affine (frame -> input crop)."""
        frame = clip.frame(f, self.passes())
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
        if "depth" in self.targets:
            depth = crops.warp_labels(frame["depth"], to_labels, O)
            pelvis = float(clip.annotations["joints3d_camera"][f, 0, 2])
            sample.update(depth=torch.from_numpy(depth), depth_bins=torch.from_numpy(depth_bins(depth, pelvis)),
                          pelvis_depth=torch.tensor(pelvis, dtype=torch.float32))
        if "heatmaps" in self.targets:
            joints = crops.apply_affine(to_labels, clip.annotations["joints2d"][f]).astype(np.float32)
            sample.update(heatmaps=torch.from_numpy(heatmaps(joints, O)), joints2d=torch.from_numpy(joints),
                          joints_in_crop=torch.from_numpy(joints_inside(joints, O)))
        return sample


class ClipDataset(FrameDataset):
    """Windows of ``window`` consecutive frames every ``stride`` frames of each clip, with ONE
    crop (around the union of the window's joints) and one augmentation; every tensor gains a
    leading T axis. For temporal models (flow + keypoints -> 3D pose)."""

    def __init__(self, clips: list[Path], window: int = 16, stride: int = 8, **options):
        self.window, self.stride = window, stride
        super().__init__(clips, **options)

    def _frame_index(self) -> np.ndarray:
        rows, short = [], []
        for c, path in enumerate(self.clips):
            with read_clip(path) as clip:
                if clip.n_frames < self.window:
                    short.append(f"{path.name} ({clip.n_frames})")
                rows.extend((c, f) for f in range(0, clip.n_frames - self.window + 1, self.stride))
        if not rows:
            raise DatasetFormatError(f"no clip has {self.window} frames for a window: {', '.join(short)}")
        return np.array(rows, dtype=np.int64)

    def __getitem__(self, index: int) -> dict:
        c, start = (int(v) for v in self.index[index])
        clip = self.clip(c)
        frames = range(start, start + self.window)
        augmentation = self.augmentation(index)
        square = crops.person_square(clip.annotations["joints2d"][start:start + self.window])
        affine = crops.crop_affine(square, self.input_size, augmentation)
        samples = [self.crop_frame(clip, f, affine, augmentation) for f in frames]
        stacked = {key: torch.stack([s[key] for s in samples]) for key in samples[0]}
        return {**stacked, "clip": torch.tensor(c), "frame": torch.tensor(list(frames))}

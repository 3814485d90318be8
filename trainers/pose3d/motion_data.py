"""Doersch & Zisserman's (2019) clip inputs: per frame, optical flow and 12 keypoint heatmaps (or
RGB: the RGB-only switch) plus a "total occlusion" indicator channel; made from rendered clips
with the paper's noise (:class:`MotionClips`) or from a real video and a 2D detector's keypoint
file (:func:`real_video_inputs`).

**Layout** (one window): ``inputs`` float32 T x C x S x S, channels in this order, those the
``motion_inputs`` switch names ("flow+keypoints" by default, "rgb", or any "+" list of rgb, flow,
keypoints as the paper's Table 1 rows):

    rgb        3   R, G, B in [0, 1]
    flow       2   forward flow (t -> t+1), dx, dy, crop pixels / (20 x S / 224): the paper
                   divides flow by 20 at its 224 px crops "to put them in the same range as RGB"
    keypoints 12   Gaussian heatmaps (peak 1, sigma 10 px at 224, i.e. 10 x S / 224) of the
                   "dz12" keypoints (trainers.pose3d.joints: COCO's shoulders, elbows, wrists,
                   hips, knees, ankles); a hidden keypoint's channel is all zero
    indicator  1   1 on a totally occluded frame (every other channel 0 there), else 0

**The crop.** One square per window around the dz12 keypoints' box, widened as SURREAL's crops
(trainers.data.crop.widened_square): the same function frames a real video from its detected
keypoints, so training and test crops agree (the paper: HMR's keypoint-centred boxes).

**Noise on synthetic keypoints and occluders** (appendix A and B), drawn from (seed, epoch,
index) like the crop augmentation:

- hidden: outside the crop or rendered frame, not visible in the render (annotations'
  joints_visible: behind the body by more than the renderer's margin, the paper's "20 cm behind
  the depth map" with the plan's 15 cm), under the moving occluder, on totally occluded frames,
  and at random (``hide``: the paper hides "with some probability" without a number; 10%);
  then every leg keypoint (hips, knees, ankles) of the window is shown again with probability
  0.5 (the paper: detectors report occluded legs), then each keypoint flips hidden/shown with
  probability 0.05 (the paper's 5%);
- jitter: Gaussian, standard deviation ``keypoint_noise_px`` crop pixels (the paper gives none;
  the config's default is 2 px);
- occluder: a superpixel (SLIC, scikit-image) of the project's occluder bank
  (synth_core/data/occluders.npz), 0.2-0.4 of the crop tall (the paper cuts 10-30 superpixels
  per 240 x 320 frame), moving at constant velocity over the person across the window
  (synth_core.occluders.card_layer). Under it the person is gone: its flow is the occluder's own
  image motion, its RGB the superpixel's, its keypoints hidden. As in the paper, an occluder
  that covers no keypoint, or leaves fewer than half of them per frame on average (the paper: 7
  of 14), is discarded; occluders are tried on 30% of windows (the paper: "roughly 30% of
  videos have occlusions");
- total occlusion: with probability 0.2 (the paper: "for some videos"; the rate of
  synth_core.occluders), a run of up to 15/31 of the window's frames (the paper: up to 15 of
  31) is blanked and flagged. Frames the render itself totally occluded (annotations'
  ``totally_occluded``) are flagged too, and so is any frame with fewer than 6 of the 12
  keypoints shown (the paper treats frames with fewer than 7 of 14 keypoints so at test time).

Flow comes from the render's ground truth (synthetic) or OpenCV's DIS / Farneback (real video);
the paper runs FlowNet on both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from synth_core.dataset.format import ANNOTATIONS_FILE
from synth_core.errors import DatasetFormatError, TrainingError
from synth_core.occluders import SPEED_RANGE, TOTAL_OCCLUSION_CHANCE, card_layer, load_occluder_bank
from trainers.data import crop as crops
from trainers.data.datasets import ClipDataset
from trainers.data.targets import heatmaps
from trainers.pose3d.joints import get_joint_set

PAPER_INPUT = 224                 # the paper's crop side: sigma and the flow divisor are given at it
PAPER_SIGMA_PX = 10.0
PAPER_FLOW_DIVISOR = 20.0
KEYPOINT_SET = "dz12"
N_KEYPOINTS = 12
MIN_SHOWN = 6                     # fewer shown keypoints -> a totally occluded frame (paper: 7 of 14)
CHANNELS = {"rgb": 3, "flow": 2, "keypoints": N_KEYPOINTS}
MOTION_INPUTS = ("flow+keypoints", "rgb")   # the two the issue names; any "+" list of CHANNELS works
LEG_KEYPOINTS = ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
OCCLUDER_HEIGHT = (0.2, 0.4)      # of the crop side
OCCLUDER_TRIES = 5
FLOW_METHODS = ("dis", "farneback")
MIN_CONFIDENCE = 0.3              # a detected keypoint below this confidence counts as hidden


@dataclasses.dataclass(frozen=True)
class Corruption:
    """The synthetic inputs' noise (see the module's docstring); tests switch parts off."""
    hide: float = 0.10                  # random hiding (paper: "some probability")
    unhide_legs: float = 0.5            # paper
    flip: float = 0.05                  # paper
    occluder: float = 0.3               # paper: ~30% of videos end up occluded
    total: float = TOTAL_OCCLUSION_CHANCE
    total_max_share: float = 15 / 31    # paper: up to 15 of 31 frames

    @classmethod
    def none(cls) -> "Corruption":
        return cls(hide=0.0, unhide_legs=0.0, flip=0.0, occluder=0.0, total=0.0)


# ----------------------------------------------------------------------------- channels and scales

def input_parts(motion_inputs: str) -> tuple[str, ...]:
    """The input kinds a ``motion_inputs`` string names, in channel order (rgb, flow, keypoints)."""
    parts = tuple(motion_inputs.split("+"))
    unknown = [p for p in parts if p not in CHANNELS]
    if unknown or not parts or len(set(parts)) != len(parts):
        raise TrainingError(f"motion_inputs must be {' or '.join(MOTION_INPUTS)} (or a '+' list of "
                            f"{', '.join(CHANNELS)}), not {motion_inputs!r}")
    return tuple(p for p in CHANNELS if p in parts)


def input_channels(motion_inputs: str) -> int:
    """Channels per frame: the named inputs plus the total-occlusion indicator."""
    return sum(CHANNELS[p] for p in input_parts(motion_inputs)) + 1


def keypoint_sigma(input_size: int) -> float:
    return PAPER_SIGMA_PX * input_size / PAPER_INPUT


def flow_divisor(input_size: int) -> float:
    return PAPER_FLOW_DIVISOR * input_size / PAPER_INPUT


def keypoint_square(keypoints: np.ndarray, shown: np.ndarray | None = None) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the crop around the shown keypoints (... x 12 x 2) of a window,
    widened as SURREAL's crops; all keypoints when none is shown."""
    points = np.asarray(keypoints, np.float64).reshape(-1, 2)
    if shown is not None and np.any(shown):
        points = points[np.asarray(shown).reshape(-1)]
    return crops.person_square(points)


def keypoint_heatmaps(keypoints: np.ndarray, shown: np.ndarray, size: int) -> np.ndarray:
    """12 x S x S heatmaps (sigma 10 px at 224) of the shown keypoints (crop pixels); hidden -> 0."""
    maps = heatmaps(np.asarray(keypoints, np.float32), size, keypoint_sigma(size))
    return maps * np.asarray(shown, np.float32)[:, None, None]


def assemble_inputs(parts: tuple[str, ...], size: int, total: np.ndarray, rgb=None, flow=None,
                    keypoints=None, shown=None) -> torch.Tensor:
    """T x C x S x S inputs of a window: rgb T x S x S x 3 in [0, 1], flow T x S x S x 2 (crop
    pixels), keypoints T x 12 x 2 (crop pixels) with shown T x 12; frames where ``total`` is set
    are zero but for the indicator."""
    T = len(total)
    channels = []
    if "rgb" in parts:
        channels.append(np.moveaxis(np.asarray(rgb, np.float32), -1, 1))
    if "flow" in parts:
        channels.append(np.moveaxis(np.asarray(flow, np.float32), -1, 1) / flow_divisor(size))
    if "keypoints" in parts:
        channels.append(np.stack([keypoint_heatmaps(keypoints[t], shown[t], size) for t in range(T)]))
    inputs = np.concatenate(channels + [np.zeros((T, 1, size, size), np.float32)], axis=1)
    inputs[total] = 0.0
    inputs[total, -1] = 1.0
    return torch.from_numpy(np.ascontiguousarray(inputs))


# ------------------------------------------------------------------------------ synthetic noise

def hide_keypoints(rng: np.random.Generator, hidden: np.ndarray, total: np.ndarray, corruption: Corruption,
                   legs: np.ndarray) -> np.ndarray:
    """T x 12 shown flags from the keypoints hidden by the scene (``hidden``: off the crop, not
    visible, under the occluder), with the paper's random hiding, leg unhiding and flips;
    totally occluded frames show nothing."""
    hidden = hidden | (rng.random(hidden.shape) < corruption.hide)
    if rng.random() < corruption.unhide_legs:
        hidden = hidden & ~legs[None, :]
    hidden = hidden ^ (rng.random(hidden.shape) < corruption.flip)
    return ~hidden & ~total[:, None]


def draw_total_occlusion(rng: np.random.Generator, window: int, corruption: Corruption) -> np.ndarray:
    """T bools: a run of up to total_max_share of the window's frames, with probability total."""
    flags = np.zeros(window, dtype=bool)
    if window >= 2 and rng.random() < corruption.total:
        longest = max(1, int(round(corruption.total_max_share * window)))
        length = int(rng.integers(1, longest + 1))
        start = int(rng.integers(0, window - length + 1))
        flags[start:start + length] = True
    return flags


def draw_occluder(rng: np.random.Generator, bank, keypoints: np.ndarray, size: int, window: int) -> dict:
    """A moving occluder card (synth_core.occluders' form, crop pixels) that passes over a random
    keypoint at the window's middle frame."""
    patch = int(rng.integers(len(bank)))
    speed = rng.uniform(*SPEED_RANGE) * size
    heading = rng.uniform(0.0, 2 * np.pi)
    velocity = speed * np.array([np.cos(heading), np.sin(heading)])
    middle = keypoints[window // 2, rng.integers(keypoints.shape[1])]
    centre = middle - velocity * (window - 1) / 2
    return {"patch": patch, "height_px": float(rng.uniform(*OCCLUDER_HEIGHT) * size),
            "centre_px": [float(v) for v in centre], "velocity_px": [float(v) for v in velocity],
            "flip": bool(rng.random() < 0.5)}


def occluder_layers(card: dict, bank, size: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """(masks T x S x S bool, rgb T x S x S x 3 uint8) of a card over a window's crops."""
    layers = [card_layer(card, bank.patches[card["patch"]], t, size, size) for t in range(window)]
    return np.stack([m for m, _ in layers]), np.stack([c for _, c in layers])


def covered(masks: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """T x K: whether each keypoint's pixel is under the mask (off the crop: not covered)."""
    T, size = masks.shape[0], masks.shape[1]
    pixel = np.rint(keypoints).astype(np.int64)
    inside = np.all((pixel >= 0) & (pixel < size), axis=-1)
    clipped = np.clip(pixel, 0, size - 1)
    return inside & masks[np.arange(T)[:, None], clipped[..., 1], clipped[..., 0]]


def acceptable_occluder(under: np.ndarray, hidden: np.ndarray) -> bool:
    """The paper's rule: keep an occluder that covers the person and leaves at least half of the
    keypoints (7 of 14 there, 6 of 12 here) per frame on average."""
    remaining = (~(hidden | under)).sum(axis=1).mean()
    return bool(under.any()) and remaining >= MIN_SHOWN


# ---------------------------------------------------------------------------- synthetic windows

class MotionClips(ClipDataset):
    """Windows of rendered clips as the motion network takes them (module docstring).

    Sample keys: ``inputs`` T x C x S x S; ``joints3d`` T x 24 x 3 (SMPL's joints in camera
    coordinates, metres, turned with the crop's rotation: the "joints3d" target of
    trainers.data.datasets); ``joints2d`` T x 24 x 2 (the same joints in crop pixels, for the
    reprojection loss); ``keypoints`` T x 12 x 3 (the
    noisy keypoints drawn: x, y in crop pixels, shown); ``total_occlusion`` T bool; ``clip``,
    ``frame``. ``corrupt=False`` gives clean inputs (every visible keypoint, no occluders)."""

    def __init__(self, clips: list[Path], window: int,
                 motion_inputs: str = "flow+keypoints", keypoint_noise_px: float = 0.0, input_size: int = 64,
                 augment: bool = True, corrupt: bool = True, corruption: Corruption = Corruption(),
                 stride: int = 1, seed: int = 0, occluder_bank=None):
        if window < 1:
            raise TrainingError(f"window must be at least 1 frame, not {window}")
        self.parts = input_parts(motion_inputs)
        self.keypoint_set = get_joint_set(KEYPOINT_SET)
        self.keypoint_noise_px, self.corrupt, self.corruption = keypoint_noise_px, corrupt, corruption
        self.bank = occluder_bank if occluder_bank is not None else load_occluder_bank()
        inputs = ("rgb", "flow") if "flow" in self.parts else ("rgb",)
        try:
            super().__init__(clips, window=window, stride=stride, targets=("joints3d",), input_size=input_size,
                             output_size=input_size, inputs=inputs, augment=augment, seed=seed)
        except DatasetFormatError as exc:
            raise DatasetFormatError(f"{exc} (the motion model's clips must be at least window = {window} "
                                     f"frames long: render longer clips or lower --window)") from None
        self.totally_occluded = [_rendered_total_occlusion(path, len(j)) for path, j in zip(self.clips, self.joints2d)]
        self.keypoint_index = self.keypoint_set.from_smpl.argmax(axis=1)   # dz12 joints are single SMPL joints
        self.legs = np.array([name in LEG_KEYPOINTS for name in self.keypoint_set.names])

    def __getitem__(self, index: int) -> dict:
        parts = self.window_parts(index)
        return {key: parts[key] for key in ("inputs", "joints3d", "joints2d", "keypoints", "total_occlusion",
                                            "clip", "frame")}

    def window_parts(self, index: int) -> dict:
        """Everything a window is made of, the occluder's masks included (for tests and plots)."""
        c, start = (int(v) for v in self.index[index])
        frames = np.arange(start, start + self.window)
        S, T = self.input_size, self.window
        augmentation = self.augmentation(index)
        keypoints_frame = self.joints2d[c][frames][:, self.keypoint_index]
        affine = crops.crop_affine(keypoint_square(keypoints_frame), S, augmentation)
        samples = [self.crop_frame(c, int(f), affine, augmentation) for f in frames]
        image = torch.stack([s["image"] for s in samples]).numpy()           # T x (3 [+2]) x S x S
        rgb = np.moveaxis(image[:, :3], 1, -1).copy()
        flow = np.moveaxis(image[:, 3:5], 1, -1).copy() if "flow" in self.parts else None
        joints3d24 = torch.stack([s["joints3d"] for s in samples]).numpy()
        visible24 = torch.stack([s["joints_visible"] for s in samples]).numpy()
        joints2d24 = crops.apply_affine(affine, self.joints2d[c][frames].reshape(-1, 2)).reshape(T, -1, 2)

        keypoints = joints2d24[:, self.keypoint_index].astype(np.float32)
        frame_h, frame_w = self.clip_size(c)
        on_frame = np.all((keypoints_frame >= -0.5) & (keypoints_frame < np.array([frame_w, frame_h]) - 0.5), -1)
        in_crop = np.all((keypoints >= -0.5) & (keypoints < S - 0.5), axis=-1)
        hidden = ~(in_crop & on_frame & visible24[:, self.keypoint_index])
        total = self.totally_occluded[c][frames].copy()
        rng = np.random.default_rng([self.seed, self.epoch, index, 13])
        masks = np.zeros((T, S, S), dtype=bool)
        card = None
        if self.corrupt:
            total |= draw_total_occlusion(rng, T, self.corruption)
            card, masks, occluder_rgb = self._occluder(rng, keypoints, hidden)
            if card is not None:
                hidden |= covered(masks, keypoints)
                rgb[masks] = occluder_rgb[masks].astype(np.float32) / 255
                if flow is not None:
                    flow[masks] = np.asarray(card["velocity_px"], np.float32)
            shown = hide_keypoints(rng, hidden, total, self.corruption, self.legs)
            keypoints = keypoints + rng.normal(0.0, self.keypoint_noise_px, keypoints.shape).astype(np.float32)
        else:
            shown = ~hidden & ~total[:, None]
        total |= shown.sum(axis=1) < MIN_SHOWN
        shown &= ~total[:, None]
        inputs = assemble_inputs(self.parts, S, total, rgb=rgb, flow=flow, keypoints=keypoints, shown=shown)

        return {"inputs": inputs, "joints3d": torch.from_numpy(joints3d24.astype(np.float32)),
                "joints2d": torch.from_numpy(joints2d24.astype(np.float32)),
                "keypoints": torch.from_numpy(np.concatenate([keypoints, shown[..., None]], -1).astype(np.float32)),
                "total_occlusion": torch.from_numpy(total), "clip": torch.tensor(c),
                "frame": torch.from_numpy(frames), "occluder_masks": masks, "occluder": card,
                "flow_crop": flow, "affine": affine}

    def _occluder(self, rng: np.random.Generator, keypoints: np.ndarray, hidden: np.ndarray):
        """(card, masks, rgb) of an acceptable occluder, or (None, empty masks, None)."""
        S, T = self.input_size, self.window
        if rng.random() < self.corruption.occluder:
            for _ in range(OCCLUDER_TRIES):
                card = draw_occluder(rng, self.bank, keypoints, S, T)
                masks, colours = occluder_layers(card, self.bank, S, T)
                if acceptable_occluder(covered(masks, keypoints), hidden):
                    return card, masks, colours
        return None, np.zeros((T, S, S), dtype=bool), None

    def clip_size(self, c: int) -> tuple[int, int]:
        """(height, width) of clip ``c``'s frames."""
        clip = self.clip(c)
        return int(clip.meta["height"]), int(clip.meta["width"])


def _rendered_total_occlusion(path: Path, n_frames: int) -> np.ndarray:
    """The clip's ``totally_occluded`` frames (rendered with occluders), else none."""
    try:
        with np.load(Path(path) / ANNOTATIONS_FILE, allow_pickle=False) as annotations:
            if "totally_occluded" in annotations.files:
                return annotations["totally_occluded"].astype(bool).reshape(n_frames)
    except (OSError, ValueError) as exc:
        raise DatasetFormatError(f"clip {path}: cannot read {ANNOTATIONS_FILE}: {exc}") from None
    return np.zeros(n_frames, dtype=bool)


# ----------------------------------------------------------------------------------- real video

def optical_flow(previous: np.ndarray, following: np.ndarray, method: str = "dis") -> np.ndarray:
    """H x W x 2 float32 forward flow (dx, dy) between two RGB uint8 images, by OpenCV."""
    a, b = (cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY) for image in (previous, following))
    if method == "dis":
        return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise TrainingError(f"flow must be one of {', '.join(FLOW_METHODS)}, not {method!r}")


def window_starts(n_frames: int, window: int) -> list[int]:
    """Non-overlapping windows covering every frame; the last one ends at the last frame."""
    starts = list(range(0, n_frames - window + 1, window))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return starts


def real_video_inputs(video_path, keypoints_path, input_size: int, window: int, flow: str = "dis",
                      motion_inputs: str = "flow+keypoints", min_confidence: float = MIN_CONFIDENCE) -> dict:
    """The network's inputs for a real video: windows of ``window`` frames covering it (the last
    one moved back to end at the last frame), each cropped around its detected keypoints.

    ``keypoints_path``: the user's 2D detector output (trainers.pose3d.keypoints' JSON/CSV format),
    read for the dz12 keypoints; one with fewer than ``min_confidence`` counts as hidden, and a
    frame with fewer than 6 shown is totally occluded (indicator on). Flow: OpenCV's DIS or
    Farneback between the crops of frame t and t+1 (the same crop: the paper's "paired boxes");
    the video's last frame takes the negated flow towards the frame before.

    Returns {"inputs": N x T x C x S x S, "frames": N x T video frame indices, "affines": N x 2 x 3
    (video pixels -> crop pixels), "keypoints": N x T x 12 x 3 (crop pixels, shown),
    "total_occlusion": N x T}."""
    from trainers.data.real import read_real_frames
    from trainers.pose3d.keypoints import read_keypoints

    if flow not in FLOW_METHODS:
        raise TrainingError(f"flow must be one of {', '.join(FLOW_METHODS)}, not {flow!r}")
    parts = input_parts(motion_inputs)
    frames = read_real_frames(video_path)
    if len(frames) < window:
        raise TrainingError(f"{video_path} has {len(frames)} frames, fewer than the motion model's window of "
                            f"{window}: use a longer video or a run trained with a shorter --window")
    detections = np.asarray(read_keypoints(keypoints_path, len(frames), KEYPOINT_SET), np.float64)
    windows = [_real_window(frames, detections, start, window, input_size, parts, flow, min_confidence)
               for start in window_starts(len(frames), window)]
    return {key: torch.stack([torch.as_tensor(w[key]) for w in windows]) for key in windows[0]}


def _real_window(frames, detections, start, window, size, parts, flow, min_confidence) -> dict:
    indices = np.arange(start, start + window)
    shown = detections[indices, :, 2] >= min_confidence
    affine = crops.crop_affine(keypoint_square(detections[indices, :, :2], shown), size)
    crops_rgb = [crops.warp_image(frames[i], affine, size) for i in indices]
    flows = None
    if "flow" in parts:
        flows = []
        for t, i in enumerate(indices):
            if i + 1 < len(frames):
                following = crops_rgb[t + 1] if t + 1 < window else crops.warp_image(frames[i + 1], affine, size)
                flows.append(optical_flow(crops_rgb[t], following, flow))
            else:   # the video's last frame: no next frame; minus the flow towards the previous one
                previous = crops_rgb[t - 1] if t > 0 else crops.warp_image(frames[i - 1], affine, size)
                flows.append(-optical_flow(crops_rgb[t], previous, flow))
    keypoints = crops.apply_affine(affine, detections[indices, :, :2].reshape(-1, 2)).reshape(window, -1, 2)
    in_crop = np.all((keypoints >= -0.5) & (keypoints < size - 0.5), axis=-1)
    shown &= in_crop
    total = shown.sum(axis=1) < MIN_SHOWN
    shown &= ~total[:, None]
    rgb = np.stack(crops_rgb).astype(np.float32) / 255
    inputs = assemble_inputs(parts, size, total, rgb=rgb, flow=flows, keypoints=keypoints, shown=shown)
    return {"inputs": inputs, "frames": torch.from_numpy(indices), "affines": torch.from_numpy(affine),
            "keypoints": torch.from_numpy(np.concatenate([keypoints, shown[..., None]], -1).astype(np.float32)),
            "total_occlusion": torch.from_numpy(total)}


class RealClips(Dataset):
    """Unlabelled real windows for DANN's real domain: ``inputs`` T x C x S x S of consecutive
    frames of a video or image folder (trainers.data.RealImages' frames). RGB inputs: one random
    square crop per window (``augment``; else the centred square), every frame through it. Flow and
    keypoint inputs need the video's 2D keypoints (``keypoints_path``): the windows of
    :func:`real_video_inputs` (computed once)."""

    def __init__(self, path, window: int, input_size: int = 64, motion_inputs: str = "rgb",
                 keypoints_path=None, augment: bool = True, seed: int = 0, flow: str = "dis"):
        from trainers.data.real import RealImages

        self.parts, self.window, self.input_size = input_parts(motion_inputs), window, input_size
        self.augment, self.seed, self.epoch = augment, seed, 0
        self.windows = None
        if self.parts != ("rgb",):
            if keypoints_path is None:
                raise TrainingError(f"the real domain {path} has no 2D keypoints for {motion_inputs} inputs: put "
                                    f"the detector's file next to it ({Path(path).stem}.keypoints.json or .csv) "
                                    f"or use motion_inputs=rgb, the paper's DANN baseline")
            self.windows = real_video_inputs(path, keypoints_path, input_size, window, flow, motion_inputs)["inputs"]
            return
        self.images = RealImages(path, input_size=input_size, augment=False)
        if len(self.images) < window:
            raise TrainingError(f"the real domain {path} has {len(self.images)} frames, fewer than the window of "
                                f"{window}")

    def __len__(self) -> int:
        return len(self.windows) if self.windows is not None else len(self.images) - self.window + 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        if self.windows is not None:
            return {"inputs": self.windows[index], "index": torch.tensor(index)}
        frames = [self.images.frame(index + t) for t in range(self.window)]
        height, width = frames[0].shape[:2]
        short = min(height, width)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index, 17])
            side = max(1, int(rng.uniform(0.5, 1.0) * short))
            x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        else:
            side, x, y = short, (width - short) // 2, (height - short) // 2
        S = self.input_size
        rgb = np.stack([cv2.resize(f[y:y + side, x:x + side], (S, S), interpolation=cv2.INTER_AREA) for f in frames])
        inputs = assemble_inputs(self.parts, S, np.zeros(self.window, bool), rgb=rgb.astype(np.float32) / 255)
        return {"inputs": inputs, "index": torch.tensor(index)}


def find_keypoint_file(path) -> Path | None:
    """The 2D keypoints next to a real video: VIDEO_STEM.keypoints.json or .csv."""
    path = Path(path)
    for suffix in (".keypoints.json", ".keypoints.csv"):
        candidate = path.with_name(path.stem + suffix)
        if candidate.is_file():
            return candidate
    return None

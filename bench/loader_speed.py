"""Data-loading speed of the trainers: samples/s per core for SURREAL's 256x256 crops.

    python bench/loader_speed.py --data DATASET [--n 400]

Rows, all in this process on one thread (torch and OpenCV set to 1) except the last:
  baseline   crop + augment with scipy.ndimage (the straightforward numpy path)
  crop+aug   the same crop + augment with trainers.data.crop (OpenCV), frames already decoded
  segm / depth / segm+flow / segm+depth+heatmaps
             a whole FrameDataset sample: decode the frame's files, crop, augment, targets
  loader     a DataLoader with 2 workers over segm samples (the machine's 2 cores)
The issue's target: >= 500 crops+augment per second per core.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth_core.dataset import read_clip  # noqa: E402
from trainers.data import FrameDataset, open_dataset  # noqa: E402
from trainers.data import crop as crops  # noqa: E402


def rate(function, n: int) -> float:
    function(0)
    start = time.perf_counter()
    for i in range(n):
        function(i)
    return n / (time.perf_counter() - start)


def decoded_frames(clips, count: int) -> list[tuple[dict, np.ndarray]]:
    frames = []
    for path in clips:
        clip = read_clip(path)
        for f in range(clip.n_frames):
            frames.append((clip.frame(f, ("rgb", "segmentation")), clip.annotations["joints2d"][f]))
            if len(frames) == count:
                return frames
    return frames


def crop_opencv(frame: dict, joints: np.ndarray, rng) -> tuple:
    augmentation = crops.Augmentation.sample(rng)
    affine = crops.crop_affine(crops.person_square(joints), 256, augmentation)
    image = crops.scale_colours(crops.warp_image(frame["rgb"], affine, 256), augmentation.colour)
    image = torch.from_numpy(image).permute(2, 0, 1).float().div_(255)
    return image, crops.warp_labels(frame["segmentation"], crops.resize_affine(affine, 0.25), 64)


def crop_scipy(frame: dict, joints: np.ndarray, rng) -> tuple:
    augmentation = crops.Augmentation.sample(rng)
    affine = crops.crop_affine(crops.person_square(joints), 256, augmentation)
    labels_affine = crops.resize_affine(affine, 0.25)

    def warp(image, a, size, order):
        inverse = np.linalg.inv(np.vstack([a, [0, 0, 1]]))  # crop (x, y) -> frame (x, y)
        matrix = inverse[:2, :2][::-1, ::-1]                # ndimage works in (row, col)
        offset = inverse[:2, 2][::-1]
        return ndimage.affine_transform(image, matrix, offset, output_shape=(size, size), order=order, cval=0)

    image = np.stack([warp(frame["rgb"][..., c].astype(np.float32), affine, 256, 1) for c in range(3)], axis=2)
    image = np.clip(image * (np.asarray(augmentation.colour, np.float32) / 255), 0, 1)
    return image, warp(frame["segmentation"], labels_affine, 64, 0)


def render_tiny(folder: Path) -> Path:
    out = folder / "data"
    subprocess.run([sys.executable, "-m", "synth_cli", "render", "--n", "4", "--frames", "10", "--samples", "2",
                    "--passes", "rgb,depth,segmentation,flow_forward", "--out", str(out)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="a rendered dataset (default: render 4 small clips)")
    parser.add_argument("--n", type=int, default=400, help="samples per row")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or render_tiny(Path(scratch))
        clips = open_dataset(data, needs=("rgb", "segmentation", "depth", "flow_forward"))
        frames = decoded_frames(clips, 64)
        rng = np.random.default_rng(0)
        rows = [("baseline: crop+augment, scipy.ndimage", rate(lambda i: crop_scipy(*frames[i % len(frames)], rng),
                                                                  max(20, args.n // 10)))]
        rows.append(("crop+augment, OpenCV (decoded frames)",
                     rate(lambda i: crop_opencv(*frames[i % len(frames)], rng), args.n)))
        for name, targets, inputs in (("sample: segm", ("segm",), ("rgb",)), ("sample: depth", ("depth",), ("rgb",)),
                                      ("sample: segm, rgb+flow input", ("segm",), ("rgb", "flow")),
                                      ("sample: segm+depth+heatmaps", ("segm", "depth", "heatmaps"), ("rgb",))):
            dataset = FrameDataset(clips, targets=targets, inputs=inputs)
            rows.append((name, rate(lambda i: dataset[i % len(dataset)], args.n)))
        dataset = FrameDataset(clips, targets=("segm",))
        loader = torch.utils.data.DataLoader(dataset, batch_size=8, num_workers=2, shuffle=True,
                                             worker_init_fn=lambda _: (cv2.setNumThreads(1), torch.set_num_threads(1)))
        next(iter(loader))
        start, seen = time.perf_counter(), 0
        while seen < args.n:
            for batch in loader:
                seen += len(batch["image"])
                if seen >= args.n:
                    break
        rows.append(("DataLoader, 2 workers, segm (whole machine)", seen / (time.perf_counter() - start)))
    baseline = rows[0][1]
    print(f"{'what (256x256 crops, 64x64 labels)':<46} {'samples/s':>10} {'vs baseline':>12}")
    for name, value in rows:
        print(f"{name:<46} {value:>10.0f} {value / baseline:>11.1f}x")


if __name__ == "__main__":
    main()

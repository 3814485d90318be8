"""Datasets over rendered folders (format v1) and real images, for the trainers."""

from trainers.data.datasets import ClipDataset, FrameDataset, open_dataset, passes_needed, split_clips
from trainers.data.real import RealImages, iter_real_frames, read_real_frames
from trainers.data.targets import (DEPTH_BIN_M, N_DEPTH_BINS, N_SEGM_CLASSES, bins_to_depth, depth_bins,
                                   heatmaps, segmentation_classes)

__all__ = ["ClipDataset", "DEPTH_BIN_M", "FrameDataset", "N_DEPTH_BINS", "N_SEGM_CLASSES", "RealImages",
           "bins_to_depth", "depth_bins", "heatmaps", "iter_real_frames", "open_dataset", "passes_needed",
           "read_real_frames", "segmentation_classes", "split_clips"]

"""SURREAL's person crop and augmentation, as one 2x3 affine per sample.

Convention (FORMAT.md): the centre of pixel (row r, column c) is at (x = c, y = r), on the frame
and on every crop, which is also OpenCV's convention for ``cv2.warpAffine``. An affine ``A``
maps frame pixels to crop pixels (``p_crop = A[:, :2] @ p + A[:, 2]``); images are warped with
it bilinearly, labels with nearest neighbours, flow vectors are multiplied by ``A[:, :2]``.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

# SURREAL widens the joints' box by 25% of its width at each side, 35% of its height at the top
# (the head joint is the head's centre) and 25% at the bottom (the ankles are above the soles).
WIDEN_SIDES, WIDEN_TOP, WIDEN_BOTTOM = 0.25, 0.35, 0.25


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """One sample's draw: crop side x ``scale``, rotation (degrees, counter-clockwise on the
    image), RGB channel factors."""
    scale: float = 1.0
    rotation: float = 0.0
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Augmentation":
        """SURREAL: scale 2^N(0, 0.25), rotation N(0, 30 deg) 40% of the time, colour x U(0.6, 1.4)."""
        scale = float(2.0 ** rng.normal(0.0, 0.25))
        rotation = float(rng.normal(0.0, 30.0)) if rng.random() < 0.4 else 0.0
        colour = tuple(float(c) for c in rng.uniform(0.6, 1.4, size=3))
        return cls(scale, rotation, colour)


def person_square(joints2d: np.ndarray) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the square around the joints' widened box; ``joints2d``
    is J x 2 or T x J x 2 (the union over frames)."""
    points = np.asarray(joints2d, dtype=np.float64).reshape(-1, 2)
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return widened_square(x0, y0, x1 - x0, y1 - y0)


def widened_square(x: float, y: float, w: float, h: float) -> tuple[float, float, float]:
    left, right = x - WIDEN_SIDES * w, x + w + WIDEN_SIDES * w
    top, bottom = y - WIDEN_TOP * h, y + h + WIDEN_BOTTOM * h
    return (left + right) / 2, (top + bottom) / 2, max(right - left, bottom - top, 1.0)


def crop_affine(square: tuple[float, float, float], size: int, augmentation: Augmentation = Augmentation()) -> np.ndarray:
    """2x3 affine: the square (scaled and rotated about its centre) onto a size x size crop."""
    cx, cy, side = square
    zoom = size / (side * augmentation.scale)
    angle = np.deg2rad(augmentation.rotation)
    # y points down, so this turns the content counter-clockwise as seen on screen
    linear = zoom * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    centre = (size - 1) / 2
    return np.hstack([linear, (np.array([centre, centre]) - linear @ np.array([cx, cy]))[:, None]])


def box_affine(box: tuple[float, float, float, float], size: int, widen: bool = True) -> np.ndarray:
    """A person box (x, y, w, h in frame pixels) as the training crops frame a person: widened
    like the joints' box (``widen``), made square, onto size x size."""
    x, y, w, h = box
    square = widened_square(x, y, w, h) if widen else (x + w / 2 - 0.5, y + h / 2 - 0.5, max(w, h))
    return crop_affine(square, size)


def resize_affine(affine: np.ndarray, factor: float) -> np.ndarray:
    """The affine onto a crop ``factor`` times the size: with pixel centres at integers, crop
    coordinate u becomes factor * (u + 0.5) - 0.5."""
    resized = affine * factor
    resized[:, 2] += (factor - 1) / 2
    return resized


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:, :2].T + affine[:, 2]


def warp_image(image: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Bilinear; outside the frame is black, as Newell et al.'s crops (a replicated border
    would smear the frame's edge into streaks the network could learn)."""
    return cv2.warpAffine(image, affine, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def scale_colours(rgb: np.ndarray, factors) -> np.ndarray:
    """uint8 RGB with each channel multiplied by its factor and clipped to 255, through a lookup
    table (3x faster than float arithmetic; rounding to the uint8 grid the image already has)."""
    table = np.clip(np.arange(256, dtype=np.float32)[:, None] * np.asarray(factors, np.float32) + 0.5, 0, 255)
    return cv2.LUT(rgb, table.astype(np.uint8)[:, None, :])


def warp_labels(labels: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Nearest neighbour (a class or a depth is never blended); outside the frame is 0 (background)."""
    return cv2.warpAffine(labels, affine, (size, size), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_flow(flow: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Flow H x W x 2 (frame pixels) -> size x size x 2 in crop pixels: sampled bilinearly (an
    input channel, smooth like the image) and each vector turned and scaled by the affine."""
    sampled = cv2.warpAffine(flow, affine, (size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.transform(sampled, affine[:, :2])  # v -> L v per pixel; 12x faster than numpy's matmul here

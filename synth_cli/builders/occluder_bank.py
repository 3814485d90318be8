"""Occluder banks: SLIC superpixels (scikit-image) of images, cut out as RGBA patches
(Doersch & Zisserman's occluders; :mod:`synth_core.occluders` uses them).

The free bank is cut from the free background pool: a few views of each image at 320 x 240
(:func:`synth_core.backgrounds.load_background` with seeded view specs), SLIC with
``SEGMENTS`` segments, keeping segments of 0.5-8% of the view that are one connected blob.
Everything is seeded: ``synth occluders build`` rebuilds the committed bank bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth_core.occluders import OccluderBank, OccluderError

VIEW_SIZE = (240, 320)  # height, width
VIEWS_PER_IMAGE = 3
SEGMENTS = 40
COMPACTNESS = 10.0
AREA_RANGE = (0.005, 0.08)  # of the view
MAX_PATCH_SIDE = 96
PER_VIEW = 6


def superpixel_patches(srgb: np.ndarray, rng: np.random.Generator, per_view: int = PER_VIEW) -> list[np.ndarray]:
    """RGBA patches (alpha 255 on the segment) of up to ``per_view`` SLIC segments of ``srgb``
    (H x W x 3 uint8), drawn by ``rng`` among those of a usable size that are one blob."""
    from scipy import ndimage
    from skimage.segmentation import slic

    labels = slic(srgb, n_segments=SEGMENTS, compactness=COMPACTNESS, start_label=1)
    area = srgb.shape[0] * srgb.shape[1]
    usable = []
    for label in range(1, labels.max() + 1):
        mask = labels == label
        if not AREA_RANGE[0] * area <= mask.sum() <= AREA_RANGE[1] * area:
            continue
        if ndimage.label(mask)[1] != 1:
            continue
        usable.append(label)
    chosen = rng.permutation(usable)[:per_view]
    patches = []
    for label in sorted(int(c) for c in chosen):
        mask = labels == label
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        patch = np.concatenate([srgb[box], np.where(mask[box], 255, 0).astype(np.uint8)[..., None]], axis=2)
        patches.append(_one_blob(_shrink(patch)))
    return patches


def _one_blob(patch: np.ndarray) -> np.ndarray:
    """The patch with only the largest connected piece of its mask (shrinking can cut a thin
    neck), cropped to it."""
    from scipy import ndimage

    pieces, count = ndimage.label(patch[..., 3] > 0)
    largest = 1 + int(np.argmax(np.bincount(pieces.ravel())[1:]))
    keep = pieces == largest
    rows, cols = np.flatnonzero(keep.any(1)), np.flatnonzero(keep.any(0))
    patch = patch.copy()
    patch[..., 3] = np.where(keep, 255, 0)
    return np.ascontiguousarray(patch[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])


def _shrink(patch: np.ndarray) -> np.ndarray:
    """Nearest-texel downscale so the longer side is at most MAX_PATCH_SIDE."""
    side = max(patch.shape[:2])
    if side <= MAX_PATCH_SIDE:
        return patch
    step = side / MAX_PATCH_SIDE
    rows = (np.arange(int(patch.shape[0] / step)) * step).astype(int)
    cols = (np.arange(int(patch.shape[1] / step)) * step).astype(int)
    return np.ascontiguousarray(patch[rows][:, cols])


def build_bank(images: list[Path] | None = None, seed: int = 0) -> OccluderBank:
    """The free bank (``images`` None: the background pool's images, seeded views), or a bank
    of the user's ``images`` (each whole, resized to 320 x 240)."""
    from synth_core.backgrounds import background_pool, load_background, sample_background_spec
    from synth_core.imaging import linear_to_srgb_uint8, read_image

    rng = np.random.default_rng(seed)
    patches, sources = [], []
    if images is None:
        for background in background_pool():
            for view in range(VIEWS_PER_IMAGE):
                spec = sample_background_spec(np.random.default_rng([seed, view, len(sources)]), [background])
                srgb = linear_to_srgb_uint8(load_background(spec, *VIEW_SIZE))
                for patch in superpixel_patches(srgb, rng):
                    patches.append(patch)
                    sources.append(f"{background}#view{view}")
    else:
        from PIL import Image

        for path in images:
            image = linear_to_srgb_uint8(np.clip(read_image(path), 0.0, 1.0))  # read_image: linear float
            srgb = np.asarray(Image.fromarray(image).resize(VIEW_SIZE[::-1], Image.BILINEAR))
            for patch in superpixel_patches(srgb, rng):
                patches.append(patch)
                sources.append(str(path))
    if not patches:
        raise OccluderError("no usable superpixel in the images (none of 0.5-8% of the image in one piece)")
    return OccluderBank(patches, sources)

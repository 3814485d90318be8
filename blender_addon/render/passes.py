"""Cycles' and Eevee's render passes -> the dataset's label conventions (numpy only, no bpy).

Measured on Blender 5.0 (DESIGN.md): the multilayer EXR is multi-part, one part per pass,
rows top to bottom; the Material Index pass is ``Material.pass_index``; the Depth pass is
camera z (planar) with background at 1e10 (Eevee: the camera's clip end). The rest are AOVs
written by the body's materials (:mod:`blender_addon.scene.materials`; AOVs are empty under
OSL, so labels are rendered with SVM): ``TrueNormal``, the geometric normal of the visible
triangle in world space; ``Position``, the visible point in world space; ``MotionPrev`` /
``MotionNext``, that point's world displacement to the previous / next frame. Optical flow is
the projection of the moved point by the other frame's camera minus the point's by this frame's.
Eevee has no Material Index: its part labels come from the ``PartIndex`` value AOV.

The worker renders only the body's box of each frame (:func:`body_box`): the labels are
converted there and :func:`paste` puts them in the full frame. A grounded scene's RGB is the
whole frame (its ground plane's shadow reaches past the box), despeckled by
:func:`despeckle_shadow`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth_core.errors import RenderError
from synth_core.scene import camera as cam

LAYER = "ViewLayer"
BACKGROUND_DEPTH = 1e9  # Cycles writes 1e10 where no surface was hit
SEGMENTATION_CHANNELS = ("Material Index.X", "PartIndex.X")  # Cycles, Eevee (an AOV)
COMBINED_CHANNELS = ("Combined", "RGBA")  # a multilayer EXR, a plain RGBA one
# How far the box reaches beyond the projected vertices: the RGB pixel filter (1.5 px wide)
# gives no colour to a pixel whose centre is more than 0.75 px from the body.
BOX_MARGIN_PX = 3
# Grounded scenes (:func:`despeckle_shadow`): pixels farther than SHADOW_BODY_REACH_PX from
# the body's sampled pixels hold the ground's shadow alone. Where a Gaussian average of that
# shadow (SHADOW_SIGMA_PX wide) is under SHADOW_KEEP_ALPHA, isolated specks give way to it.
SHADOW_BODY_REACH_PX = 2
SHADOW_SIGMA_PX = 1.5
SHADOW_KEEP_ALPHA = 0.05

Box = tuple[int, int, int, int]  # x0, x1, y0, y1: pixel columns x0..x1-1, rows y0..y1-1 (top down)


def body_box(uv: np.ndarray, z: np.ndarray, height: int, width: int, margin: int = BOX_MARGIN_PX) -> Box:
    """The pixels that can show the body: its projected vertices (uv N x 2, camera z N) and
    ``margin`` pixels around them, clipped to the image. The whole image when a vertex is at or
    behind the camera (its projection means nothing); pixel (0, 0) alone when no vertex is in view."""
    if not np.all(z > 0):
        return 0, width, 0, height
    x0 = max(int(np.floor(uv[:, 0].min())) - margin, 0)
    x1 = min(int(np.ceil(uv[:, 0].max())) + margin + 1, width)
    y0 = max(int(np.floor(uv[:, 1].min())) - margin, 0)
    y1 = min(int(np.ceil(uv[:, 1].max())) + margin + 1, height)
    if x1 <= x0 or y1 <= y0:
        return 0, 1, 0, 1
    return x0, x1, y0, y1


def paste(arrays: dict[str, np.ndarray], box: Box, height: int, width: int) -> dict[str, np.ndarray]:
    """Each array of the box's size in a full frame of zeros."""
    x0, x1, y0, y1 = box
    full = {}
    for name, array in arrays.items():
        full[name] = np.zeros((height, width) + array.shape[2:], array.dtype)
        full[name][y0:y1, x0:x1] = array
    return full


def read_multilayer_exr(path: Path) -> dict[str, np.ndarray]:
    """Every channel of a Blender multilayer EXR as ``{"Depth.Z": H x W, "Combined": H x W x 4, ...}``
    (of a plain RGBA EXR: ``{"RGBA": H x W x 4}``)."""
    import OpenEXR

    try:
        parts = OpenEXR.File(str(path)).parts
    except Exception as exc:  # OpenEXR raises bare RuntimeErrors
        raise RenderError(f"cannot read render output {path}: {exc}") from exc
    channels = {}
    for part in parts:
        for name, channel in part.channels.items():
            channels[name.removeprefix(f"{LAYER}.")] = np.asarray(channel.pixels)
    return channels


def _channel(channels: dict, name: str, path_hint: str = "") -> np.ndarray:
    if name not in channels:
        raise RenderError(f"render output lacks the {name!r} channel {path_hint}(has {sorted(channels)})")
    return channels[name]


def labels_from_channels(channels: dict, cameras: dict) -> dict[str, np.ndarray]:
    """Depth, parts, flows and camera-space normals from a point-sampled label render.

    cameras: {"here", "next", "previous"}: (K 3 x 3, Rt 3 x 4 world -> camera, OpenCV axes) of
    this frame and its neighbours (the same for a static camera); a point's flow is where the
    next (previous) frame's camera sees it moved, minus where this frame's sees it. Arrays have
    the render's size; everything is 0 on the background.
    """
    k, rt = cameras["here"]
    depth = _channel(channels, "Depth.Z").astype(np.float32)
    name = next((n for n in SEGMENTATION_CHANNELS if n in channels), SEGMENTATION_CHANNELS[0])
    segmentation = np.rint(_channel(channels, name)).astype(np.uint8)
    body = (depth < BACKGROUND_DEPTH) & (segmentation > 0)
    depth[~body] = 0.0
    segmentation[~body] = 0
    labels = {"depth": depth, "segmentation": segmentation}

    normals = np.zeros(depth.shape + (3,), np.float32)
    normal_camera = _channel(channels, "TrueNormal")[body, :3].astype(np.float64) @ rt[:, :3].T
    normals[body] = normal_camera / np.maximum(np.linalg.norm(normal_camera, axis=-1, keepdims=True), 1e-12)
    labels["normals"] = normals

    position = _channel(channels, "Position")[body, :3].astype(np.float64)
    here, _ = cam.project(k, rt, position)
    for flow_name, motion_name, other in (("flow_forward", "MotionNext", "next"),
                                          ("flow_backward", "MotionPrev", "previous")):
        moved, _ = cam.project(*cameras[other], position + _channel(channels, motion_name)[body, :3])
        flow = np.zeros(depth.shape + (2,), np.float32)
        flow[body] = moved - here
        labels[flow_name] = flow
    return labels


def premultiplied_rgba(channels: dict) -> tuple[np.ndarray, np.ndarray]:
    """(linear premultiplied RGB H x W x 3, alpha H x W) of the Combined pass."""
    combined = _channel(channels, next((n for n in COMBINED_CHANNELS if n in channels), COMBINED_CHANNELS[0]))
    return combined[..., :3].astype(np.float32), combined[..., 3].astype(np.float32)


def despeckle_shadow(alpha: np.ndarray, segmentation: np.ndarray) -> np.ndarray:
    """A grounded scene's alpha with the isolated specks of its ground's shadow removed.

    Off the body, Cycles' shadow catcher writes the shadow's opacity into alpha: exactly 0 where
    no sample was occluded. Metres from the feet the sky's occlusion is a percent or less, which
    a few samples turn into rare isolated specks (one occluded sample in 16 darkens a pixel by
    a few levels) all over the ground. Each shadow-only pixel (farther than
    ``SHADOW_BODY_REACH_PX`` from any pixel whose ``segmentation``, the RGB render's Material
    Index, is a part) is blended from its own value, kept where the Gaussian average of the
    shadow around it reaches ``SHADOW_KEEP_ALPHA`` (cast shadows stay sharp), towards that
    average where it is fainter. The body and its antialiased edge keep Cycles' values."""
    shadow_only = ~dilate_cross(segmentation > 0, SHADOW_BODY_REACH_PX)
    weight = gaussian_blur(shadow_only.astype(np.float32), SHADOW_SIGMA_PX)
    total = gaussian_blur(np.where(shadow_only, alpha, 0.0).astype(np.float32), SHADOW_SIGMA_PX)
    average = total / np.maximum(weight, 1e-6)
    keep = np.clip(average / SHADOW_KEEP_ALPHA, 0.0, 1.0)
    return np.where(shadow_only, keep * alpha + (1.0 - keep) * average, alpha).astype(np.float32)


# numpy only: Blender's Python has numpy but not scipy, and the add-on renders grounded scenes too.
# Both equal scipy.ndimage's defaults (tests/test_addon_package.py compares them).


def dilate_cross(mask: np.ndarray, iterations: int) -> np.ndarray:
    """``scipy.ndimage.binary_dilation(mask, iterations=n)`` with its default cross: the pixels
    within ``n`` 4-connected steps of a True pixel (nothing comes in from outside the image)."""
    grown = mask.astype(bool, copy=True)
    for _ in range(iterations):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    return grown


def gaussian_blur(image: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, sigma)`` of a 2-D float32 image: a separable
    kernel of radius ``int(truncate * sigma + 0.5)``, edges mirrored (scipy's ``reflect``,
    numpy's ``symmetric``), one axis after the other, each rounded back to float32."""
    radius = int(truncate * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    result = np.asarray(image, dtype=np.float32)
    for axis in range(2):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(result.astype(np.float64), pad, mode="symmetric")
        length = result.shape[axis]
        blurred = sum(weight * np.take(padded, np.arange(index, index + length), axis=axis)
                      for index, weight in enumerate(kernel))
        result = blurred.astype(np.float32)
    return result

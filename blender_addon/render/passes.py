"""Cycles' and Eevee's render passes -> the dataset's label conventions (numpy only, no bpy).

Measured on Blender 5.0 (DESIGN.md): the multilayer EXR is multi-part, one part per pass,
rows top to bottom; the Vector pass holds previous - current in XY and current - next in
ZW with +y up; the Normal pass is world space; the Material Index pass is
``Material.pass_index``; the Depth pass is camera z (planar) with background at 1e10. The
normals come from the ``TrueNormal`` AOV (geometric normal of the visible triangle, world
space; AOVs are empty under OSL, so labels are rendered with SVM). Eevee writes the same
Depth, Vector and AOV channels (background depth = the camera's clip end) but no Material
Index: its part labels come from the ``PartIndex`` value AOV.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth_core.errors import RenderError

LAYER = "ViewLayer"
BACKGROUND_DEPTH = 1e9  # Cycles writes 1e10 where no surface was hit
SEGMENTATION_CHANNELS = ("Material Index.X", "PartIndex.X")  # Cycles, Eevee (an AOV)


def read_multilayer_exr(path: Path) -> dict[str, np.ndarray]:
    """Every channel of a Blender multilayer EXR as ``{"Depth.Z": H x W, "Combined": H x W x 4, ...}``."""
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


def labels_from_channels(channels: dict, world_to_camera: np.ndarray) -> dict[str, np.ndarray]:
    """Depth, parts, flows and camera-space normals from a point-sampled label render.

    world_to_camera: 3 x 3 rotation, OpenCV axes.
    """
    depth = _channel(channels, "Depth.Z").astype(np.float32)
    name = next((n for n in SEGMENTATION_CHANNELS if n in channels), SEGMENTATION_CHANNELS[0])
    segmentation = np.rint(_channel(channels, name)).astype(np.uint8)
    background = (depth >= BACKGROUND_DEPTH) | (segmentation == 0)
    depth = np.where(background, 0.0, depth).astype(np.float32)
    segmentation[background] = 0

    vx, vy, vz, vw = (_channel(channels, f"Vector.{c}") for c in "XYZW")
    flow_forward = np.stack([-vz, vw], axis=-1).astype(np.float32)
    flow_backward = np.stack([vx, -vy], axis=-1).astype(np.float32)

    normal_world = _channel(channels, "TrueNormal")[..., :3].astype(np.float64)
    normal_camera = normal_world @ world_to_camera.T
    length = np.linalg.norm(normal_camera, axis=-1, keepdims=True)
    normal_camera = np.where(length > 0, normal_camera / np.maximum(length, 1e-12), 0.0)
    normal_camera[background] = 0.0
    for flow in (flow_forward, flow_backward):
        flow[background] = 0.0
    return {"depth": depth, "segmentation": segmentation, "flow_forward": flow_forward,
            "flow_backward": flow_backward, "normals": normal_camera.astype(np.float32)}


def premultiplied_rgba(channels: dict) -> tuple[np.ndarray, np.ndarray]:
    """(linear premultiplied RGB H x W x 3, alpha H x W) of the Combined pass."""
    combined = _channel(channels, "Combined")
    return combined[..., :3].astype(np.float32), combined[..., 3].astype(np.float32)

"""Viewport-only preview of a plan's background: the plate the worker composites the RGB pass
over (:func:`synth_core.backgrounds.load_background` at the plan's resolution, in sRGB as the
RGB pass stores it), shown as the scene camera's background image.

The background is no part of the Blender scene (the body renders over a transparent film and
is composited after rendering), so the preview is a camera background image: Blender draws it
behind the camera view in the viewport (solid, material preview and, with a transparent film,
rendered) and never renders it. Nothing here changes a rendered pixel.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import bpy

PREVIEW_IMAGE = "Synth Background"
PLATE_KEY = "synth_plate"  # the image's custom property: which plate it holds


def plate_key(plan) -> str:
    """What the plate depends on: the background spec and the resolution."""
    text = json.dumps([plan.background, plan.render["width"], plan.render["height"]], sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def show_background(scene, plan, folder: Path) -> None:
    """Show ``plan``'s background plate behind ``scene.camera``'s view; the plate is written as a
    PNG into ``folder`` and loaded once per background spec and resolution (BackgroundError on
    an image that cannot be loaded)."""
    image = bpy.data.images.get(PREVIEW_IMAGE)
    key = plate_key(plan)
    if image is None or image.get(PLATE_KEY) != key:
        path = _write_plate(plan, Path(folder) / f"background-{key}.png")
        if image is None:
            image = bpy.data.images.load(str(path))
            image.name = PREVIEW_IMAGE
        else:
            image.filepath = str(path)
            image.reload()
        image[PLATE_KEY] = key
    camera = scene.camera.data
    entry = camera.background_images[0] if len(camera.background_images) else camera.background_images.new()
    entry.image, entry.alpha, entry.display_depth, entry.frame_method = image, 1.0, "BACK", "STRETCH"
    entry.show_background_image = True
    camera.show_background_images = True


def _write_plate(plan, path: Path) -> Path:
    from PIL import Image

    from synth_core.backgrounds import load_background
    from synth_core.imaging import linear_to_srgb_uint8

    if not path.is_file():  # written once per spec and resolution
        plate = load_background(plan.background, plan.render["height"], plan.render["width"])
        Image.fromarray(linear_to_srgb_uint8(plate)).save(path)
    return path

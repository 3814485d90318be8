"""Images the add-on shows an artist, outside any clip (the Ground truth panel's passes side by
side): a uint8 RGB array as an image in ``bpy.data.images``."""

import bpy
import numpy as np


def store_image(name: str, rgb: np.ndarray):
    """``rgb`` (H x W x 3 uint8, row 0 on top) as the image ``name``: the existing one of that
    name (an Image Editor showing it keeps showing it), resized to fit, or a new one."""
    height, width = rgb.shape[:2]
    image = bpy.data.images.get(name)
    if image is None or image.source != "GENERATED":
        image = bpy.data.images.new(name, width, height, alpha=False)
    elif tuple(image.size) != (width, height):
        image.scale(width, height)
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[..., :3] = rgb[::-1] / np.float32(255)  # Blender's rows start at the bottom
    image.pixels.foreach_set(rgba.ravel())
    image.update()
    return image


"""Which device Cycles renders on: the CPU, or a GPU through CUDA, OptiX, HIP, Metal or oneAPI.

    python -m blender_addon.render.devices cuda    # exit 0 and the devices, or 1 and why not
    python -m blender_addon.render.devices eevee   # can Eevee render here (OpenGL, e.g. Mesa)?

Only OptiX runs OSL on a GPU; with the other GPU back-ends the SH lighting must use the node
group (``--shading nodes``). Labels are rendered with SVM on every device.
"""

from __future__ import annotations

import sys

from synth_core.errors import RenderError
from synth_core.scene.plan import RENDER_DEVICES as DEVICES


def enable_device(scene, device: str) -> list[str]:
    """Make ``scene`` render on ``device``; returns the names of the devices in use.
    Raises RenderError naming what is missing (back-end not in this Blender, or no device)."""
    import bpy

    if device not in DEVICES:
        raise RenderError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cpu":
        scene.cycles.device = "CPU"
        return ["CPU"]
    preferences = bpy.context.preferences.addons["cycles"].preferences
    backend = device.upper()
    offered = [item[0] for item in preferences.get_device_types(bpy.context) if item[0] != "NONE"]
    if backend not in offered:
        raise RenderError(f"--device {device}: this Blender build cannot use {backend} "
                          f"(it offers {', '.join(offered) or 'no GPU back-end'})")
    preferences.compute_device_type = backend
    preferences.refresh_devices()
    gpus = [d for d in preferences.devices if d.type == backend]
    if not gpus:
        seen = ", ".join(f"{d.name} ({d.type})" for d in preferences.devices) or "none"
        raise RenderError(f"--device {device}: Blender finds no {backend} device on this machine "
                          f"(is its driver installed? devices seen: {seen})")
    for candidate in preferences.devices:
        candidate.use = candidate.type == backend
    scene.cycles.device = "GPU"
    return [d.name for d in gpus]


def eevee_renderer() -> str:
    """Render an empty 8 x 8 frame with Eevee; returns the OpenGL renderer it ran on. Without a
    usable OpenGL (no GPU driver, no Mesa) Blender aborts the process: call it in a child."""
    import bpy
    import gpu

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    from blender_addon.scene import ENGINE_IDS

    scene.render.engine = ENGINE_IDS["eevee"]
    scene.render.resolution_x = scene.render.resolution_y = 8
    scene.eevee.taa_render_samples = 1
    scene.camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(scene.camera)
    bpy.ops.render.render()
    return f"Eevee on {gpu.platform.renderer_get()} ({gpu.platform.version_get()})"


def main(argv=None) -> int:
    if argv is None:  # inside a Blender binary (blender -b --python devices.py -- cuda) ours follow "--"
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    import bpy

    if argv and argv[0] == "eevee":
        print(eevee_renderer())
        return 0
    try:
        names = enable_device(bpy.context.scene, argv[0] if argv else "cpu")
    except RenderError as exc:
        print(exc)
        return 1
    print(", ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())

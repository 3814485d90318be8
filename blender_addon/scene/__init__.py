"""Plan -> bpy scene: the one place that turns a :class:`~synth_core.scene.plan.ScenePlan`
into Blender objects (body mesh, materials, camera, world, render settings; a grounded scene's
ground plane, sun and sky: :mod:`.ground`).

Nothing here draws random numbers: every choice is in the plan. The scene has no animation
data: the worker poses the body frame by frame with :func:`~.body.set_posed_vertices`. A worker
rendering many clips builds the scene once and turns it into each next clip's in place
(:func:`scene_for`: texture, lighting, camera, ground, render settings), as a fresh build would
make it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
from mathutils import Matrix

from synth_core.scene import camera as cam
from synth_core.scene.clip import ClipGeometry, body_model_of

from .body import build_posed_mesh, set_posed_vertices
from .ground import build_ground, update_ground
from .materials import (MOTION_AOVS, PART_INDEX_AOV, POSITION_AOV, TRUE_NORMAL_AOV, body_image,
                        build_part_materials, set_sh)

# Labels (depth, parts, normals, flow) are point-sampled at pixel centres: one sample, a
# 0.01-pixel box filter. RGB is rendered separately with the plan's samples and Cycles'
# default 1.5-pixel Blackman-Harris filter.
LABEL_FILTER_WIDTH = 0.01
RGB_FILTER_WIDTH = 1.5
# Blender's identifiers of the plan's engines (Blender 4.2-4.5 call Eevee "EEVEE Next").
ENGINE_IDS = {"cycles": "CYCLES",
              "eevee": "BLENDER_EEVEE" if bpy.app.version >= (5, 0, 0) else "BLENDER_EEVEE_NEXT"}
BODY_NAME = "Body"


@dataclass
class BuiltScene:
    scene: object
    mesh: object
    camera: object
    materials: list
    layout: tuple = ()  # what no clip changes in place (:func:`scene_layout`)


def scene_layout(plan) -> tuple:
    """What a scene is built of that another clip cannot change in place: the body model (the
    mesh's topology, UVs and parts; models are loaded once per process), the SH shading (OSL
    or node group), the engine (its passes) and the scene kind (a ground plane or not)."""
    r = plan.render
    return body_model_of(plan), r["shading"], r.get("engine", "cycles"), r.get("scene", "composite")


def scene_for(plan, geometry: ClipGeometry, texture_path: Path, previous: BuiltScene | None = None) -> BuiltScene:
    """The plan's scene: ``previous`` turned into it in place when its layout fits, else a
    fresh build."""
    layout = scene_layout(plan)
    if previous is not None and len(previous.layout) == len(layout) and all(
            a is b or a == b for a, b in zip(previous.layout, layout)):
        update_scene(previous, plan, geometry, texture_path)
        return previous
    return build_scene(plan, geometry, texture_path)


def built_scene_in(scene, plan) -> BuiltScene | None:
    """The scene :func:`build_scene` made for ``plan`` (for a later edit of the plan to update
    in place through :func:`scene_for`), or None when ``scene`` holds no built body."""
    mesh = bpy.data.objects.get(BODY_NAME)
    if mesh is None or scene.camera is None or mesh.name not in scene.objects:
        return None
    return BuiltScene(scene, mesh, scene.camera, list(mesh.data.materials), scene_layout(plan))


def build_scene(plan, geometry: ClipGeometry, texture_path: Path) -> BuiltScene:
    """Build the plan's clip in a fresh, empty Blender scene."""
    # The factory start-up file without reading factory preferences: those would disable every
    # add-on, this one too when an artist builds a scene from its panels.
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    mesh = build_posed_mesh(body_model_of(plan), geometry, BODY_NAME)
    materials = build_part_materials(mesh, texture_path, plan.lighting["sh"], plan.render["shading"])
    camera = _build_camera(plan)
    scene.camera = camera
    _configure_world(scene)
    if plan.render.get("scene", "composite") == "grounded":
        build_ground(scene, plan, geometry)
    configure_render(scene, plan)
    return BuiltScene(scene, mesh, camera, materials, scene_layout(plan))


def update_scene(built: BuiltScene, plan, geometry: ClipGeometry, texture_path: Path) -> None:
    """Make a scene built for another clip of the same layout this plan's, as :func:`build_scene`
    would: the body's pose (its shape comes with the posed vertices), texture, SH lighting,
    camera, ground (grounded scenes) and render settings. The new texture is read from its file, as at a build."""
    set_posed_vertices(built.mesh, geometry.vertices_world, geometry.rendered.start)
    image = body_image(built.materials[0])
    image.filepath = str(texture_path)
    image.reload()
    for material in {m.name: m for m in built.materials}.values():  # part materials are few, shared
        set_sh(material, plan.lighting["sh"])
    _place_camera(built.camera, plan)
    if plan.render.get("scene", "composite") == "grounded":
        update_ground(built.scene, plan, geometry)
    configure_render_settings(built.scene, plan)


def _build_camera(plan):
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    bpy.context.scene.collection.objects.link(camera)
    _place_camera(camera, plan)
    return camera


def _place_camera(camera, plan) -> None:
    place_camera(camera, plan, plan.extrinsics, plan.camera["lens_mm"])


def place_camera(camera, plan, rt, lens_mm: float) -> None:
    """The Blender camera as the OpenCV camera ``rt`` with focal length ``lens_mm`` (a moving
    camera's frame: ``lens_mm`` = K[0, 0] * sensor width / image width)."""
    data = camera.data
    data.lens = float(lens_mm)
    data.sensor_width = plan.camera["sensor_width_mm"]
    data.sensor_fit = "HORIZONTAL"
    data.clip_start, data.clip_end = 0.05, 1000.0
    camera.matrix_world = Matrix(cam.blender_camera_matrix(rt).tolist())


def _configure_world(scene) -> None:
    # The body is emission-only (SH lighting in its shader); the background is composited
    # later from the alpha of a transparent film, so the world contributes nothing (a grounded
    # scene's sky lights its ground plane: :mod:`.ground`).
    world = bpy.data.worlds.new("World")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.0
    scene.world = world


def configure_render(scene, plan) -> None:
    """Render settings and the passes of a new scene."""
    engine = plan.render.get("engine", "cycles")
    layer = scene.view_layers[0]
    layer.use_pass_z = True
    layer.use_pass_vector = False  # flow comes from the motion AOVs: nothing is animated
    layer.use_pass_material_index = engine == "cycles"
    for name in (TRUE_NORMAL_AOV, POSITION_AOV) + MOTION_AOVS:
        aov = layer.aovs.add()
        aov.name, aov.type = name, "COLOR"
    if engine == "eevee":  # no index passes in Eevee: the part label is a value AOV
        aov = layer.aovs.add()
        aov.name, aov.type = PART_INDEX_AOV, "VALUE"
    configure_render_settings(scene, plan)


def configure_render_settings(scene, plan) -> None:
    """Everything about rendering that a plan sets, but the passes."""
    render, cycles = scene.render, scene.cycles
    engine = plan.render.get("engine", "cycles")
    render.engine = ENGINE_IDS[engine]
    if engine == "eevee":
        _configure_eevee(scene.eevee)
    cycles.device = "CPU"
    cycles.use_denoising = False
    cycles.use_adaptive_sampling = False
    cycles.seed = plan.seed % (2**31)
    cycles.use_animated_seed = False
    cycles.max_bounces = 0
    cycles.caustics_reflective = cycles.caustics_refractive = False
    render.use_motion_blur = False
    render.film_transparent = True
    render.resolution_x, render.resolution_y = plan.render["width"], plan.render["height"]
    render.resolution_percentage = 100
    render.pixel_aspect_x = render.pixel_aspect_y = 1.0
    render.use_persistent_data = bool(plan.render["persistent_data"])
    render.use_border = False
    # The timeline spans the clip's frames 0..T-1 (the artist's scrubbing; renders pose the body).
    scene.frame_start, scene.frame_end = 0, int(plan.motion["n_frames"]) - 1
    set_output_format(scene, "labels")
    scene.view_settings.view_transform = "Standard"
    set_sampling(scene, "rgb", plan)


def set_output_format(scene, kind: str) -> None:
    """How a render is saved: labels as a multilayer EXR (every pass and AOV), RGB as a plain
    RGBA EXR (the Combined pass alone: a sixth of the bytes to write). 32-bit floats (half
    floats would quantise depth to ~4 mm at 8 m), uncompressed (the file lives a moment)."""
    settings = scene.render.image_settings
    has_media_type = hasattr(settings, "media_type")  # new in Blender 5.0, set before the format
    if kind == "labels":
        if has_media_type:
            settings.media_type = "MULTI_LAYER_IMAGE"
        settings.file_format = "OPEN_EXR_MULTILAYER"
    else:
        if has_media_type:
            settings.media_type = "IMAGE"
        settings.file_format = "OPEN_EXR"
        settings.color_mode = "RGBA"
    settings.color_depth = "32"
    settings.exr_codec = "NONE"


def set_render_box(scene, box, height: int, width: int) -> None:
    """Render only pixel columns x0..x1-1 and rows y0..y1-1 (top down) of the frame, into an
    image of the box's size; the pixels are those of the full render. Blender turns the border
    fractions into whole pixels; a quarter pixel inward keeps float rounding off the edges."""
    x0, x1, y0, y1 = box
    render = scene.render
    render.use_border = render.use_crop_to_border = tuple(box) != (0, width, 0, height)
    render.border_min_x, render.border_max_x = (x0 + 0.25) / width, min((x1 + 0.25) / width, 1.0)
    render.border_min_y = (height - y1 + 0.25) / height  # Blender's rows go bottom up
    render.border_max_y = min((height - y0 + 0.25) / height, 1.0)


def _configure_eevee(eevee) -> None:
    # Emission only, lit by nothing else: no shadows, no ray tracing, no fast GI.
    eevee.use_shadows = False
    eevee.use_raytracing = False
    eevee.use_fast_gi = False


def set_sampling(scene, kind: str, plan) -> None:
    """``"labels"``: one point sample per pixel centre, SVM shading (OSL writes no AOVs);
    ``"rgb"``: the plan's samples, antialiased, with the plan's shading. Switching costs a
    shader recompile (~0.75 s), so the worker renders all RGB frames, then all labels.

    Eevee: with one sample it turns its pixel filter off and does not jitter, so every pass
    (the AOVs too) is the rasterized surface at the pixel centre."""
    if plan.render.get("engine", "cycles") == "eevee":
        scene.eevee.taa_render_samples = 1 if kind == "labels" else plan.render["samples"]
        scene.render.filter_size = LABEL_FILTER_WIDTH if kind == "labels" else RGB_FILTER_WIDTH
        return
    scene.cycles.shading_system = kind == "rgb" and plan.render["shading"] == "osl"
    scene.cycles.samples = 1 if kind == "labels" else plan.render["samples"]
    scene.cycles.pixel_filter_type = "BOX" if kind == "labels" else "BLACKMAN_HARRIS"
    scene.cycles.filter_width = LABEL_FILTER_WIDTH if kind == "labels" else RGB_FILTER_WIDTH

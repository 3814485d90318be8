"""Grounded scenes (``render.scene == "grounded"``): a shadow-catcher ground plane under the
feet, lit by a sun and an ambient sky derived from the plan's SH coefficients.

The body stays emission-only and SH-shaded exactly as in the composite scene; the new objects
only add the shadow it casts (an emission-only surface blocks shadow rays like any other).
Cycles' shadow catcher with a transparent film writes that shadow into the Combined pass's
alpha (its colour stays 0), so the worker composites the RGB render over the background as
before, now over the whole frame, since the shadow reaches past the body's box, and removes
the shadow's isolated Monte Carlo specks
(:func:`~blender_addon.render.passes.despeckle_shadow`). Label renders hide the plane (its pass
index 0 would mask it anyway), so every label equals the composite scene's.

**The ground** is a horizontal square at the height of the lowest body vertex over the
clip's rendered frames: the feet touch it in the frame(s) where they are lowest. A clip with a
jump (or motion whose feet are not planted at one height) floats above it in the other
frames, and its shadow detaches from the feet as a real jump's would.

**The light** (:func:`sun_from_sh`). SURREAL's nine SH coefficients describe irradiance
``E(n)`` up to order 2. A distant light of irradiance ``I`` from direction ``d`` projects onto
orders 0 and 1 as ``I/4 + (I/2) d.n``; a uniform sky of radiance ``La`` as ``pi La``. Matching
the SH polynomial's order-0 term ``C4 L00`` and order-1 term ``2 C2 (L11, L1-1, L10).n`` (world
x, y, z; see :mod:`synth_core.scene.lighting`) gives ``d = L1 / |L1|``, ``I = 4 C2 |L1|`` and
``pi La = C4 L00 - C2 |L1|``: a sun lamp along the SH's dominant direction and an ambient world
of the remaining order-0 light. The order-2 band (the light's shape) is not used. Where the
SH's ambient part is (nearly) negative, it is held at ``AMBIENT_FLOOR`` of the sun so shadows
are never pitch black. A dominant direction below the horizon lights the body from below but
cannot light the ground: the sun is off and only the sky's contact shadow remains. Order 2
cannot tell a sharp sun from a broad one; the sun's angular size grows with the ambient share
of the light (a heuristic: skies that light mostly diffusely, like overcast ones, cast soft
shadows), from ``SUN_ANGLE_MIN_DEG`` to ``SUN_ANGLE_MAX_DEG``. The sky darkens the ground
under and around the feet (contact occlusion) even without a sun. Where the sun is fully
blocked, a horizontal ground keeps ``pi La / (I sin(e) + pi La)`` of its light (``e`` the sun's
elevation): low suns cast long, faint shadows. SURREAL's sampler puts the dominant direction
above the horizon in about half of the clips (488 of seeds 0-999).

Measured on Blender 5.0 (Cycles, CPU): see :func:`build_ground`.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np
from mathutils import Vector

from synth_core.errors import PlanError
from synth_core.scene.clip import ClipGeometry
from synth_core.scene.lighting import C2, C4

GROUND_NAME = "Ground"
SUN_NAME = "Sun"
# Half the side of the ground square, metres: shadows of a sun 1 degree above the horizon
# reach ~100 m from a standing body, and are then too faint to see.
GROUND_HALF_SIZE_M = 100.0
AMBIENT_FLOOR = 0.25  # pi La >= this x I: a fully shadowed horizontal ground keeps >= 20% of its light
SUN_ANGLE_MIN_DEG = 0.5  # the sun seen from the earth
SUN_ANGLE_MAX_DEG = 8.0


@dataclass(frozen=True)
class GroundLight:
    """A sun (``direction`` towards the light, world Z up; ``strength`` its irradiance on a
    surface facing it, W/m^2 as Blender's sun strength; ``angle_deg`` its angular diameter) and
    a uniform sky of radiance ``ambient`` (Blender's world strength, white)."""

    direction: tuple[float, float, float]
    strength: float
    angle_deg: float
    ambient: float


def sun_from_sh(sh) -> GroundLight:
    """The sun and sky whose orders 0 and 1 equal those of SH coefficients ``sh`` (SURREAL's
    order L00, L1-1, L10, L11, ...); see the module docstring."""
    sh = np.asarray(sh, dtype=np.float64)
    l1 = np.array([sh[3], sh[1], sh[2]])  # the x, y, z coefficients: L11, L1-1, L10
    norm = float(np.linalg.norm(l1))
    direction = l1 / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
    strength = 4.0 * C2 * norm
    ambient_irradiance = max(C4 * sh[0] - C2 * norm, AMBIENT_FLOOR * strength)
    ambient_share = ambient_irradiance / max(ambient_irradiance + strength, 1e-12)
    angle = SUN_ANGLE_MIN_DEG + (SUN_ANGLE_MAX_DEG - SUN_ANGLE_MIN_DEG) * ambient_share
    if direction[2] <= 0.0:  # below the horizon: it lights the body, not the ground
        strength = 0.0
    return GroundLight(tuple(direction.tolist()), strength, angle, ambient_irradiance / np.pi)


def ground_height(geometry: ClipGeometry) -> float:
    """World z of the lowest body vertex over the clip's rendered frames."""
    return float(geometry.vertices_world[geometry.rendered, :, 2].min())


def ground_centre(geometry: ClipGeometry) -> tuple[float, float]:
    """World x, y under the body's mean position over the rendered frames."""
    mean = geometry.vertices_world[geometry.rendered].reshape(-1, 3).mean(axis=0)
    return float(mean[0]), float(mean[1])


def check_camera_above_ground(plan, geometry: ClipGeometry) -> None:
    """A ground seen from below would hide the body: refuse such a plan before rendering."""
    height, camera_z = ground_height(geometry), float(plan.camera["location"][2])
    if camera_z <= height:
        raise PlanError(f"scene 'grounded': the camera (z = {camera_z:.3f} m) is not above the ground "
                        f"under the feet (z = {height:.3f} m); raise the camera or use scene 'composite'")


def build_ground(scene, plan, geometry: ClipGeometry) -> None:
    """Add the ground plane (a shadow catcher), the sun and the sky light to ``scene``.

    Measured on Blender 5.0: with ``film_transparent`` the catcher's pixels have Combined
    colour 0 and alpha = the shadow's opacity (1 - lit fraction), so compositing the Combined
    pass over the background darkens it by the shadow; the emission-only body blocks shadow
    rays like any surface. (With the view layer's Shadow Catcher pass on, Combined is the
    matte instead, alpha 0 on the catcher, and that pass a noisy ratio of two independent
    estimates, above 1 in places: not used.) The plane has pass index 0 and is hidden from
    label renders (:func:`show_ground`)."""
    mesh = bpy.data.meshes.new(GROUND_NAME)
    s = GROUND_HALF_SIZE_M
    mesh.from_pydata([(-s, -s, 0.0), (s, -s, 0.0), (s, s, 0.0), (-s, s, 0.0)], [], [(0, 1, 2, 3)])
    plane = bpy.data.objects.new(GROUND_NAME, mesh)
    plane.is_shadow_catcher = True
    material = _diffuse_material(GROUND_NAME)
    mesh.materials.append(material)
    scene.collection.objects.link(plane)
    sun = bpy.data.objects.new(SUN_NAME, bpy.data.lights.new(SUN_NAME, "SUN"))
    scene.collection.objects.link(sun)
    update_ground(scene, plan, geometry)


def _diffuse_material(name: str):
    """White Lambertian: the catcher's shadow is then the ratio of irradiances the module
    docstring derives (no specular lobe)."""
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    nodes = material.node_tree.nodes
    nodes.clear()
    diffuse = nodes.new("ShaderNodeBsdfDiffuse")
    diffuse.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    output = nodes.new("ShaderNodeOutputMaterial")
    material.node_tree.links.new(diffuse.outputs["BSDF"], output.inputs["Surface"])
    material.pass_index = 0  # not a body part: the labels' background
    return material


def update_ground(scene, plan, geometry: ClipGeometry) -> None:
    """Put the ground under this clip's feet and light it with this plan's SH."""
    plane, sun = scene.objects[GROUND_NAME], scene.objects[SUN_NAME]
    x, y = ground_centre(geometry)
    plane.location = (x, y, ground_height(geometry))
    light = sun_from_sh(plan.lighting["sh"])
    sun.data.energy = light.strength
    sun.data.angle = np.radians(light.angle_deg)
    sun.rotation_mode = "QUATERNION"
    sun.rotation_quaternion = Vector(light.direction).to_track_quat("Z", "Y")  # it shines along -Z
    background = scene.world.node_tree.nodes["Background"]
    background.inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
    background.inputs["Strength"].default_value = light.ambient


def show_ground(scene, visible: bool) -> None:
    """Show the ground plane (RGB renders) or hide it (label renders: the shadow is no part of
    the person, and the labels stay those of the composite scene). No-op without a ground."""
    plane = scene.objects.get(GROUND_NAME)
    if plane is not None and plane.hide_render == visible:
        plane.hide_render = not visible

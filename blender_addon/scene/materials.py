"""Body materials: UV texture -> spherical-harmonics irradiance -> emission, one per part.

Two implementations of the same SH shading (see :mod:`synth_core.scene.lighting`):
``"osl"`` runs ``blender_addon/shaders/sh.osl`` (SURREAL's shader; Cycles on CPU only) and
``"nodes"`` builds the same polynomial from math nodes (GPU Cycles and Eevee). Part ``k``
(1..24) gets its own material with ``pass_index = k``, which Cycles writes to the Material
Index pass; Eevee has no index passes, so each material also writes ``k`` to the ``PartIndex``
value AOV. For optical flow every material writes the visible point's world position
(``Position``) and its motion to the previous and next frame (the mesh's ``MotionPrev`` /
``MotionNext`` attributes, see :mod:`blender_addon.scene.body`) to colour AOVs. Motion, not the
neighbouring positions, because Eevee stores AOVs as half floats: 11 bits of a few-centimetre
displacement are ~1e-5 m, of a position metres from the origin ~1e-3 m.
"""

from __future__ import annotations

from pathlib import Path

import bpy

from synth_core.body.parts import PART_NAMES

from .body import MOTION_ATTRIBUTES
from synth_core.scene.lighting import C1, C2, C3, C4, C5, SH_NAMES

SHADER_PATH = Path(__file__).resolve().parents[1] / "shaders" / "sh.osl"  # ships inside the add-on
GROUP_NAME = "SH Irradiance"
TRUE_NORMAL_AOV = "TrueNormal"
PART_INDEX_AOV = "PartIndex"
POSITION_AOV = "Position"
TEXTURE_NODE = "Texture"
MOTION_AOVS = MOTION_ATTRIBUTES  # each AOV carries the mesh attribute of the same name


def build_part_materials(mesh_obj, texture_path: Path, sh, shading: str) -> list:
    """Create the 24 part materials on ``mesh_obj`` (slot k-1 = part k)."""
    image = bpy.data.images.load(str(texture_path), check_existing=True)
    image.colorspace_settings.name = "sRGB"
    template = _body_material("Body", image, shading)
    materials = []
    for part, part_name in enumerate(PART_NAMES, start=1):
        material = template if part == 1 else template.copy()
        material.name = f"Body_{part:02d}_{part_name}"
        material.pass_index = part
        material.node_tree.nodes[PART_INDEX_AOV].inputs["Value"].default_value = float(part)
        set_sh(material, sh)
        mesh_obj.data.materials.append(material)
        materials.append(material)
    return materials


def body_image(material):
    """The texture image of a body material (one image, shared by the 24 part materials)."""
    return material.node_tree.nodes[TEXTURE_NODE].image


def set_sh(material, sh) -> None:
    """Write the 9 SH coefficients into a body material's SH node."""
    node = material.node_tree.nodes["SH"]
    for name, value in zip(SH_NAMES, sh):
        node.inputs[name].default_value = float(value)


def _body_material(name: str, image, shading: str):
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    # Nothing is lit by the body's emission (no other surface, max_bounces 0), so Cycles need
    # not build a light tree over its ~27k emissive triangles: that rebuild, every time the
    # mesh moves, was most of a frame's fixed cost. Pixels are bit-identical either way.
    material.cycles.emission_sampling = "NONE"
    nodes, links = material.node_tree.nodes, material.node_tree.links
    nodes.clear()
    texture = nodes.new("ShaderNodeTexImage")
    texture.name = TEXTURE_NODE
    texture.image = image
    texture.interpolation = "Linear"
    sh = _osl_node(nodes) if shading == "osl" else _group_node(nodes)
    sh.name = "SH"
    emission = nodes.new("ShaderNodeEmission")
    emission.inputs["Strength"].default_value = 1.0
    output = nodes.new("ShaderNodeOutputMaterial")
    links.new(texture.outputs["Color"], sh.inputs["Albedo"])
    links.new(sh.outputs["Out"], emission.inputs["Color"])
    links.new(emission.outputs["Emission"], output.inputs["Surface"])
    # The normals label is the geometric normal of the visible triangle (exact for the mesh),
    # written to an AOV; the shading above uses the smooth interpolated normal.
    geometry = nodes.new("ShaderNodeNewGeometry")
    _add_aov(nodes, links, TRUE_NORMAL_AOV, geometry.outputs["True Normal"])
    part = nodes.new("ShaderNodeOutputAOV")  # the part label for Eevee (value set per material)
    part.name = part.aov_name = PART_INDEX_AOV
    _add_aov(nodes, links, POSITION_AOV, geometry.outputs["Position"])
    for name in MOTION_AOVS:
        attribute = nodes.new("ShaderNodeAttribute")
        attribute.attribute_type, attribute.attribute_name = "GEOMETRY", name
        _add_aov(nodes, links, name, attribute.outputs["Vector"])
    return material


def _add_aov(nodes, links, name: str, socket) -> None:
    aov = nodes.new("ShaderNodeOutputAOV")
    aov.aov_name = name
    links.new(socket, aov.inputs["Color"])


def _import_osl():
    """Cycles' OSL helpers; their ``oslquery`` module sits in bpy's bundled site-packages,
    which the bpy wheel does not put on ``sys.path``."""
    import sys

    try:
        import oslquery  # noqa: F401
    except ImportError:
        bundled = Path(bpy.utils.resource_path("LOCAL")).glob("python/lib/python3*/site-packages")
        sys.path.extend(str(p) for p in bundled if (p / "oslquery").is_dir())
    from cycles import osl

    return osl


def _osl_node(nodes):
    osl = _import_osl()

    text = bpy.data.texts.get("sh.osl")
    if text is None:  # an internal copy: no shared .oso next to a shared file (SURREAL's bug)
        text = bpy.data.texts.new("sh.osl")
        text.write(SHADER_PATH.read_text())
    node = nodes.new("ShaderNodeScript")
    node.mode = "INTERNAL"
    node.script = text
    errors = []
    osl.update_script_node(node, lambda kind, message: errors.append(f"{kind}: {message}"))
    if "Out" not in node.outputs:
        raise RuntimeError(f"compiling {SHADER_PATH} failed: {errors}")
    return node


def _group_node(nodes):
    node = nodes.new("ShaderNodeGroup")
    node.node_tree = sh_node_group()
    return node


def sh_node_group():
    """The node group equal to ``sh.osl``: Out = Albedo * max(E(n), 0), n the world normal."""
    existing = bpy.data.node_groups.get(GROUP_NAME)
    if existing is not None:
        return existing
    group = bpy.data.node_groups.new(GROUP_NAME, "ShaderNodeTree")
    group.interface.new_socket("Albedo", in_out="INPUT", socket_type="NodeSocketColor")
    for name in SH_NAMES:
        group.interface.new_socket(name, in_out="INPUT", socket_type="NodeSocketFloat")
    group.interface.new_socket("Out", in_out="OUTPUT", socket_type="NodeSocketColor")
    nodes, links = group.nodes, group.links
    group_in, group_out = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    geometry = nodes.new("ShaderNodeNewGeometry")
    normalize = nodes.new("ShaderNodeVectorMath")
    normalize.operation = "NORMALIZE"
    links.new(geometry.outputs["Normal"], normalize.inputs[0])
    xyz = nodes.new("ShaderNodeSeparateXYZ")
    links.new(normalize.outputs["Vector"], xyz.inputs[0])
    x, y, z = xyz.outputs["X"], xyz.outputs["Y"], xyz.outputs["Z"]
    coefficient = {name: group_in.outputs[name] for name in SH_NAMES}

    def math(operation, a, b):
        node = nodes.new("ShaderNodeMath")
        node.operation = operation
        for socket, value in zip(node.inputs, (a, b)):
            if isinstance(value, float):
                socket.default_value = value
            else:
                links.new(value, socket)
        return node.outputs[0]

    def times(*factors):
        result = factors[0]
        for factor in factors[1:]:
            result = math("MULTIPLY", result, factor)
        return result

    terms = [
        times(C1, coefficient["L22"], math("SUBTRACT", times(x, x), times(y, y))),
        times(C3, coefficient["L20"], times(z, z)),
        times(C4, coefficient["L00"]),
        times(-C5, coefficient["L20"]),
        times(2.0 * C1, coefficient["L2m2"], x, y),
        times(2.0 * C1, coefficient["L21"], x, z),
        times(2.0 * C1, coefficient["L2m1"], y, z),
        times(2.0 * C2, coefficient["L11"], x),
        times(2.0 * C2, coefficient["L1m1"], y),
        times(2.0 * C2, coefficient["L10"], z),
    ]
    irradiance = terms[0]
    for term in terms[1:]:
        irradiance = math("ADD", irradiance, term)
    clamped = math("MAXIMUM", irradiance, 0.0)
    scale = nodes.new("ShaderNodeVectorMath")  # colour x scalar, broadcast by the socket types
    scale.operation = "MULTIPLY"
    links.new(group_in.outputs["Albedo"], scale.inputs[0])
    links.new(clamped, scale.inputs[1])
    links.new(scale.outputs["Vector"], group_out.inputs["Out"])
    return group

"""The body in Blender, two ways.

**Posed mesh** (:func:`build_posed_mesh`, what the renderer uses): a plain mesh in world
coordinates with no animation data. :func:`set_posed_vertices` writes one frame of the numpy
model's posed vertices (linear blend skinning and SMPL's pose correctives, already in
:class:`~synth_core.scene.clip.ClipGeometry`) and each vertex's motion to the previous and the
next frame as the point attributes ``MotionPrev`` / ``MotionNext`` (world displacements), which
the materials write to AOVs for optical flow. With animation data Cycles re-evaluated and
re-synced the scene, and its Vector pass evaluated the neighbouring frames, on every render.

**Skinned body** (:func:`build_body`, for the artist add-on): a mesh skinned by an armature
through 24 vertex groups. The shape is baked per clip (the mesh's rest coordinates are the
shaped body, bones sit at its rest joints); SMPL's pose correctives become shape keys keyed per
frame. Both objects live in the body model's Y-up frame; the armature object's ``matrix_world``
places them in the Z-up world (:func:`synth_core.scene.camera.body_to_world`). Blender frame
``i`` shows padded clip frame ``i`` of :class:`~synth_core.scene.clip.ClipGeometry`.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Matrix

from synth_core.body import lbs
from synth_core.body.model import BodyModel
from synth_core.body.parts import JOINT_NAMES, face_part_labels
from synth_core.motion.rotations import matrix_to_quaternion
from synth_core.scene.clip import ClipGeometry

MIN_BONE_LENGTH = 0.02
MOTION_ATTRIBUTES = ("MotionPrev", "MotionNext")  # world displacement to frame t - 1 / t + 1


def build_posed_mesh(model: BodyModel, geometry: ClipGeometry, name: str = "Body"):
    """The body mesh in world coordinates, without armature or animation, showing the first
    rendered frame; move it with :func:`set_posed_vertices`."""
    mesh = _build_mesh(model, geometry.vertices_world[geometry.rendered.start], name, vertex_groups=False)
    for attribute in MOTION_ATTRIBUTES:
        mesh.data.attributes.new(attribute, "FLOAT_VECTOR", "POINT")
    set_posed_vertices(mesh, geometry.vertices_world, geometry.rendered.start)
    return mesh


def set_posed_vertices(mesh_obj, vertices_world: np.ndarray, frame: int) -> None:
    """Pose the mesh as padded frame ``frame`` of ``vertices_world`` (T+2 x V x 3), with the
    motion to its neighbours (computed in float64: the displacement is exact to float32)."""
    mesh = mesh_obj.data
    here = vertices_world[frame]
    mesh.vertices.foreach_set("co", here.astype(np.float32).ravel())
    for attribute, step in zip(MOTION_ATTRIBUTES, (-1, 1)):
        motion = (vertices_world[frame + step] - here).astype(np.float32)
        mesh.attributes[attribute].data.foreach_set("vector", motion.ravel())
    mesh.update()


def armature_joints(armature) -> np.ndarray:
    """World positions of the 24 joints as Blender posed them (bone heads), 24 x 3."""
    from synth_core.scene import camera as cam

    matrix = np.array(armature.matrix_world)
    heads = np.array([list(armature.pose.bones[name].head) for name in JOINT_NAMES])
    return cam.transform_points(matrix, heads)


def build_body(model: BodyModel, geometry: ClipGeometry, name: str = "Body"):
    """Create the armature and the skinned mesh; returns (armature object, mesh object)."""
    armature = _build_armature(model, geometry.rest_joints, name)
    mesh = _build_mesh(model, geometry.shaped_vertices, name)
    mesh.parent = armature
    modifier = mesh.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    modifier.use_vertex_groups = True
    modifier.use_bone_envelopes = False
    modifier.use_deform_preserve_volume = False  # plain linear blend skinning, as SMPL
    armature.matrix_world = Matrix(geometry.body_to_world.tolist())
    _animate_bones(armature, model.parents, geometry.skinning_transforms)
    if np.any(model.data.posedirs):
        _add_pose_correctives(mesh, model, geometry)
    return armature, mesh


def _bone_tails(rest_joints: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """A tail for each bone: its only child, the highest of several children, or the
    parent's direction continued for leaf joints."""
    tails = np.empty_like(rest_joints)
    children = {j: [c for c in range(len(parents)) if parents[c] == j] for j in range(len(parents))}
    for joint in range(len(parents)):
        kids = children[joint]
        if kids:
            tails[joint] = rest_joints[max(kids, key=lambda c: rest_joints[c, 1])]
        else:
            direction = rest_joints[joint] - rest_joints[parents[joint]]
            tails[joint] = rest_joints[joint] + 0.5 * direction
        if np.linalg.norm(tails[joint] - rest_joints[joint]) < MIN_BONE_LENGTH:
            tails[joint] = rest_joints[joint] + np.array([0.0, MIN_BONE_LENGTH, 0.0])
    return tails


def _build_armature(model: BodyModel, rest_joints: np.ndarray, name: str):
    data = bpy.data.armatures.new(f"{name}Armature")
    armature = bpy.data.objects.new(f"{name}Armature", data)
    bpy.context.scene.collection.objects.link(armature)
    bpy.context.view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    tails = _bone_tails(rest_joints, model.parents)
    for joint, joint_name in enumerate(JOINT_NAMES):
        bone = data.edit_bones.new(joint_name)
        bone.head, bone.tail, bone.roll = rest_joints[joint].tolist(), tails[joint].tolist(), 0.0
        bone.use_deform = True
        if model.parents[joint] >= 0:
            bone.parent = data.edit_bones[JOINT_NAMES[model.parents[joint]]]
            bone.use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")
    for pose_bone in armature.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    return armature


def _build_mesh(model: BodyModel, vertices: np.ndarray, name: str, vertex_groups: bool = True):
    faces = model.faces
    mesh = bpy.data.meshes.new(f"{name}Mesh")
    mesh.from_pydata(vertices.tolist(), [], faces.tolist())
    mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), dtype=bool))
    mesh.polygons.foreach_set("material_index", face_part_labels(faces, model.part_labels) - 1)
    if model.data.vt is not None:
        uv_layer = mesh.uv_layers.new(name="UVMap")
        uv_layer.data.foreach_set("uv", model.data.vt[model.data.ft].astype(np.float32).ravel())
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    if not vertex_groups:
        return obj
    weights = model.data.weights
    for joint, joint_name in enumerate(JOINT_NAMES):
        group = obj.vertex_groups.new(name=joint_name)
        for vertex in np.flatnonzero(weights[:, joint] > 0):
            group.add([int(vertex)], float(weights[vertex, joint]), "REPLACE")
    return obj


def bone_basis_matrices(rest: np.ndarray, parents: np.ndarray, skinning: np.ndarray) -> np.ndarray:
    """Pose-bone ``matrix_basis`` for every frame and bone such that Blender's armature deform
    equals the model's skinning transform.

    Blender deforms a bone's vertices by ``pose_j @ rest_j^-1`` with
    ``pose_j = pose_parent @ rest_parent^-1 @ rest_j @ basis_j``; setting it equal to the
    skinning transform ``S_j`` gives ``basis_j = rest_j^-1 S_parent^-1 S_j rest_j``.
    rest: J x 4 x 4 ``bone.matrix_local``; skinning: T x J x 4 x 4 -> T x J x 4 x 4.
    """
    parent_skinning = np.where((parents < 0)[None, :, None, None], np.eye(4),
                               skinning[:, np.maximum(parents, 0)])
    relative = np.linalg.solve(parent_skinning, skinning)
    return np.linalg.solve(rest[None], relative @ rest[None])


def _animate_bones(armature, parents: np.ndarray, skinning: np.ndarray) -> None:
    rest = np.array([np.array(armature.data.bones[name].matrix_local) for name in JOINT_NAMES])
    basis = bone_basis_matrices(rest, parents, skinning)
    frames = np.arange(basis.shape[0], dtype=np.float64)
    for joint, name in enumerate(JOINT_NAMES):
        quaternion = _matrix_to_quaternion(basis[:, joint, :3, :3])
        location = basis[:, joint, :3, 3]
        _key(armature, f'pose.bones["{name}"].rotation_quaternion', frames, quaternion, name)
        _key(armature, f'pose.bones["{name}"].location', frames, location, name)


def _key(datablock, data_path: str, frames: np.ndarray, values: np.ndarray, group: str = "") -> None:
    """Keyframe ``values`` (T x C) on ``data_path`` at ``frames`` in one call per channel."""
    if datablock.animation_data is None:
        datablock.animation_data_create()
    if datablock.animation_data.action is None:
        datablock.animation_data.action = bpy.data.actions.new(f"{datablock.name}Action")
    action = datablock.animation_data.action
    for channel in range(values.shape[1]):
        curve = _fcurve(action, datablock, data_path, channel, group)
        curve.keyframe_points.add(len(frames))
        curve.keyframe_points.foreach_set("co", np.stack([frames, values[:, channel]], 1).ravel())
        curve.keyframe_points.foreach_set("interpolation", np.full(len(frames), 1))  # LINEAR
        curve.update()


def _fcurve(action, datablock, data_path: str, index: int, group: str):
    """The action's F-Curve for ``data_path[index]`` on ``datablock``'s slot (Blender 5.0's layered
    actions); Blender 4.2-4.5: the legacy collection, which in 4.4-4.5 keys the first slot."""
    if hasattr(action, "fcurve_ensure_for_datablock"):
        return action.fcurve_ensure_for_datablock(datablock, data_path, index=index, group_name=group)
    curve = action.fcurves.find(data_path, index=index) or action.fcurves.new(data_path, index=index,
                                                                              action_group=group)
    animation = datablock.animation_data
    if getattr(animation, "action_slot", False) is None and len(action.slots):  # 4.4-4.5: bind the slot
        animation.action_slot = action.slots[0]
    return curve


def _matrix_to_quaternion(rotations: np.ndarray) -> np.ndarray:
    """T x 3 x 3 rotation matrices -> T x 4 (w, x, y, z), sign-continuous over time so that
    keys never flip hemisphere between frames."""
    quats = matrix_to_quaternion(rotations)
    flips = np.cumsum(np.r_[0, np.sum(quats[1:] * quats[:-1], axis=1) < 0]) % 2
    return np.where(flips[:, None] == 1, -quats, quats)


def _add_pose_correctives(mesh_obj, model: BodyModel, geometry: ClipGeometry) -> None:
    """SMPL's pose blend shapes: one shape key per pose feature, keyed per frame."""
    mesh_obj.shape_key_add(name="Basis", from_mix=False)
    posedirs = model.data.posedirs
    for k in range(posedirs.shape[2]):
        key = mesh_obj.shape_key_add(name=f"pose_{k:03d}", from_mix=False)
        key.slider_min, key.slider_max = -10.0, 10.0
        key.data.foreach_set("co", (geometry.shaped_vertices + posedirs[:, :, k]).astype(np.float32).ravel())
    features = lbs.pose_features(lbs.axis_angle_to_matrix(geometry.pose))  # T x P
    frames = np.arange(features.shape[0], dtype=np.float64)
    shape_keys = mesh_obj.data.shape_keys
    for k in range(posedirs.shape[2]):
        _key(shape_keys, f'key_blocks["pose_{k:03d}"].value', frames, features[:, k:k + 1])

"""Run with the venv's Python: build a body in Blender and dump its evaluated (skinned) vertices.

    python skinned_vertices.py MODEL_FILE INPUT.npz OUTPUT.npz

INPUT holds betas, pose (T x 24 x 3), transl (T x 3), yaw; OUTPUT gets `vertices`
(T x V x 3, world) and `joints` (T x 24 x 3, world) as Blender computed them.
"""

import sys

import bpy
import numpy as np

from blender_addon.scene.body import armature_joints, build_body
from synth_core.body.model import BodyModel
from synth_core.scene import camera as cam
from synth_core.scene.clip import pose_body

model_path, input_path, output_path = sys.argv[1:4]
model = BodyModel.from_file(model_path)
data = np.load(input_path)
geometry = pose_body(model, data["betas"], data["pose"], data["transl"], cam.body_to_world(float(data["yaw"])),
                     np.arange(len(data["pose"])), with_vertices=False)
bpy.ops.wm.read_factory_settings(use_empty=True)
armature, mesh = build_body(model, geometry)
vertices, joints = [], []
for frame in range(len(data["pose"])):
    bpy.context.scene.frame_set(frame)
    evaluated = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
    coordinates = np.empty(len(evaluated.vertices) * 3, dtype=np.float32)
    evaluated.vertices.foreach_get("co", coordinates)
    vertices.append(cam.transform_points(np.array(mesh.matrix_world), coordinates.reshape(-1, 3).astype(np.float64)))
    joints.append(armature_joints(armature))
np.savez(output_path, vertices=np.array(vertices), joints=np.array(joints))

"""Sidebar panels of the 3D viewport (N panel, tab "Synth"), one module each, in the order an
artist works: Scene, Body, Motion, Look, Camera, Ground truth, Plan."""

from . import ground_truth, look, plan, scene

classes = (scene.VIEW3D_PT_synth_scene, look.VIEW3D_PT_synth_look,
           ground_truth.VIEW3D_PT_synth_ground_truth, plan.VIEW3D_PT_synth_plan)

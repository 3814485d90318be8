"""Sidebar panels of the 3D viewport (N panel, tab "Synth"), one module each, in the order an
artist works: Scene, Body, Motion, Look, Camera, Ground truth, Plan."""

from . import body, camera, ground_truth, look, motion, plan, scene

classes = (scene.VIEW3D_PT_synth_scene, body.VIEW3D_PT_synth_body, motion.VIEW3D_PT_synth_motion,
           look.VIEW3D_PT_synth_look, camera.VIEW3D_PT_synth_camera,
           ground_truth.VIEW3D_PT_synth_ground_truth, plan.VIEW3D_PT_synth_plan)

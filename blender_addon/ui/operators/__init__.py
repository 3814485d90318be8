"""The add-on's operators, one module per panel topic; :mod:`.common` holds the current-plan
state they share."""

from . import body, camera, ground_truth, look, motion, plan, scene

classes = (scene.classes + body.classes + motion.classes + look.classes + camera.classes
           + ground_truth.classes + plan.classes)

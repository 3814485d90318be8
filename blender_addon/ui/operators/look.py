"""The Look panel's operators and live updates: SH lighting (sliders, "sample like SURREAL")."""

from dataclasses import replace

import bpy
import numpy as np

from .common import body_materials, current_plan


def apply_sh_from_settings(settings) -> None:
    """The sliders' SH into the plan (where they changed it) and the body's materials."""
    from blender_addon.scene.materials import set_sh

    plan = current_plan(settings)
    if plan is None:
        return
    sh = [float(value) for value in settings.look.sh]
    # Sliders hold 32-bit floats: only an edit, not the plan's own values read back, changes the plan.
    if not np.array_equal(np.float32(plan.lighting["sh"]), np.float32(sh)):
        plan = replace(plan, lighting={**plan.lighting, "sh": sh})
        settings.plan_json = plan.to_json()
    for material in body_materials():
        set_sh(material, plan.lighting["sh"])


class SYNTH_OT_sample_sh(bpy.types.Operator):
    """Sample SH lighting as SURREAL does, into the Look panel and the body's materials"""

    bl_idname = "synth.sample_sh"
    bl_label = "Sample like SURREAL"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from synth_core.scene.lighting import sample_sh

        look = context.scene.synth.look
        sh = sample_sh(np.random.default_rng(look.sh_seed))
        look.sh = sh.tolist()  # the update writes them into the plan and the materials
        look.sh_seed = (look.sh_seed + 1) % (2**31 - 1)  # the next press, another light
        return {"FINISHED"}


classes = (SYNTH_OT_sample_sh,)

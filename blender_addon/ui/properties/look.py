"""Look settings (``scene.synth.look``): SH lighting with 9 sliders, live on the body's materials."""

import bpy
from bpy.props import FloatVectorProperty, IntProperty

SH_SIZE = 9
SH_LABELS = ("L00", "L1-1", "L10", "L11", "L2-2", "L2-1", "L20", "L21", "L22")  # SURREAL's order
MAX_SEED = 2**31 - 1


def _sh_changed(group, context) -> None:
    from ..operators import look  # late: the operators import this module

    look.apply_sh_from_settings(context.scene.synth)


class LookSettings(bpy.types.PropertyGroup):
    sh: FloatVectorProperty(name="SH lighting", description="Spherical-harmonics lighting (SURREAL's order)",
                            size=SH_SIZE, default=(0.0,) * SH_SIZE, soft_min=-1.5, soft_max=1.5,
                            update=_sh_changed)
    sh_seed: IntProperty(name="SH seed", description="Seed of the next 'Sample like SURREAL'",
                         default=0, min=0, max=MAX_SEED)


def show(group, plan) -> None:
    group.sh = plan.lighting["sh"]


SETTINGS = LookSettings
classes = (LookSettings,)

"""Look settings (``scene.synth.look``): the texture (procedural or an image file), the
background (a pool image or HDRI, or a file of the artist's) and SH lighting with 9 sliders,
live on the body's materials and in the camera view.

The texture and background themselves are in the plan (the Look panel's operators change
them); the group holds the seeds of the next "Randomise" and the pool choice. Showing a plan
also shows its background behind the camera view (:func:`show`).
"""

import bpy
from bpy.props import EnumProperty, FloatVectorProperty, IntProperty, StringProperty

SH_SIZE = 9
SH_LABELS = ("L00", "L1-1", "L10", "L11", "L2-2", "L2-1", "L20", "L21", "L22")  # SURREAL's order
MAX_SEED = 2**31 - 1
NO_POOL = "NONE"  # the pool's enum when no background is installed


def _sh_changed(group, context) -> None:
    from ..operators import look  # late: the operators import this module

    look.apply_sh_from_settings(context.scene.synth)


def _pool_chosen(group, context) -> None:
    from ..operators import look

    look.pool_background_chosen(context)


_pool_items_cache = []  # Blender needs the items of a dynamic enum kept alive


def _pool_items(group, context):
    """The free background pool (HDRIs and photos: synth_core.backgrounds), as enum items."""
    if not _pool_items_cache:
        from synth_core.backgrounds import background_pool
        from synth_core.errors import SynthError

        try:
            pool = background_pool(kinds=("hdri", "photo"))
        except SynthError as exc:
            _pool_items_cache.append((NO_POOL, "No backgrounds installed", str(exc)))
        else:
            _pool_items_cache.extend((id_, id_, f"Background {id_} of the free pool") for id_ in pool)
    return _pool_items_cache


class LookSettings(bpy.types.PropertyGroup):
    texture_seed: IntProperty(name="Texture seed", description="Seed of the next 'Randomise Texture'",
                              default=0, min=0, max=MAX_SEED)
    background: EnumProperty(name="Background", description="A background of the free pool (a random view "
                             "of it, from the background seed)", items=_pool_items, update=_pool_chosen)
    background_seed: IntProperty(name="Background seed", description="Seed of the next 'Randomise Background' "
                                 "or pool choice (its view: crop, flip, exposure)", default=0, min=0, max=MAX_SEED)
    sh: FloatVectorProperty(name="SH lighting", description="Spherical-harmonics lighting (SURREAL's order)",
                            size=SH_SIZE, default=(0.0,) * SH_SIZE, soft_min=-1.5, soft_max=1.5,
                            update=_sh_changed)
    sh_seed: IntProperty(name="SH seed", description="Seed of the next 'Sample like SURREAL'",
                         default=0, min=0, max=MAX_SEED)
    error: StringProperty(name="Error", description="Why the last edit was refused", default="",
                          options={"HIDDEN"})


def show(group, plan) -> None:
    """Put ``plan``'s look on the group, and its background behind the scene's camera view."""
    from ..operators.look import show_background_preview

    group.sh = plan.lighting["sh"]
    if plan.background["id"] in {item[0] for item in _pool_items(group, None)}:
        group.background = plan.background["id"]
    show_background_preview(group.id_data, plan)


SETTINGS = LookSettings
classes = (LookSettings,)

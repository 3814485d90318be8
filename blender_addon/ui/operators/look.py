"""The Look panel's operators and live updates: texture (randomise a procedural one, or an image
file), background (a pool choice, a file, or randomise) and SH lighting (sliders, "sample like
SURREAL").

Texture and background edits are new plans applied by :mod:`.edit` (in place: the body's image
is reloaded). Every file is checked as the CLI checks it before the plan changes, so a wrong
file type, an unreadable image or a missing file is reported by name and the plan stays. The
background is composited after rendering, so the viewport shows it as the camera's background
image (:mod:`blender_addon.scene.preview`): what the RGB pass shows around the body, never rendered.
"""

from dataclasses import replace
from pathlib import Path

import bpy
import numpy as np
from bpy.props import StringProperty
from bpy_extras.io_utils import ImportHelper

from synth_core.errors import BackgroundError, SynthError, TextureError

from ..properties.look import NO_POOL
from .common import body_materials, current_plan, session_folder
from .edit import live_edit, report_edit, seeded_edit

MAX_SEED = 2**31 - 1
BACKGROUND_KINDS = ("hdri", "photo")  # PlanOptions' default: the pool Sample Scene draws from


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
        look.sh_seed = (look.sh_seed + 1) % MAX_SEED  # the next press, another light
        return {"FINISHED"}


# --- texture ---------------------------------------------------------------------------------

def checked_texture_file(plan, path: Path) -> dict:
    """The plan texture of image file ``path``, checked as ``--texture-dir`` checks its files
    (type, header: square RGB, full decode) and against the body (it needs UVs to wear one)."""
    from synth_core.scene.clip import body_model_of
    from synth_core.texture_dir import TEXTURE_SUFFIXES, check_texture_header
    from synth_core.textures import load_texture_image

    if path.suffix.lower() not in TEXTURE_SUFFIXES:
        raise TextureError(f"{path.name} is not a texture image (expected {', '.join(TEXTURE_SUFFIXES)})")
    if not path.is_file():
        raise TextureError(f"texture file not found: {path}")
    check_texture_header(path)
    load_texture_image(path)  # a truncated file fails here, not in the render
    if body_model_of(plan).data.vt is None:
        raise TextureError("the body model has no UVs to wear a texture file: SMPL bodies need SURREAL's UV "
                           "layout (smpl_uv.obj) installed next to the SMPL files")
    return {"kind": "file", "path": str(path.resolve())}


class SYNTH_OT_load_texture(bpy.types.Operator, ImportHelper):
    """Dress the body in a UV texture image (square RGB PNG/JPEG in the body's UV layout, e.g. one of
    SURREAL's for SMPL bodies or one made by 'synth texture transfer')"""

    bl_idname = "synth.load_texture"
    bl_label = "Load Texture File"
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: StringProperty(default="*.png;*.jpg;*.jpeg", options={"HIDDEN"})

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))
        edit = lambda plan: replace(plan, texture=checked_texture_file(plan, path))  # noqa: E731
        return report_edit(self, context, "look", edit, follow=False)


class SYNTH_OT_randomize_texture(bpy.types.Operator):
    """A new procedural texture (skin, hair, face, clothing), drawn as Sample Scene draws one, from
    the texture seed"""

    bl_idname = "synth.randomize_texture"
    bl_label = "Randomise Texture"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from synth_core.scene.plan import PlanOptions
        from synth_core.textures import sample_texture_spec

        def edit(plan, rng):
            size = int(plan.texture.get("size", PlanOptions().texture_size))
            return replace(plan, texture={"kind": "procedural", "size": size, "spec": sample_texture_spec(rng)})

        return seeded_edit(self, context, "look", "texture_seed", edit, follow=False)


def texture_summary(plan) -> str:
    """One line naming the plan's texture (for the panel)."""
    if plan is None:
        return "No plan yet"
    texture = plan.texture
    if texture.get("kind") == "file":
        return f"File: {Path(texture['path']).name}"
    spec = texture["spec"]
    return f"Procedural: {spec['top']['kind']}, Fitzpatrick {spec['fitzpatrick']}, seed {spec['seed']}"


# --- background ------------------------------------------------------------------------------

def checked_background(plan, spec: dict) -> dict:
    """``spec`` once its image loads at the plan's resolution (as the worker loads it)."""
    from synth_core.backgrounds import load_background

    load_background(spec, plan.render["height"], plan.render["width"])
    return spec


def background_spec(background: str, seed: int) -> dict:
    """A view (crop, flip, exposure) of one background, drawn from ``seed`` as sampling draws one."""
    from synth_core.backgrounds import sample_background_spec

    return sample_background_spec(np.random.default_rng(seed), [background])


def with_background(plan, spec: dict):
    return replace(plan, background=checked_background(plan, spec))


def pool_background_chosen(context) -> None:
    look = context.scene.synth.look
    background, seed = look.background, look.background_seed

    def edit(plan):
        if background == NO_POOL:
            raise BackgroundError("no backgrounds installed: load an image or HDRI file instead")
        if plan.background["id"] == background:
            return plan  # the same image: its view stays
        return with_background(plan, background_spec(background, seed))

    live_edit(context, "look", edit)


class SYNTH_OT_load_background(bpy.types.Operator, ImportHelper):
    """Use an image file (PNG/JPEG: a photo; EXR: an HDR photo, or a panorama when 2:1) as the
    background; its view (crop, flip, exposure) is drawn from the background seed"""

    bl_idname = "synth.load_background"
    bl_label = "Load Background File"
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: StringProperty(default="*.png;*.jpg;*.jpeg;*.exr", options={"HIDDEN"})

    def execute(self, context):
        from synth_core.backgrounds import FILE_PREFIX
        from synth_core.imaging import IMAGE_SUFFIXES

        path = Path(bpy.path.abspath(self.filepath))
        seed = context.scene.synth.look.background_seed

        def edit(plan):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise BackgroundError(f"{path.name} is not a background image (expected {', '.join(IMAGE_SUFFIXES)})")
            if not path.is_file():
                raise BackgroundError(f"background file not found: {path}")
            return with_background(plan, background_spec(FILE_PREFIX + str(path.resolve()), seed))

        return report_edit(self, context, "look", edit, follow=False)


class SYNTH_OT_randomize_background(bpy.types.Operator):
    """A background of the free pool and a view of it, drawn as Sample Scene draws one, from the
    background seed"""

    bl_idname = "synth.randomize_background"
    bl_label = "Randomise Background"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from synth_core.backgrounds import background_pool, sample_background_spec

        def edit(plan, rng):
            return with_background(plan, sample_background_spec(rng, background_pool(kinds=BACKGROUND_KINDS)))

        return seeded_edit(self, context, "look", "background_seed", edit, follow=False)


def show_background_preview(scene, plan) -> None:
    """Show ``plan``'s background behind the scene camera's view (viewport only; called whenever
    a plan is shown: :func:`..properties.look.show`); a background that cannot be loaded is named
    in the Look panel instead."""
    from blender_addon.scene.preview import show_background

    if plan is None or scene.camera is None:
        return
    try:
        show_background(scene, plan, session_folder())
    except SynthError as exc:
        scene.synth.look.error = str(exc)


def background_summary(plan) -> str:
    """One line naming the plan's background (for the panel)."""
    if plan is None:
        return "No plan yet"
    from synth_core.backgrounds import background_id

    return f"{background_id(plan.background)} ({plan.background['projection']})"


classes = (SYNTH_OT_sample_sh, SYNTH_OT_load_texture, SYNTH_OT_randomize_texture, SYNTH_OT_load_background,
           SYNTH_OT_randomize_background)

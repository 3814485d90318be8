"""The Body panel's operators and live updates: the body model (the free default body, an
installed SMPL model, or an SMPL-format file), gender, shape (sliders, phenotype, randomise),
pose correctives and snap to ground. Each edit is a new plan applied by :mod:`.edit`."""

from dataclasses import replace
from pathlib import Path

import bpy
import numpy as np
from bpy.props import EnumProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from synth_core.body.catalog import BODY_SOURCES, GENDERS, load_body_model, load_model_path
from synth_core.errors import BodyModelFileError

from ..properties.body import PHENOTYPE_SLIDERS, SMPL_BETAS, SOURCE_LABELS
from .edit import live_edit, report_edit, seeded_edit, slider_value

MODEL_SUFFIXES = (".npz", ".pkl")


def _space():
    from synth_core.body.phenotype import PhenotypeSpace

    return PhenotypeSpace(load_body_model("default"))


def phenotype_betas(group, gender: str) -> list:
    """The default body's betas of the phenotype sliders and ``gender``."""
    from synth_core.body.phenotype import GENDERS as PHENOTYPE_GENDERS, Phenotype

    space = _space()
    values = {name: float(getattr(group, name)) for name in PHENOTYPE_SLIDERS}
    phenotype = Phenotype(gender=PHENOTYPE_GENDERS[gender], age=space.age_parameter(float(group.age)), **values)
    return space.betas(phenotype).tolist()


def phenotype_of(betas) -> dict:
    """The phenotype sliders' values (approximate) of default-body ``betas``."""
    space = _space()
    phenotype = space.phenotype(np.asarray(betas, dtype=np.float64))
    extras = space.model.data.extras  # the age table: anny's parameter <-> years
    years = float(np.interp(phenotype.age, extras["age_anny"], extras["age_years"]))
    return {**{name: getattr(phenotype, name) for name in PHENOTYPE_SLIDERS}, "age": years}


def _with_body(plan, **changes):
    """``plan`` with ``changes`` to its body (None removes a key)."""
    body = {key: value for key, value in {**plan.body, **changes}.items() if value is not None}
    if body.get("pose_correctives", True) is True:
        body.pop("pose_correctives", None)  # absent means on: plans stay as sample_plan writes them
    return replace(plan, body=body)


def betas_changed(context) -> None:
    group = context.scene.synth.body

    def edit(plan):
        betas = list(plan.body["betas"])
        for index in range(min(group.n_betas, len(betas))):
            betas[index] = slider_value(betas[index], group.betas[index])
        return _with_body(plan, betas=betas)

    live_edit(context, "body", edit)


def phenotype_changed(context) -> None:
    group = context.scene.synth.body

    def edit(plan):
        if not _is_default_body(plan):
            return plan  # SMPL models have no phenotype map: the sliders do nothing
        return _with_body(plan, betas=phenotype_betas(group, plan.body["gender"]))

    live_edit(context, "body", edit)


def correctives_changed(context) -> None:
    on = context.scene.synth.body.pose_correctives
    live_edit(context, "body", lambda plan: _with_body(plan, pose_correctives=bool(on)))


def _is_default_body(plan) -> bool:
    return plan.body["source"] == "default"


class SYNTH_OT_use_body(bpy.types.Operator):
    """Use the free default body or the installed SMPL model of the body's gender (a new mesh)"""

    bl_idname = "synth.use_body"
    bl_label = "Use Body Model"
    bl_options = {"REGISTER", "UNDO"}
    source: EnumProperty(name="Body", items=[(s, *SOURCE_LABELS[s]) for s in BODY_SOURCES])

    def execute(self, context):
        group, source = context.scene.synth.body, self.source

        def edit(plan):
            gender = plan.body["gender"]
            if plan.body["source"] == source and not plan.body.get("model_path"):
                return plan  # already this body: keep its shape
            if source == "default":
                return _with_body(plan, source="default", model_path=None, betas=phenotype_betas(group, gender))
            return _with_body(plan, source="smpl", model_path=None, betas=[0.0] * SMPL_BETAS)

        return report_edit(self, context, "body", edit)


class SYNTH_OT_load_body_model(bpy.types.Operator, ImportHelper):
    """Load a licensed SMPL-format body model file (.npz or .pkl, 24 joints) as the body"""

    bl_idname = "synth.load_body_model"
    bl_label = "Load SMPL File"
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: StringProperty(default="*.npz;*.pkl", options={"HIDDEN"})

    def execute(self, context):
        path = Path(bpy.path.abspath(self.filepath))

        def edit(plan):
            if path.suffix.lower() not in MODEL_SUFFIXES:
                raise BodyModelFileError(f"{path.name} is not an SMPL-format model file (expected .npz or .pkl)")
            model = load_model_path(str(path))  # the safe loaders: names the bad file or field
            return _with_body(plan, source="smpl", model_path=str(path.resolve()),
                              betas=[0.0] * min(SMPL_BETAS, model.num_betas))

        return report_edit(self, context, "body", edit)


class SYNTH_OT_set_body_gender(bpy.types.Operator):
    """The body's gender: the default body's shape changes with it, an installed SMPL model is
    replaced by that gender's; an SMPL file keeps its model"""

    bl_idname = "synth.set_body_gender"
    bl_label = "Set Gender"
    bl_options = {"REGISTER", "UNDO"}
    gender: EnumProperty(name="Gender", items=[(g, g.capitalize(), "") for g in GENDERS])

    def execute(self, context):
        group, gender = context.scene.synth.body, self.gender

        def edit(plan):
            if _is_default_body(plan):
                return _with_body(plan, gender=gender, betas=phenotype_betas(group, gender))
            return _with_body(plan, gender=gender)

        return report_edit(self, context, "body", edit)


class SYNTH_OT_randomize_shape(bpy.types.Operator):
    """A random body shape of the body's gender, drawn as Sample Scene draws one, from the shape seed"""

    bl_idname = "synth.randomize_shape"
    bl_label = "Randomise Shape"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from synth_core.scene.clip import body_model_of
        from synth_core.scene.plan import sample_betas

        def edit(plan, rng):
            betas = sample_betas(rng, plan.body["source"], plan.body["gender"])
            return _with_body(plan, betas=betas[:body_model_of(plan).num_betas])

        return seeded_edit(self, context, "body", "shape_seed", edit)


class SYNTH_OT_snap_to_ground(bpy.types.Operator):
    """Lift the body so its lowest point over the clip is at world z = 0, the camera with it:
    the same images, the ground at z = 0 in the 3-D labels"""

    bl_idname = "synth.snap_to_ground"
    bl_label = "Snap to Ground"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return bool(context.scene.synth.plan_json)

    def execute(self, context):
        from synth_core.scene.plan import snap_to_ground

        return report_edit(self, context, "body", snap_to_ground, follow=False)


def body_summary(group) -> str:
    """One line naming the body model (for the panel)."""
    if group.model_path:
        return f"SMPL file: {Path(group.model_path).name}"
    return "Default body" if group.source == "default" else f"Installed SMPL ({group.gender})"


classes = (SYNTH_OT_use_body, SYNTH_OT_load_body_model, SYNTH_OT_set_body_gender, SYNTH_OT_randomize_shape,
           SYNTH_OT_snap_to_ground)

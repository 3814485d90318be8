"""Which body model file to load: the free default body or the user's licensed SMPL files."""

from __future__ import annotations

from functools import lru_cache

from synth_core import assets
from synth_core.body.model import BodyModel
from synth_core.errors import BodyInputError

BODY_SOURCES = ("default", "smpl")
GENDERS = ("neutral", "male", "female")


def body_asset_id(source: str = "default", gender: str = "neutral") -> str:
    """Manifest id of a body model. The default body is one model for every gender (gender
    is part of its shape: see :class:`~synth_core.body.phenotype.PhenotypeSpace`); SMPL has
    one file per gender."""
    if source not in BODY_SOURCES:
        raise BodyInputError(f"unknown body source {source!r}; expected one of {BODY_SOURCES}")
    if gender not in GENDERS:
        raise BodyInputError(f"unknown gender {gender!r}; expected one of {GENDERS}")
    return "body/default" if source == "default" else f"body/smpl-{gender}"


@lru_cache(maxsize=8)
def load_body_model(source: str = "default", gender: str = "neutral") -> BodyModel:
    """Load (once per process) the body model for ``source`` and ``gender``."""
    return BodyModel.from_file(assets.require(body_asset_id(source, gender)))

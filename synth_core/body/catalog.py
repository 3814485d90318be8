"""Which body model file to load: the free default body or the user's licensed SMPL files."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np

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


SMPL_UV_ASSET = "uv/smpl-surreal"


@lru_cache(maxsize=8)
def load_body_model(source: str = "default", gender: str = "neutral") -> BodyModel:
    """Load (once per process) the body model for ``source`` and ``gender``. An SMPL model
    without UVs gets SURREAL's UV layout (``smpl_uv.obj``) when that file is installed."""
    model = BodyModel.from_file(assets.require(body_asset_id(source, gender)))
    return _with_smpl_uvs(model) if source == "smpl" else model


def load_model_path(path: str) -> BodyModel:
    """The SMPL-format model in file ``path`` (.npz or .pkl, read by the safe loaders; a plan's
    ``body["model_path"]``), loaded once per process and again when the file changes; without
    UVs it gets SURREAL's, as :func:`load_body_model` gives installed SMPL files."""
    resolved = Path(path).expanduser().resolve()
    try:
        modified = resolved.stat().st_mtime_ns
    except OSError:
        modified = -1  # the loader names the missing file
    return _load_model_file(str(resolved), modified)


@lru_cache(maxsize=4)
def _load_model_file(path: str, modified_ns: int) -> BodyModel:
    return _with_smpl_uvs(BodyModel.from_file(path))


def _with_smpl_uvs(model: BodyModel) -> BodyModel:
    if model.data.vt is None and smpl_uv_path() is not None:
        from synth_core.body.uv_obj import uvs_from_obj, with_uvs

        model = BodyModel(with_uvs(model.data, *uvs_from_obj(smpl_uv_path(), model.data)))
    return model


@lru_cache(maxsize=4)
def without_pose_correctives(model: BodyModel) -> BodyModel:
    """``model`` posed by linear blend skinning alone (its pose-corrective blend shapes off):
    the same mesh, shape and skeleton."""
    if not np.any(model.data.posedirs):
        return model
    return BodyModel(replace(model.data, posedirs=np.zeros_like(model.data.posedirs)))


def smpl_uv_path():
    """Path of SURREAL's ``smpl_uv.obj`` where installed (next to the SMPL files), else None."""
    status = assets.check(assets.get_asset(SMPL_UV_ASSET))
    return status.path if status.ok else None

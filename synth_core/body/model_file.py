"""Reading and validating SMPL-format model files (.npz and .pkl).

The official SMPL layout, V vertices, J = 24 joints, K shape directions, P = 9 * (J - 1):

======================  ==============  =============================================
field                   shape           meaning
======================  ==============  =============================================
``v_template``          V x 3           rest-pose mean shape, metres, Y up, facing +Z
``shapedirs``           V x 3 x K       shape blend shapes (one per beta)
``posedirs``            V x 3 x P       pose-corrective blend shapes
``J_regressor``         J x V           joints from vertices (dense or scipy sparse)
``weights``             V x J           skinning weights, rows sum to 1
``kintree_table``       2 x J           row 0: parent of each joint (root's is ignored)
``f``                   F x 3           triangles, 0-based vertex indices
``vt``, ``ft``          T x 2, F x 3    optional per-corner UVs (OBJ convention)
======================  ==============  =============================================

Any other numeric arrays in the file are kept in :attr:`BodyModelData.extras`
(the default body stores its phenotype <-> betas mapping there).
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synth_core.body.parts import NUM_JOINTS, SMPL_PARENTS
from synth_core.body.safe_pickle import UnsafePickleError, safe_load_pickle
from synth_core.errors import BodyModelFileError

REQUIRED_FIELDS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                   "kintree_table", "f")
_KNOWN_FIELDS = REQUIRED_FIELDS + ("vt", "ft")


@dataclass(frozen=True, eq=False)
class BodyModelData:
    """Validated arrays of one SMPL-format model (float64 geometry, int64 indices)."""

    v_template: np.ndarray     # V x 3
    shapedirs: np.ndarray      # V x 3 x K
    posedirs: np.ndarray       # V x 3 x P
    J_regressor: np.ndarray    # J x V (dense)
    weights: np.ndarray        # V x J
    parents: np.ndarray        # J, parents[0] == -1
    faces: np.ndarray          # F x 3
    vt: np.ndarray | None = None   # T x 2
    ft: np.ndarray | None = None   # F x 3
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "<memory>"

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def num_betas(self) -> int:
        return self.shapedirs.shape[2]


def load_model_file(path: str | Path) -> BodyModelData:
    """Load and validate a ``.npz`` or ``.pkl`` SMPL-format model file.

    Errors (:class:`BodyModelFileError`) name the file and, where it applies, the field.
    """
    path = Path(path)
    if not path.is_file():
        raise BodyModelFileError(f"body model file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        arrays = _read_npz(path)
    elif suffix == ".pkl":
        arrays = _read_pkl(path)
    else:
        raise BodyModelFileError(f"{path}: unknown body model format '{suffix}' (expected .npz or .pkl)")
    return validate_model_arrays(arrays, source=str(path))


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise BodyModelFileError(f"{path}: contains pickled objects, which are refused; "
                                     "store plain numeric arrays") from exc
        raise BodyModelFileError(f"{path}: corrupt .npz file ({exc})") from exc
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise BodyModelFileError(f"{path}: truncated or corrupt .npz file ({exc})") from exc


def _read_pkl(path: Path) -> dict:
    try:
        obj = safe_load_pickle(path.read_bytes())
    except UnsafePickleError as exc:
        raise BodyModelFileError(f"{path}: unsafe pickle: {exc}") from exc
    except pickle.UnpicklingError as exc:
        raise BodyModelFileError(f"{path}: {exc}") from exc
    if not isinstance(obj, dict):
        raise BodyModelFileError(f"{path}: expected a dict of arrays, found {type(obj).__name__}")
    return obj


def _array(arrays: dict, name: str, source: str, kind: str) -> np.ndarray:
    if name not in arrays:
        raise BodyModelFileError(f"{source}: missing field '{name}'")
    try:
        value = np.asarray(arrays[name])
    except Exception as exc:  # noqa: BLE001 - any conversion failure is a bad field
        raise BodyModelFileError(f"{source}: field '{name}' is not an array ({exc})") from exc
    if kind == "float" and not (np.issubdtype(value.dtype, np.floating)
                                or np.issubdtype(value.dtype, np.integer)):
        raise BodyModelFileError(f"{source}: field '{name}' has dtype {value.dtype}, expected floats")
    if kind == "int" and not np.issubdtype(value.dtype, np.integer):
        if np.issubdtype(value.dtype, np.floating) and np.all(np.mod(value, 1) == 0):
            value = value.astype(np.int64)
        else:
            raise BodyModelFileError(f"{source}: field '{name}' has dtype {value.dtype}, expected integers")
    if kind == "float":
        value = value.astype(np.float64)
        if not np.all(np.isfinite(value)):
            raise BodyModelFileError(f"{source}: field '{name}' contains NaN or infinite values")
    return value


def _expect_shape(value: np.ndarray, name: str, expected: tuple, source: str) -> None:
    ok = value.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, value.shape))
    if not ok:
        pretty = " x ".join("?" if e is None else str(e) for e in expected)
        raise BodyModelFileError(f"{source}: field '{name}' has shape {value.shape}, expected {pretty}")


def validate_model_arrays(arrays: dict, source: str = "<memory>") -> BodyModelData:
    """Check keys, dtypes and shapes of raw model arrays and build a :class:`BodyModelData`."""
    v_template = _array(arrays, "v_template", source, "float")
    _expect_shape(v_template, "v_template", (None, 3), source)
    num_vertices = v_template.shape[0]

    shapedirs = _array(arrays, "shapedirs", source, "float")
    _expect_shape(shapedirs, "shapedirs", (num_vertices, 3, None), source)

    kintree = _array(arrays, "kintree_table", source, "int")
    if kintree.ndim != 2 or kintree.shape[0] != 2:
        raise BodyModelFileError(f"{source}: field 'kintree_table' has shape {kintree.shape}, expected 2 x J")
    num_joints = kintree.shape[1]
    if num_joints != NUM_JOINTS:
        raise BodyModelFileError(
            f"{source}: field 'kintree_table' has {num_joints} joints; only the 24-joint SMPL "
            "layout is supported (SMPL-H and SMPL-X files have 52 and 55)")
    parents = kintree[0].astype(np.int64)
    parents[0] = -1
    if np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, num_joints)):
        raise BodyModelFileError(f"{source}: field 'kintree_table' is not a tree whose parents precede their children")
    if tuple(parents) != SMPL_PARENTS:
        raise BodyModelFileError(f"{source}: field 'kintree_table' differs from the SMPL kinematic tree {SMPL_PARENTS}")

    num_pose = 9 * (num_joints - 1)
    posedirs = _array(arrays, "posedirs", source, "float")
    _expect_shape(posedirs, "posedirs", (num_vertices, 3, num_pose), source)

    regressor = _array(arrays, "J_regressor", source, "float")
    _expect_shape(regressor, "J_regressor", (num_joints, num_vertices), source)

    weights = _array(arrays, "weights", source, "float")
    _expect_shape(weights, "weights", (num_vertices, num_joints), source)
    worst = np.abs(weights.sum(axis=1) - 1.0).max()
    if worst > 1e-3 or weights.min() < -1e-6:
        raise BodyModelFileError(f"{source}: field 'weights' rows must be non-negative and sum to 1 "
                                 f"(worst row sum is off by {worst:.3g})")

    faces = _array(arrays, "f", source, "int")
    _expect_shape(faces, "f", (None, 3), source)
    if faces.size and (faces.min() < 0 or faces.max() >= num_vertices):
        raise BodyModelFileError(f"{source}: field 'f' indexes vertices outside 0..{num_vertices - 1}")

    vt = ft = None
    if ("vt" in arrays) != ("ft" in arrays):
        raise BodyModelFileError(f"{source}: fields 'vt' and 'ft' must come together")
    if "vt" in arrays:
        vt = _array(arrays, "vt", source, "float")
        _expect_shape(vt, "vt", (None, 2), source)
        ft = _array(arrays, "ft", source, "int")
        _expect_shape(ft, "ft", (faces.shape[0], 3), source)
        if ft.size and (ft.min() < 0 or ft.max() >= vt.shape[0]):
            raise BodyModelFileError(f"{source}: field 'ft' indexes UVs outside 0..{vt.shape[0] - 1}")

    extras = {key: np.asarray(value) for key, value in arrays.items()
              if key not in _KNOWN_FIELDS and isinstance(value, (np.ndarray, np.generic, int, float, str))}
    return BodyModelData(
        v_template=v_template, shapedirs=shapedirs, posedirs=posedirs, J_regressor=regressor,
        weights=weights, parents=parents, faces=faces.astype(np.int64), vt=vt,
        ft=None if ft is None else ft.astype(np.int64), extras=extras, source=source,
    )


def save_model_npz(data: BodyModelData, path: str | Path, float_dtype=np.float32) -> None:
    """Write ``data`` in the SMPL layout as a compressed ``.npz`` (atomically)."""
    path = Path(path)
    arrays = {
        "v_template": data.v_template.astype(float_dtype),
        "shapedirs": data.shapedirs.astype(float_dtype),
        "posedirs": data.posedirs.astype(float_dtype),
        "J_regressor": data.J_regressor.astype(float_dtype),
        "weights": data.weights.astype(float_dtype),
        "kintree_table": np.stack([data.parents, np.arange(len(data.parents))]).astype(np.int32),
        "f": data.faces.astype(np.int32),
    }
    if data.vt is not None:
        arrays["vt"] = data.vt.astype(float_dtype)
        arrays["ft"] = data.ft.astype(np.int32)
    arrays.update(data.extras)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    tmp.replace(path)

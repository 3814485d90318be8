"""A restricted unpickler for SMPL-format model files.

Official SMPL ``.pkl`` files (Python 2 pickles) hold a dict of numpy arrays, chumpy
arrays (``chumpy.ch.Ch``, whose pickled state keeps the value in ``x``) and scipy sparse
matrices (the joint regressor). A plain ``pickle.load`` would import and run whatever
callable the file names, so a downloaded "model" could run any code. This unpickler
admits only the few globals such files need, swaps chumpy and scipy classes for inert
stand-ins that merely record their pickled state, and rebuilds everything as numpy
arrays. Neither chumpy nor scipy is imported.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global that a model file has no business containing."""


class _PickledState:
    """Inert stand-in for a pickled object: it only keeps the state pickle gives it."""

    qualified_name = ""

    def __init__(self, *args: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ChumpyArray(_PickledState):
    qualified_name = "chumpy"


class _SparseMatrix(_PickledState):
    qualified_name = "scipy.sparse"


def _stand_in(base: type, module: str, name: str) -> type:
    return type(name, (base,), {"qualified_name": f"{module}.{name}"})


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """copyreg._reconstructor limited to stand-ins built on ``object`` (Python 2 pickles)."""
    if not (isinstance(cls, type) and issubclass(cls, _PickledState)) or base is not object:
        raise UnsafePickleError(f"refusing to reconstruct {cls!r} from {base!r}")
    return cls()


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    """_codecs.encode as Python 3 uses it to pickle bytes with protocol 2 (latin-1 only)."""
    if encoding.replace("-", "").lower() != "latin1":
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin-1")


_NUMPY_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): np.core.multiarray.scalar,
    ("numpy.core.numeric", "_frombuffer"): np.core.numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): np.core.numeric._frombuffer,
}
_BUILTIN_GLOBALS = {
    ("copy_reg", "_reconstructor"): _safe_reconstructor,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _latin1_encode,
}
_SPARSE_FORMATS = ("csc_matrix", "csr_matrix", "coo_matrix")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numpy, chumpy-array and scipy-sparse globals."""

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _NUMPY_GLOBALS:
            return _NUMPY_GLOBALS[key]
        if key in _BUILTIN_GLOBALS:
            return _BUILTIN_GLOBALS[key]
        if module.split(".")[0] == "chumpy":
            return _stand_in(_ChumpyArray, module, name)
        if module.startswith("scipy.sparse") and name in _SPARSE_FORMATS:
            return _stand_in(_SparseMatrix, module, name)
        raise UnsafePickleError(
            f"pickle refers to '{module}.{name}', which a model file never contains; "
            "refusing to load it (only numpy arrays, chumpy arrays and scipy sparse "
            "matrices are allowed)"
        )


def _sparse_to_dense(obj: _SparseMatrix) -> np.ndarray:
    state = obj.state if isinstance(obj.state, dict) else {}
    shape = state.get("_shape", state.get("shape"))
    fmt = obj.qualified_name.rsplit(".", 1)[-1]
    try:
        shape = tuple(int(n) for n in shape)
        data = np.asarray(state["data"], dtype=np.float64)
        dense = np.zeros(shape)
        if fmt == "coo_matrix":
            rows = np.asarray(state.get("row", state.get("coords", [None])[0]))
            cols = np.asarray(state.get("col", state.get("coords", [None, None])[1]))
            np.add.at(dense, (rows, cols), data)
            return dense
        indices = np.asarray(state["indices"], dtype=np.int64)
        indptr = np.asarray(state["indptr"], dtype=np.int64)
        major = shape[1] if fmt == "csc_matrix" else shape[0]
        if len(indptr) != major + 1 or indptr[-1] != len(indices) or len(indices) != len(data):
            raise ValueError("index arrays do not match the shape")
        counts = np.diff(indptr)
        majors = np.repeat(np.arange(major), counts)
        if fmt == "csc_matrix":
            np.add.at(dense, (indices, majors), data)
        else:
            np.add.at(dense, (majors, indices), data)
        return dense
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise pickle.UnpicklingError(f"malformed {obj.qualified_name} in pickle: {exc}") from exc


def _to_plain(obj: Any) -> Any:
    """Replace stand-ins by numpy arrays, recursively through dicts, lists and tuples."""
    if isinstance(obj, _ChumpyArray):
        state = obj.state if isinstance(obj.state, dict) else {}
        if not isinstance(state.get("x"), np.ndarray):
            raise pickle.UnpicklingError(
                f"{obj.qualified_name} is a chumpy expression, not a stored array; "
                "re-save the model with plain numpy arrays"
            )
        return np.asarray(state["x"])
    if isinstance(obj, _SparseMatrix):
        return _sparse_to_dense(obj)
    if isinstance(obj, _PickledState):
        raise pickle.UnpicklingError(f"unexpected object {obj.qualified_name} in pickle")
    if isinstance(obj, dict):
        return {key: _to_plain(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_plain(value) for value in obj)
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise pickle.UnpicklingError("object arrays are not allowed in a model file")
    return obj


def safe_load_pickle(data: bytes) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` and return plain numpy objects.

    Raises :class:`UnsafePickleError` for a forbidden global and ``pickle.UnpicklingError``
    for a truncated or malformed pickle.
    """
    unpickler = RestrictedUnpickler(io.BytesIO(data), encoding="latin1")
    try:
        obj = unpickler.load()
    except UnsafePickleError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, OverflowError) as exc:
        raise pickle.UnpicklingError(f"truncated or corrupt pickle ({type(exc).__name__}: {exc})") from exc
    return _to_plain(obj)


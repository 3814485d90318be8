"""UV layouts from Wavefront OBJ files: SURREAL's ``smpl_uv.obj`` for the official SMPL models.

The official SMPL ``.pkl`` files carry no UVs; SURREAL's textures are drawn for the layout in
its ``smpl_uv.obj`` (SMPL's 6890 vertices and 13776 triangles, each corner with a ``vt`` index).
:func:`uvs_from_obj` reads such a file and returns ``vt``/``ft`` for a model's own faces: each
model triangle is found in the OBJ by its vertex set, whatever the OBJ's face order or corner
rotation, so ``ft[i]`` holds the UVs of ``faces[i]``'s corners in the model's corner order.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from synth_core.body.model_file import BodyModelData
from synth_core.errors import BodyModelFileError


def read_obj_uvs(path: str | Path) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(vertex count, vt T x 2, faces F x 3, ft F x 3) of a triangle OBJ, indices 0-based."""
    path = Path(path)
    if not path.is_file():
        raise BodyModelFileError(f"UV file not found: {path}")
    num_vertices, vt, faces, ft = 0, [], [], []
    try:
        text = path.read_text(errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise BodyModelFileError(f"{path}: not a readable OBJ text file ({exc})") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if fields[0] == "v":
                num_vertices += 1
            elif fields[0] == "vt":
                vt.append([float(fields[1]), float(fields[2])])
            elif fields[0] == "f":
                corners = fields[1:]
                if len(corners) != 3:
                    raise BodyModelFileError(f"{path}: line {number}: face with {len(corners)} corners; "
                                             "only triangles are supported")
                parts = [corner.split("/") for corner in corners]
                if any(len(p) < 2 or not p[1] for p in parts):
                    raise BodyModelFileError(f"{path}: line {number}: face without UV indices "
                                             "(expected 'f v/vt v/vt v/vt')")
                faces.append([_index(p[0], num_vertices) for p in parts])
                ft.append([_index(p[1], len(vt)) for p in parts])
        except (ValueError, IndexError) as exc:
            raise BodyModelFileError(f"{path}: line {number}: cannot parse {line.strip()!r} ({exc})") from exc
    if not vt:
        raise BodyModelFileError(f"{path}: no 'vt' lines: the OBJ has no UV coordinates")
    if not faces:
        raise BodyModelFileError(f"{path}: no faces")
    vt, faces, ft = np.array(vt), np.array(faces, dtype=np.int64), np.array(ft, dtype=np.int64)
    if not np.all(np.isfinite(vt)):
        raise BodyModelFileError(f"{path}: 'vt' holds NaN or infinite values")
    if faces.min() < 0 or faces.max() >= num_vertices or ft.min() < 0 or ft.max() >= len(vt):
        raise BodyModelFileError(f"{path}: a face indexes a vertex or UV that does not exist")
    return num_vertices, vt, faces, ft


def _index(token: str, count: int) -> int:
    """OBJ index (1-based; negative counts back from the last one read) -> 0-based."""
    value = int(token)
    return value - 1 if value > 0 else count + value


def uvs_from_obj(path: str | Path, data: BodyModelData) -> tuple[np.ndarray, np.ndarray]:
    """``vt``, ``ft`` of the OBJ at ``path`` for the faces of ``data`` (see the module docstring).
    Raises BodyModelFileError when the OBJ is not a UV layout of this mesh."""
    num_vertices, vt, obj_faces, obj_ft = read_obj_uvs(path)
    if num_vertices != data.num_vertices or len(obj_faces) != len(data.faces):
        raise BodyModelFileError(
            f"{path}: UV mesh has {num_vertices} vertices and {len(obj_faces)} faces, the body model "
            f"{data.source} has {data.num_vertices} and {len(data.faces)}: it is not this model's UV layout")
    ft = _corner_uvs(obj_faces, obj_ft, data.faces, path)
    return vt, ft


def _corner_uvs(obj_faces, obj_ft, faces, path) -> np.ndarray:
    """UV indices of each model face's corners, looked up in the OBJ by the face's vertex set."""
    lookup = {}
    for face, uv in zip(obj_faces.tolist(), obj_ft.tolist()):
        lookup[frozenset(face)] = dict(zip(face, uv))
    ft = np.empty_like(faces)
    for i, face in enumerate(faces.tolist()):
        corners = lookup.get(frozenset(face))
        if corners is None:
            raise BodyModelFileError(f"{path}: the body model's face {i} (vertices {face}) is not in the "
                                     "UV file: it is not this model's UV layout")
        ft[i] = [corners[v] for v in face]
    return ft


def with_uvs(data: BodyModelData, vt: np.ndarray, ft: np.ndarray) -> BodyModelData:
    """A copy of ``data`` carrying the UVs ``vt``/``ft``."""
    return replace(data, vt=np.asarray(vt, dtype=np.float64), ft=np.asarray(ft, dtype=np.int64))

"""Writing meshes as Wavefront OBJ (with per-corner UVs) and binary PLY (with vertex colours).

Both writers go through a temporary file and rename, so a crash never leaves half a mesh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _atomic_write(path: Path, payload: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    tmp.replace(path)


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray,
              vt: np.ndarray | None = None, ft: np.ndarray | None = None) -> None:
    """vertices V x 3, faces F x 3 (0-based); optional UVs vt T x 2 with corner indices ft F x 3."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    if vt is not None:
        lines += [f"vt {u:.6f} {v:.6f}" for u, v in vt]
        lines += [f"f {a}/{ta} {b}/{tb} {c}/{tc}"
                  for (a, b, c), (ta, tb, tc) in zip(faces + 1, ft + 1)]
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in faces + 1]
    _atomic_write(path, ("\n".join(lines) + "\n").encode())


def write_ply(path: Path, vertices: np.ndarray, faces: np.ndarray,
              colors: np.ndarray | None = None) -> None:
    """Binary little-endian PLY. colors: V x 3 uint8 (optional)."""
    num_vertices, num_faces = len(vertices), len(faces)
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {num_vertices}",
              "property float x", "property float y", "property float z"]
    fields = [("xyz", "<f4", (3,))]
    if colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
        fields.append(("rgb", "u1", (3,)))
    header += [f"element face {num_faces}", "property list uchar int vertex_indices", "end_header"]
    vertex_block = np.empty(num_vertices, dtype=fields)
    vertex_block["xyz"] = vertices
    if colors is not None:
        vertex_block["rgb"] = colors
    face_block = np.empty(num_faces, dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face_block["n"] = 3
    face_block["idx"] = faces
    payload = ("\n".join(header) + "\n").encode() + vertex_block.tobytes() + face_block.tobytes()
    _atomic_write(path, payload)

"""Matplotlib drawings a person looks at: shaded meshes, skeletons."""

from __future__ import annotations

import numpy as np
from matplotlib.collections import PolyCollection

from synth_core.body.parts import SMPL_PARENTS

# View name -> (horizontal axis, vertical axis, depth axis towards the viewer, sign of horizontal).
VIEWS = {"front": (0, 1, 2, 1.0), "side": (2, 1, 0, -1.0), "back": (0, 1, 2, -1.0)}


def draw_mesh(ax, vertices: np.ndarray, faces: np.ndarray, face_colors: np.ndarray,
              view: str = "front", light=(0.3, 0.5, 1.0)) -> None:
    """Painter's-algorithm drawing of a triangle mesh in orthographic projection.

    vertices V x 3 (Y up), faces F x 3, face_colors F x 3 in [0, 1].
    """
    h, v, d, sign = VIEWS[view]
    depth_sign = sign if view != "side" else 1.0
    tri = vertices[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    towards_viewer = normals[:, d] * depth_sign
    visible = towards_viewer > 0
    light_dir = np.array(light, dtype=float)
    light_dir /= np.linalg.norm(light_dir)
    shade = 0.35 + 0.65 * np.clip(towards_viewer * light_dir[2] + normals[:, v] * light_dir[1], 0, 1)
    order = np.argsort(tri[:, :, d].mean(axis=1) * depth_sign)
    order = order[visible[order]]
    polygons = np.stack([tri[order][:, :, h] * sign, tri[order][:, :, v]], axis=2)
    colors = np.clip(face_colors[order] * shade[order, None], 0, 1)
    ax.add_collection(PolyCollection(polygons, facecolors=colors, edgecolors="none"))
    ax.set_xlim(polygons[..., 0].min() - 0.05, polygons[..., 0].max() + 0.05)
    ax.set_ylim(polygons[..., 1].min() - 0.05, polygons[..., 1].max() + 0.05)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_skeleton(ax, joints: np.ndarray, view: str = "front", color="black") -> None:
    """Bones of the SMPL tree as lines, joints as dots (same projection as :func:`draw_mesh`)."""
    h, v, _, sign = VIEWS[view]
    for child, parent in enumerate(SMPL_PARENTS):
        if parent >= 0:
            ax.plot([joints[parent, h] * sign, joints[child, h] * sign],
                    [joints[parent, v], joints[child, v]], color=color, lw=1.2)
    ax.scatter(joints[:, h] * sign, joints[:, v], s=6, color=color, zorder=3)

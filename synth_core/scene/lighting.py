"""Spherical-harmonics lighting as in SURREAL (Ramamoorthi & Hanrahan 2001 irradiance).

Nine greyscale coefficients in SURREAL's order L00, L1-1, L10, L11, L2-2, L2-1, L20, L21, L22.
The shaders (``blender_addon/shaders/sh.osl`` and the add-on's node group) evaluate the same
polynomial as :func:`irradiance` on the world-space shading normal.
"""

from __future__ import annotations

import numpy as np

SH_NAMES = ("L00", "L1m1", "L10", "L11", "L2m2", "L2m1", "L20", "L21", "L22")
C1, C2, C3, C4, C5 = 0.429043, 0.511664, 0.743125, 0.886227, 0.247708


def sample_sh(rng: np.random.Generator) -> np.ndarray:
    """SURREAL's sampler: every coefficient 0.7 U(-1, 1), then L00 = 0.5 + 0.9 U(0, 1)
    (an ambient floor) and L1-1 = -0.7 U(0, 1)."""
    sh = 0.7 * (2.0 * rng.random(9) - 1.0)
    sh[0] = 0.5 + 0.9 * rng.random()
    sh[1] = -0.7 * rng.random()
    return sh


def irradiance(sh, normals: np.ndarray) -> np.ndarray:
    """E(n) for ... x 3 unit normals (world space), before the shaders' max(E, 0)."""
    l00, l1m1, l10, l11, l2m2, l2m1, l20, l21, l22 = np.asarray(sh, dtype=np.float64)
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    return (C1 * l22 * (x * x - y * y) + C3 * l20 * z * z + C4 * l00 - C5 * l20
            + 2.0 * C1 * (l2m2 * x * y + l21 * x * z + l2m1 * y * z)
            + 2.0 * C2 * (l11 * x + l1m1 * y + l10 * z))

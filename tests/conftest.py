"""Shared fixtures: generated SMPL-format model files and an isolated environment."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synth_core.body.parts import JOINT_NAMES, SMPL_PARENTS

# A canonical SMPL-like rest skeleton (metres; Y up, facing +Z, left = +X, arms along +-X).
_LEFT_AND_CENTRE = {
    "pelvis": (0.0, 0.0, 0.0), "left_hip": (0.08, -0.08, 0.0), "spine1": (0.0, 0.10, -0.01),
    "left_knee": (0.09, -0.48, 0.0), "spine2": (0.0, 0.24, 0.0), "left_ankle": (0.09, -0.88, -0.03),
    "spine3": (0.0, 0.30, 0.01), "left_foot": (0.10, -0.94, 0.10), "neck": (0.0, 0.52, -0.01),
    "left_collar": (0.07, 0.42, 0.0), "head": (0.0, 0.62, 0.04), "left_shoulder": (0.17, 0.45, -0.01),
    "left_elbow": (0.43, 0.45, -0.02), "left_wrist": (0.68, 0.45, -0.02), "left_hand": (0.77, 0.45, -0.02),
}


def canonical_joints() -> np.ndarray:
    joints = []
    for name in JOINT_NAMES:
        if name.startswith("right_"):
            x, y, z = _LEFT_AND_CENTRE["left_" + name[len("right_"):]]
            joints.append((-x, y, z))
        else:
            joints.append(_LEFT_AND_CENTRE[name])
    return np.array(joints)


def make_smpl_arrays(seed: int = 0, num_vertices: int = 6890, num_betas: int = 10) -> dict:
    """Random SMPL-format model arrays whose regressed rest joints are exactly the canonical
    skeleton: each joint owns a ring of 8 vertices centred on it, averaged by the regressor."""
    rng = np.random.default_rng(seed)
    joints = canonical_joints()
    num_joints = len(joints)
    ring = 0.03 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4),
                            np.zeros(8)], axis=1)
    ring_vertices = (joints[:, None, :] + ring[None]).reshape(-1, 3)
    owners = np.repeat(np.arange(num_joints), 8)
    extra = num_vertices - len(ring_vertices)
    bones = rng.integers(1, num_joints, size=extra)
    t = rng.uniform(0, 1, size=(extra, 1))
    along = joints[np.array(SMPL_PARENTS)[bones]] * (1 - t) + joints[bones] * t
    vertices = np.concatenate([ring_vertices, along + rng.normal(0, 0.04, size=(extra, 3))])

    weights = np.zeros((num_vertices, num_joints))
    weights[np.arange(len(owners)), owners] = 1.0
    parent_of_bone = np.array(SMPL_PARENTS)[bones]
    share = rng.uniform(0, 1, size=extra)
    weights[len(owners) + np.arange(extra), bones] = share
    weights[len(owners) + np.arange(extra), parent_of_bone] += 1 - share

    regressor = np.zeros((num_joints, num_vertices))
    regressor[owners, np.arange(len(owners))] = 1.0 / 8
    faces = rng.integers(0, num_vertices, size=(2 * num_vertices, 3))
    return {
        "v_template": vertices,
        "shapedirs": rng.normal(0, 0.01, size=(num_vertices, 3, num_betas)),
        "posedirs": rng.normal(0, 0.002, size=(num_vertices, 3, 9 * (num_joints - 1))),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": np.stack([np.array(SMPL_PARENTS), np.arange(num_joints)]),
        "f": faces.astype(np.uint32),
    }


def write_pkl(path, arrays: dict, sparse_regressor: bool = True, protocol: int = 2) -> None:
    """Write arrays as SMPL does: a pickled dict, J_regressor as a scipy sparse matrix."""
    payload = dict(arrays)
    if sparse_regressor:
        import scipy.sparse

        payload["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    with open(path, "wb") as handle:
        pickle.dump(payload, handle, protocol=protocol)


@pytest.fixture
def smpl_arrays() -> dict:
    return make_smpl_arrays()


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path_factory):
    """No user config or licensed-asset folders leak into tests; Blender writes nowhere real."""
    home = tmp_path_factory.mktemp("home")
    for name in ("SYNTH_SMPL_DIR", "SYNTH_AMASS_DIR", "SYNTH_SURREAL_TEXTURES_DIR", "SYNTH_LSUN_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNTH_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("BLENDER_USER_RESOURCES", str(home / "blender"))


@pytest.fixture(scope="session")
def eevee_renderer() -> str:
    """The OpenGL renderer Eevee runs on here; skips the test where Eevee cannot render (no
    GPU driver and no Mesa: Blender would abort)."""
    from synth_cli.farm.workers import check_device
    from synth_core.errors import RenderError

    try:
        return check_device("eevee")
    except RenderError as exc:
        pytest.skip(f"Eevee cannot render here: {exc}")


# The rendered dataset the trainers' tests read: 40 clips of 3 frames at SURREAL's 320x240, so that a
# small network learns from 30 people and backgrounds and is measured on 10 it never saw (frames of
# one clip are near copies: many short clips teach more than a few long ones).
TRAINING_DATASET_RENDER = ["--n", "40", "--frames", "3", "--res", "320x240", "--samples", "2",
                           "--passes", "rgb,depth,segmentation,flow_forward,flow_backward", "--workers", "2"]


# The people the 3D pose learning check needs: one frame each of 200 people (one outfit, background and
# turn each; a network learns which way a person faces from many people, not from many frames of a few).
# Rendered fast: node-group SH and 512-texel textures (bench/one_frame_clips.py), RGB only.
PEOPLE_DATASET_RENDER = ["--n", "200", "--frames", "1", "--res", "160x120", "--samples", "1", "--passes", "rgb",
                         "--shading", "nodes", "--texture-size", "512", "--workers", "2"]


def _render_dataset(tmp_path_factory, name: str, flags: list[str]):
    out = tmp_path_factory.mktemp(name) / "data"
    result = subprocess.run([sys.executable, "-m", "synth_cli", "render", "--out", str(out), *flags],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


@pytest.fixture(scope="session")
def rendered_dataset(tmp_path_factory):
    """A real dataset rendered once per test session by `synth render` (about 50 s on 2 cores).
    Tests must not write into it."""
    return _render_dataset(tmp_path_factory, "rendered", TRAINING_DATASET_RENDER)


@pytest.fixture(scope="session")
def people_dataset(tmp_path_factory):
    """200 one-frame clips rendered once per test session by `synth render` (about 40 s on 2
    cores). Tests must not write into it."""
    return _render_dataset(tmp_path_factory, "people", PEOPLE_DATASET_RENDER)


def run_blender_check(script: str, check: str, *args) -> str:
    """Run ``tests/blender_scripts/<script>.py CHECK ARGS...`` in a fresh Python process (building
    a scene resets Blender's whole state) and return its output; fails unless it printed
    ``OK CHECK``."""
    path = Path(__file__).resolve().parent / "blender_scripts" / f"{script}.py"
    result = subprocess.run([sys.executable, str(path), check, *map(str, args)], capture_output=True, text=True,
                            timeout=900, cwd=path.parents[2])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"OK {check}" in result.stdout
    return result.stdout

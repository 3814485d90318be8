"""AMASS motion files (.npz) -> :class:`MotionClip`, and frame-rate resampling.

AMASS stores, per sequence, ``poses`` (T x 156 for SMPL-H, T x 165 for SMPL-X, T x 72 for
SMPL), ``trans`` (T x 3 metres), ``mocap_framerate`` (``mocap_frame_rate`` in SMPL-X
files) and optionally ``betas`` and ``gender``. The first 66 values are the 22 body joints
that SMPL, SMPL-H and SMPL-X share (root, then 21 in SMPL order); SMPL's joints 22/23 (one
joint per hand) are set to zero for SMPL-H/SMPL-X files, whose hands are finger joints
instead. ``betas`` and ``gender`` are not used: the motion drives whatever body the scene
chooses.

AMASS's world is Z up (an upright body has a root orientation near [pi/2, 0, 0], i.e. +90
degrees about X, and faces -Y at zero heading). The body model's frame is Y up, so the
root orientation and translation are rotated by ``C = R_x(-90 deg)``, which maps
(x, y, z) to (x, z, -y): the world's up (+Z) becomes +Y. Because SMPL rotates the root
about the pelvis joint J0, rotating the whole posed body by C also needs the constant
offset ``C J0 - J0``; pass ``pelvis_rest`` (the J0 of the body you will pose) to include
it, otherwise the clip is exact up to that constant shift of every frame.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.body.parts import NUM_JOINTS
from synth_core.errors import MotionError
from synth_core.motion.clip import MotionClip
from synth_core.motion.rotations import (axis_angle_to_quaternion, matrix_to_axis_angle,
                                         quaternion_to_axis_angle, slerp, unwrap_axis_angle)

# R_x(-90 degrees): Z-up world -> Y-up world, (x, y, z) -> (x, z, -y).
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# values per frame in "poses" -> model name
POSE_LAYOUTS = {72: "SMPL", 156: "SMPL-H", 165: "SMPL-X"}
_BODY_VALUES = 66  # 22 joints x 3 shared by SMPL, SMPL-H and SMPL-X
FRAMERATE_KEYS = ("mocap_framerate", "mocap_frame_rate")


def load_amass(path, target_fps: float = 30.0, *, up_axis: str = "z", pelvis_rest=None) -> MotionClip:
    """Load an AMASS ``.npz`` as a Y-up SMPL clip resampled to ``target_fps``.

    up_axis: "z" for AMASS files (converted as the module docstring says), "y" for files
    already in the body model's frame. pelvis_rest: optional 3-vector, see the module
    docstring. Raises MotionError, naming the file and the key, for anything unusable.
    """
    path = Path(path)
    if up_axis not in ("z", "y"):
        raise MotionError(f"{path}: up_axis must be 'z' or 'y', got {up_axis!r}")
    arrays = _read_npz(path)
    poses = _numeric(arrays, path, "poses")
    trans = _numeric(arrays, path, "trans")
    framerate = _framerate(arrays, path)

    if poses.ndim != 2 or poses.shape[1] not in POSE_LAYOUTS:
        per_frame = poses.shape[1] if poses.ndim == 2 else "?"
        raise MotionError(f"{path}: key 'poses' has shape {poses.shape} ({per_frame} values per frame); expected "
                          f"T x 72 (SMPL), T x 156 (SMPL-H) or T x 165 (SMPL-X)")
    if poses.shape[0] < 1:
        raise MotionError(f"{path}: key 'poses' has no frames")
    if trans.ndim != 2 or trans.shape[1] != 3:
        raise MotionError(f"{path}: key 'trans' has shape {trans.shape}; expected T x 3")
    if trans.shape[0] != poses.shape[0]:
        raise MotionError(f"{path}: key 'trans' has {trans.shape[0]} frames but 'poses' has {poses.shape[0]}")

    pose = np.zeros((poses.shape[0], NUM_JOINTS, 3))
    if poses.shape[1] == NUM_JOINTS * 3:
        pose[:] = poses.reshape(-1, NUM_JOINTS, 3)
    else:
        pose[:, :_BODY_VALUES // 3] = poses[:, :_BODY_VALUES].reshape(-1, _BODY_VALUES // 3, 3)
    transl = trans.astype(np.float64)
    if up_axis == "z":
        pose, transl = z_up_to_y_up(pose, transl, pelvis_rest)
    clip = MotionClip(pose=pose, transl=transl, fps=framerate, source="amass", name=path.name)
    return resample(clip, target_fps)


def z_up_to_y_up(pose: np.ndarray, transl: np.ndarray, pelvis_rest=None) -> tuple[np.ndarray, np.ndarray]:
    """Rotate a Z-up motion (T x 24 x 3 pose, T x 3 transl) into the Y-up body frame:
    root' = C root, transl' = C transl (+ C J0 - J0 when ``pelvis_rest`` J0 is given)."""
    pose = np.array(pose, dtype=np.float64, copy=True)
    root = Z_UP_TO_Y_UP @ axis_angle_to_matrix(pose[:, 0])
    pose[:, 0] = unwrap_axis_angle(matrix_to_axis_angle(root))
    transl = np.asarray(transl, dtype=np.float64) @ Z_UP_TO_Y_UP.T
    if pelvis_rest is not None:
        pelvis = np.asarray(pelvis_rest, dtype=np.float64).reshape(3)
        transl = transl + Z_UP_TO_Y_UP @ pelvis - pelvis
    return pose, transl


def resample(clip: MotionClip, target_fps: float) -> MotionClip:
    """Resample to ``target_fps`` over the clip's duration: each joint's rotation by
    quaternion slerp between the neighbouring frames, translation linearly.

    Frame k of the result is at time k / target_fps; the last one at or before the
    clip's last frame, so 121 frames at 120 fps give 31 frames at 30 fps.
    """
    try:
        target_fps = float(target_fps)
    except (TypeError, ValueError):
        raise MotionError(f"motion {clip.name!r}: target fps must be a number, got {target_fps!r}") from None
    if not math.isfinite(target_fps) or target_fps <= 0:
        raise MotionError(f"motion {clip.name!r}: target fps must be positive and finite, got {target_fps!r}")
    if target_fps == clip.fps:
        return clip
    n_frames = int(math.floor((clip.n_frames - 1) * target_fps / clip.fps + 1e-9)) + 1
    position = np.arange(n_frames) * (clip.fps / target_fps)  # in source frames
    before = np.minimum(np.floor(position + 1e-9).astype(int), clip.n_frames - 1)
    after = np.minimum(before + 1, clip.n_frames - 1)
    fraction = np.clip(position - before, 0.0, 1.0)

    quaternions = axis_angle_to_quaternion(clip.pose)
    blended = slerp(quaternions[before], quaternions[after], np.repeat(fraction[:, None], NUM_JOINTS, axis=1))
    pose = unwrap_axis_angle(quaternion_to_axis_angle(blended))
    transl = clip.transl[before] * (1 - fraction[:, None]) + clip.transl[after] * fraction[:, None]
    return MotionClip(pose=pose, transl=transl, fps=target_fps, source=clip.source, name=clip.name)


def _read_npz(path: Path):
    if not path.is_file():
        raise MotionError(f"{path}: AMASS motion file does not exist")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MotionError(f"{path}: not a readable .npz (zip of .npy) file ({exc})") from exc
    if not isinstance(arrays, np.lib.npyio.NpzFile):
        raise MotionError(f"{path}: is a single .npy array, not an .npz with keys 'poses', 'trans', "
                          f"'mocap_framerate'")
    return arrays


def _get(arrays, path: Path, key: str) -> np.ndarray:
    if key not in arrays.files:
        raise MotionError(f"{path}: missing key {key!r} (keys present: {sorted(arrays.files)})")
    try:
        return np.asarray(arrays[key])
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MotionError(f"{path}: key {key!r} cannot be read without pickle ({exc})") from exc


def _numeric(arrays, path: Path, key: str) -> np.ndarray:
    value = _get(arrays, path, key)
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise MotionError(f"{path}: key {key!r} must be numeric, got dtype {value.dtype}")
    value = value.astype(np.float64)
    if not np.all(np.isfinite(value)):
        frame = int(np.argwhere(~np.isfinite(value))[0][0]) if value.ndim else 0
        raise MotionError(f"{path}: key {key!r} has NaN or infinite values (first at frame {frame})")
    return value


def _framerate(arrays, path: Path) -> float:
    key = next((name for name in FRAMERATE_KEYS if name in arrays.files), None)
    if key is None:
        raise MotionError(f"{path}: missing key 'mocap_framerate' (or 'mocap_frame_rate'); "
                          f"keys present: {sorted(arrays.files)}")
    value = _numeric(arrays, path, key)
    if value.size != 1:
        raise MotionError(f"{path}: key {key!r} must be one number, got shape {value.shape}")
    rate = float(value.reshape(()))
    if rate <= 0:
        raise MotionError(f"{path}: key {key!r} must be a positive frame rate, got {rate:g}")
    return rate

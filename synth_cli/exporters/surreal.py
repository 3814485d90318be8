"""Export clips in SURREAL's file layout, so code written for SURREAL reads them unchanged.

Per clip ``<name>`` (the clip folder's name), in the output folder:

- ``<name>_info.mat``: joints2D 2x24xT (px, 0-based, pixel centres at integers), joints3D
  3x24xT (world metres, Z up), pose 72xT, camLoc 3x1, camDist, zrot Tx1,
  gender Tx1 (0 female, 1 male as SURREAL's data; 2 neutral, which SURREAL never had),
  light 9xT, bg / cloth (Tx1 cells), sequence, clipNo, stride, source, and the body:
  ``body_model`` ('smpl' or 'default': the model the betas belong to), ``betas_<body_model>``
  KxT (all K betas of the clip), and SURREAL's ``shape`` 10xT **only for SMPL bodies**. The
  default body's betas are coordinates in another shape space: written as ``shape`` they
  would rebuild a wrong body in any SMPL-based SURREAL loader, so such clips have no
  ``shape`` and ``info['shape']`` fails loudly instead;
- ``<name>_depth.mat``: depth_1 ... depth_T, float32 metres, background 1e10;
- ``<name>_segm.mat``: segm_1 ... segm_T, uint8 part ids 0..24 (an occluder's pixels, 25 in our
  format, are background, 0: SURREAL has no occluders);
- ``<name>_gtflow.mat``: gtflow_1 ... gtflow_T, float32 H x W x 2: Blender's vector pass
  channels X, Y as SURREAL stored them, i.e. (bx, -by) with (bx, by) our backward flow
  (dx right, dy down). SURREAL users negate x (their issue #3) and get -backward flow;
- ``<name>.mp4``: H.264, yuv420p, the clip's fps (SURREAL: 30).

Arrays are float32 as in SURREAL's files. A clip's export is all or nothing: its files are
written into a hidden staging folder inside the output folder and renamed into place only
after all of them succeeded, so a clip that fails half-way leaves no file and an earlier
export of it stays untouched. FORMAT.md ("SURREAL export") has the full mapping.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from synth_core.body.catalog import BODY_SOURCES
from synth_core.body.parts import person_mask
from synth_core.dataset import Clip
from synth_core.errors import DatasetFormatError

SURREAL_GENDER = {"female": 0, "male": 1, "neutral": 2}
DEPTH_BACKGROUND = 1e10
SURREAL_BETAS = 10
MP4_CRF = 18
CLIP_FILE_SUFFIXES = ("_info.mat", "_depth.mat", "_segm.mat", "_gtflow.mat", ".mp4")
STAGING_SUFFIX = ".export-tmp"


def export_clip(clip: Clip, out_dir: Path, log=print) -> list[Path]:
    """Write the SURREAL files of one clip into ``out_dir``, all or nothing; returns the paths
    written. Passes the clip lacks (depth, segmentation, flow_backward, rgb) give no file, and
    files of an earlier export of this clip that the new one does not have are removed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{clip.path.name}.", suffix=STAGING_SUFFIX, dir=out_dir))
    try:
        return _publish(_write_clip_files(clip, staging, log), out_dir, clip.path.name, log)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_clip_files(clip: Clip, folder: Path, log) -> list[Path]:
    name = clip.path.name
    info = info_dict(clip)
    if "shape" not in info:  # the same note for every such clip: no clip name in it
        log(f"{smpl_shape(info['body_model'], clip.annotations['betas'])[1]}: no 'shape' field, "
            f"the betas are in 'betas_{info['body_model']}'")
    written = [_savemat(folder / f"{name}_info.mat", info)]
    for pass_name, suffix, converter in (("depth", "depth", depth_for_surreal),
                                         ("segmentation", "segm", lambda segm: np.where(person_mask(segm), segm, 0)),
                                         ("flow_backward", "gtflow", gtflow_for_surreal)):
        if pass_name not in clip.passes:
            log(f"{name}: no {pass_name} pass, so no _{suffix}.mat")
            continue
        arrays = {f"{suffix}_{i + 1}": converter(clip.frame(i, passes=[pass_name])[pass_name])
                  for i in range(clip.n_frames)}
        written.append(_savemat(folder / f"{name}_{suffix}.mat", arrays))
    if "rgb" in clip.passes:
        written.append(write_mp4(clip, folder / f"{name}.mp4"))
    else:
        log(f"{name}: no rgb pass, so no .mp4")
    return written


def _publish(staged: list[Path], out_dir: Path, name: str, log) -> list[Path]:
    """Move a clip's complete set of files into ``out_dir``; drop the files an earlier export
    of the clip left that this set lacks (they described another version of the clip)."""
    published = []
    for path in staged:
        published.append(out_dir / path.name)
        os.replace(path, published[-1])
    for stale in (out_dir / f"{name}{suffix}" for suffix in CLIP_FILE_SUFFIXES):
        if stale not in published and stale.is_file():
            stale.unlink()
            log(f"{name}: removed {stale.name} of an earlier export (the clip has no such pass now)")
    return published


def info_dict(clip: Clip) -> dict:
    """The ``_info.mat`` fields, shaped and typed as SURREAL's, plus which body model the
    betas belong to (``body_model``, ``betas_<body_model>``)."""
    a, meta, frames = clip.annotations, clip.meta, clip.n_frames
    if np.ndim(a["camera_Rt"]) == 3:
        raise DatasetFormatError(f"clip {clip.path} has a moving camera; SURREAL's _info.mat holds one camera "
                                 f"per clip (camLoc), so it cannot be exported")
    rotation, translation = a["camera_Rt"][:, :3], a["camera_Rt"][:, 3]
    camera_location = -rotation.T @ translation
    body = meta.get("body", {})
    model = str(body.get("source"))
    if model not in BODY_SOURCES:
        raise DatasetFormatError(f"clip {clip.path}: meta body.source {body.get('source')!r} is not one of "
                                 f"{', '.join(BODY_SOURCES)}")
    gender = str(body.get("gender", "neutral"))
    if gender not in SURREAL_GENDER:
        raise DatasetFormatError(f"clip {clip.path}: meta body.gender {gender!r} is not one of "
                                 f"{', '.join(SURREAL_GENDER)}")
    motion = meta.get("motion", {})
    steps = np.diff(a["frame_indices"])
    shape = smpl_shape(model, a["betas"])[0]
    info = {
        "joints2D": a["joints2d"].transpose(2, 1, 0).astype(np.float32),
        "joints3D": a["joints3d_world"].transpose(2, 1, 0).astype(np.float32),
        "pose": a["pose"].reshape(frames, -1).T.astype(np.float32),
        "shape": None if shape is None else _per_frame(shape, frames),
        "body_model": model,
        f"betas_{model}": _per_frame(a["betas"], frames),
        "camLoc": camera_location.reshape(3, 1),
        "camDist": float(np.linalg.norm(camera_location - a["joints3d_world"][0, 0])),
        "zrot": np.full((frames, 1), a["yaw"], dtype=np.float32),
        "gender": np.full((frames, 1), SURREAL_GENDER[gender], dtype=np.uint8),
        "light": _per_frame(a["sh"], frames),
        "bg": _cells(str(meta.get("background_id", "")), frames),
        "cloth": _cells(str(meta.get("texture_id", "")), frames),
        "sequence": f"{motion.get('name', clip.path.name)}_c0001",
        "clipNo": 1,
        "stride": int(np.median(steps)) if steps.size else 1,
        "source": str(motion.get("source", "")),
    }
    return {field: value for field, value in info.items() if value is not None}


def smpl_shape(model: str, betas: np.ndarray) -> tuple[np.ndarray | None, str]:
    """SURREAL's ``shape`` (SMPL's first 10 betas, zero-padded) and why, or None and why not:
    only SMPL betas are SMPL betas, and only when none past the 10th is set."""
    betas = np.asarray(betas, dtype=np.float64).ravel()
    if model != "smpl":
        return None, f"the {model} body's betas are not SMPL betas"
    if np.any(betas[SURREAL_BETAS:] != 0):
        return None, f"{betas.size} SMPL betas do not fit SURREAL's {SURREAL_BETAS}"
    padded = np.zeros(SURREAL_BETAS)
    padded[: min(SURREAL_BETAS, betas.size)] = betas[:SURREAL_BETAS]
    return padded, "SMPL betas"


def depth_for_surreal(depth: np.ndarray) -> np.ndarray:
    return np.where(depth > 0, depth, np.float32(DEPTH_BACKGROUND)).astype(np.float32)


def gtflow_for_surreal(flow_backward: np.ndarray) -> np.ndarray:
    """Our backward flow (dx right, dy down) -> Blender's vector-pass X, Y (y up), as SURREAL."""
    return np.stack([flow_backward[..., 0], -flow_backward[..., 1]], axis=-1).astype(np.float32)


def write_mp4(clip: Clip, path: Path) -> Path:
    import imageio.v2 as imageio

    fps = float(clip.meta.get("fps", 30))
    with imageio.get_writer(path, format="FFMPEG", fps=fps, codec="libx264", quality=None,
                            pixelformat="yuv420p", macro_block_size=2,
                            output_params=["-crf", str(MP4_CRF)]) as writer:
        for i in range(clip.n_frames):
            writer.append_data(clip.frame(i, passes=["rgb"])["rgb"])
    return path


def _per_frame(values: np.ndarray, frames: int) -> np.ndarray:
    """A per-clip vector repeated per frame (K x T), as SURREAL stores shape and light."""
    return np.repeat(np.asarray(values).ravel()[:, None], frames, axis=1).astype(np.float32)


def _cells(text: str, frames: int) -> np.ndarray:
    cells = np.empty((frames, 1), dtype=object)
    cells[:, 0] = text
    return cells


def _savemat(path: Path, arrays: dict) -> Path:
    import scipy.io

    with open(path, "wb") as handle:
        scipy.io.savemat(handle, arrays, do_compression=True, oned_as="column")
    return path

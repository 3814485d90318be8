"""Export clips in SURREAL's file layout, so code written for SURREAL reads them unchanged.

Per clip ``<name>`` (the clip folder's name), in the output folder:

- ``<name>_info.mat``: joints2D 2x24xT (px, 0-based, pixel centres at integers), joints3D
  3x24xT (world metres, Z up), pose 72xT, shape 10xT, camLoc 3x1, camDist, zrot Tx1,
  gender Tx1 (0 female, 1 male as SURREAL's data; 2 neutral, which SURREAL never had),
  light 9xT, bg / cloth (Tx1 cells), sequence, clipNo, stride, source;
- ``<name>_depth.mat``: depth_1 ... depth_T, float32 metres, background 1e10;
- ``<name>_segm.mat``: segm_1 ... segm_T, uint8 part ids 0..24;
- ``<name>_gtflow.mat``: gtflow_1 ... gtflow_T, float32 H x W x 2: Blender's vector pass
  channels X, Y as SURREAL stored them, i.e. (bx, -by) with (bx, by) our backward flow
  (dx right, dy down). SURREAL users negate x (their issue #3) and get -backward flow;
- ``<name>.mp4``: H.264, yuv420p, the clip's fps (SURREAL: 30).

Arrays are float32 as in SURREAL's files. Every file is written under a temporary name and
renamed into place. FORMAT.md ("SURREAL export") has the full mapping.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from synth_core.dataset import Clip
from synth_core.errors import DatasetFormatError

SURREAL_GENDER = {"female": 0, "male": 1, "neutral": 2}
DEPTH_BACKGROUND = 1e10
SURREAL_BETAS = 10
MP4_CRF = 18


def export_clip(clip: Clip, out_dir: Path, log=print) -> list[Path]:
    """Write the SURREAL files of one clip into ``out_dir``; returns the paths written.
    Passes the clip lacks (depth, segmentation, flow_backward, rgb) give no file."""
    name = clip.path.name
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [_atomic_savemat(out_dir / f"{name}_info.mat", info_dict(clip))]
    for pass_name, suffix, converter in (("depth", "depth", depth_for_surreal),
                                         ("segmentation", "segm", lambda segm: segm),
                                         ("flow_backward", "gtflow", gtflow_for_surreal)):
        if pass_name not in clip.passes:
            log(f"{name}: no {pass_name} pass, so no _{suffix}.mat")
            continue
        arrays = {f"{suffix}_{i + 1}": converter(clip.frame(i, passes=[pass_name])[pass_name])
                  for i in range(clip.n_frames)}
        written.append(_atomic_savemat(out_dir / f"{name}_{suffix}.mat", arrays))
    if "rgb" in clip.passes:
        written.append(write_mp4(clip, out_dir / f"{name}.mp4"))
    else:
        log(f"{name}: no rgb pass, so no .mp4")
    return written


def info_dict(clip: Clip) -> dict:
    """The ``_info.mat`` fields, shaped and typed as SURREAL's."""
    a, meta, frames = clip.annotations, clip.meta, clip.n_frames
    rotation, translation = a["camera_Rt"][:, :3], a["camera_Rt"][:, 3]
    camera_location = -rotation.T @ translation
    betas = np.zeros(SURREAL_BETAS)
    betas[: min(SURREAL_BETAS, len(a["betas"]))] = a["betas"][:SURREAL_BETAS]
    gender = str(meta.get("body", {}).get("gender", "neutral"))
    if gender not in SURREAL_GENDER:
        raise DatasetFormatError(f"clip {clip.path}: meta body.gender {gender!r} is not one of "
                                 f"{', '.join(SURREAL_GENDER)}")
    motion = meta.get("motion", {})
    steps = np.diff(a["frame_indices"])
    return {
        "joints2D": a["joints2d"].transpose(2, 1, 0).astype(np.float32),
        "joints3D": a["joints3d_world"].transpose(2, 1, 0).astype(np.float32),
        "pose": a["pose"].reshape(frames, -1).T.astype(np.float32),
        "shape": np.repeat(betas[:, None], frames, axis=1).astype(np.float32),
        "camLoc": camera_location.reshape(3, 1),
        "camDist": float(np.linalg.norm(camera_location - a["joints3d_world"][0, 0])),
        "zrot": np.full((frames, 1), a["yaw"], dtype=np.float32),
        "gender": np.full((frames, 1), SURREAL_GENDER[gender], dtype=np.uint8),
        "light": np.repeat(a["sh"][:, None], frames, axis=1).astype(np.float32),
        "bg": _cells(str(meta.get("background_id", "")), frames),
        "cloth": _cells(str(meta.get("texture_id", "")), frames),
        "sequence": f"{motion.get('name', clip.path.name)}_c0001",
        "clipNo": 1,
        "stride": int(np.median(steps)) if steps.size else 1,
        "source": str(motion.get("source", "")),
    }


def depth_for_surreal(depth: np.ndarray) -> np.ndarray:
    return np.where(depth > 0, depth, np.float32(DEPTH_BACKGROUND)).astype(np.float32)


def gtflow_for_surreal(flow_backward: np.ndarray) -> np.ndarray:
    """Our backward flow (dx right, dy down) -> Blender's vector-pass X, Y (y up), as SURREAL."""
    return np.stack([flow_backward[..., 0], -flow_backward[..., 1]], axis=-1).astype(np.float32)


def write_mp4(clip: Clip, path: Path) -> Path:
    import imageio.v2 as imageio

    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fps = float(clip.meta.get("fps", 30))
    try:
        with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=None,
                                pixelformat="yuv420p", macro_block_size=2,
                                output_params=["-crf", str(MP4_CRF)]) as writer:
            for i in range(clip.n_frames):
                writer.append_data(clip.frame(i, passes=["rgb"])["rgb"])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _cells(text: str, frames: int) -> np.ndarray:
    cells = np.empty((frames, 1), dtype=object)
    cells[:, 0] = text
    return cells


def _atomic_savemat(path: Path, arrays: dict) -> Path:
    import scipy.io

    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            scipy.io.savemat(handle, arrays, do_compression=True, oned_as="column")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

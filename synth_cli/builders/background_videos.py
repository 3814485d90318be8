"""The free background videos: views of the free HDRIs through a moving virtual camera, each
with its exact camera track beside it (``<video>.track.json``, synth_core.background_video).

Each video draws an HDRI, a view of it (synth_core.backgrounds.sample_background_spec), a lens
of 25-60 mm and constant pan, tilt and zoom rates from its own seed; frames are the panorama
looked up along every pixel's ray (synth_core.backgrounds.MovingPlates), encoded as H.264.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from synth_core.backgrounds import MovingPlates, background_pool, sample_background_spec
from synth_core.background_video import write_track
from synth_core.imaging import linear_to_srgb_uint8
from synth_core.scene import camera as cam

SENSOR_WIDTH_MM = 32.0
LENS_MM = (25.0, 60.0)
RATE_STD = {"pan_deg_s": 12.0, "tilt_deg_s": 3.0, "zoom_per_s": 0.08, "dolly_m_s": 0.0}
VIDEO_CRF = 16


def video_track(seed: int, n_frames: int, fps: float, width: int, height: int):
    """(background spec, rotations N x 3 x 3 relative to frame 0, focal lengths N px, cameras)
    of video ``seed``: everything random comes from the seed."""
    rng = np.random.default_rng([int(seed), 20261128])
    spec = {**sample_background_spec(rng, background_pool(kinds=("hdri",))), "flip": False}
    lens = float(rng.uniform(*LENS_MM))
    motion = {name: float(rng.normal(0.0, std)) for name, std in RATE_STD.items()}
    reference = cam.look_at([0.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    moved = [cam.moved_camera(reference, lens, motion, (t - (n_frames - 1) / 2) / fps) for t in range(n_frames)]
    rts = np.array([rt for rt, _ in moved])
    ks = np.array([cam.intrinsics(focal, SENSOR_WIDTH_MM, width, height) for _, focal in moved])
    rotations = rts[:, :, :3] @ rts[0, :, :3].T
    k_ref = cam.intrinsics(lens, SENSOR_WIDTH_MM, width, height)
    return spec, rotations, ks[:, 0, 0], (ks, rts, k_ref, reference)


def build_video(path: Path, seed: int, n_frames: int = 300, fps: float = 30.0, width: int = 640,
                height: int = 480) -> Path:
    """Write video ``seed`` to ``path`` (.mp4) and its track beside it, atomically."""
    import imageio.v2 as imageio

    spec, rotations, focal, (ks, rts, k_ref, reference) = video_track(seed, n_frames, fps, width, height)
    plates = MovingPlates(spec, k_ref, reference, height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.mp4")
    os.close(handle)
    try:
        with imageio.get_writer(temporary, format="FFMPEG", fps=fps, codec="libx264", quality=None,
                                pixelformat="yuv420p", macro_block_size=2,
                                output_params=["-crf", str(VIDEO_CRF)]) as writer:
            for k, rt in zip(ks, rts):
                writer.append_data(linear_to_srgb_uint8(plates.view(k, rt)))
        os.chmod(temporary, 0o644)  # mkstemp makes 0600
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
    write_track(path, rotations, focal, width, height)
    return path

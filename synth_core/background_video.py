"""Background videos for a moving camera (Doersch & Zisserman 2019): a user's folder of videos,
or the free ones `synth backgrounds video` makes from the HDRIs by a moving virtual camera.

A video's camera motion is its **track**: for every frame, the rotation of its camera relative
to the first frame (3 x 3, camera-0 axes -> camera-t axes, OpenCV) and its focal length in pixels
of the video. The free videos carry their exact track in a sidecar ``<video>.track.json``; any
other video's is estimated here (OpenCV: corners tracked by pyramidal Lucas-Kanade between
consecutive frames, a RANSAC homography per pair, the rotation and zoom nearest to it for an
assumed focal length, chained). The render camera then turns and zooms with the track, so the
person moves with the background (the paper offsets the person by the estimated camera motion;
here the 3-D camera itself follows it), and the background's optical flow is the track's
infinite homography: exact with a sidecar track, as good as the estimate otherwise (a video's own
parallax and moving objects are not in it). ``meta.json`` says which (``background_flow``).

A background spec of a video::

    {"id": "video:/abs/path/clip.mp4", "projection": "video", "start": 37, "flip": false,
     "crop": {}, "exposure": null}

``start`` is the video frame of the clip's padded frame 0 (one before the first rendered
frame). Frames are scaled to cover the render size and centre-cropped; video frames are
display-referred sRGB, turned into linear light for compositing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from synth_core.errors import BackgroundError

VIDEO_PREFIX = "video:"
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
TRACK_SUFFIX = ".track.json"
ANALYSIS_WIDTH = 320        # frames are tracked at this width (corners, LK, homographies)
MIN_TRACKED_CORNERS = 12    # fewer between two frames: that step is taken as no motion


def video_pool(folder: str | Path) -> list[str]:
    """``video:<absolute path>`` of every video in ``folder`` (recursively), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BackgroundError(f"background video folder {folder} does not exist or is not a folder")
    videos = sorted(p.resolve() for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise BackgroundError(f"background video folder {folder} holds no video ({', '.join(VIDEO_SUFFIXES)}); "
                              f"`synth backgrounds video --out {folder}` makes free ones from the HDRIs")
    return [VIDEO_PREFIX + str(p) for p in videos]


def video_path(spec_or_id) -> Path:
    background = spec_or_id["id"] if isinstance(spec_or_id, dict) else spec_or_id
    return Path(background[len(VIDEO_PREFIX):])


def is_video(background: str) -> bool:
    return background.startswith(VIDEO_PREFIX)


def _capture(path: Path):
    import cv2

    if not path.is_file():
        raise BackgroundError(f"background video {path} does not exist")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise BackgroundError(f"cannot open background video {path} (not a video, or a codec OpenCV lacks)")
    return capture


def _stream(path: Path, start: int = 0, count: int | None = None):
    """Frames ``start`` .. ``start + count - 1`` of a video (RGB uint8), decoded one at a time
    (frames before ``start`` are only grabbed, not converted)."""
    import cv2

    capture = _capture(path)
    try:
        for _ in range(start):
            if not capture.grab():
                return
        index = 0
        while count is None or index < count:
            ok, frame = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


@lru_cache(maxsize=64)
def _length(path: str, modified_ns: int) -> int:
    capture = _capture(Path(path))
    try:
        count = 0
        while capture.grab():
            count += 1
    finally:
        capture.release()
    if not count:
        raise BackgroundError(f"background video {path} has no readable frame")
    return count


def video_length(path: str | Path) -> int:
    """The number of frames of a video, counted by decoding (containers' counts can be wrong)."""
    path = Path(path)
    if not path.is_file():
        raise BackgroundError(f"background video {path} does not exist")
    return _length(str(path), path.stat().st_mtime_ns)


def video_window(path: str | Path, start: int, count: int) -> list[np.ndarray]:
    """Frames ``start`` .. ``start + count - 1`` of a video (RGB uint8)."""
    frames = list(_stream(Path(path), start, count))
    if len(frames) != count:
        raise BackgroundError(f"background video {path} has {video_length(path)} frames; frames "
                              f"{start}..{start + count - 1} were asked for")
    return frames


def sample_video_spec(rng: np.random.Generator, pool: list[str], n_frames: int) -> dict:
    """A video of ``pool`` and a start leaving room for the clip's padded frames (n + 2)."""
    background = pool[int(rng.integers(len(pool)))]
    available = video_length(video_path(background))
    needed = n_frames + 2
    if available < needed:
        raise BackgroundError(f"background video {video_path(background)} has {available} frames; clips of "
                              f"{n_frames} frames need {needed} (one more at each end, for the flow)")
    return {"id": background, "projection": "video", "start": int(rng.integers(0, available - needed + 1)),
            "flip": False, "crop": {}, "exposure": None}


# --------------------------------------------------------------------------------------- tracks

def write_track(path: Path, rotations: np.ndarray, focal_px: np.ndarray, width: int, height: int) -> None:
    """The sidecar of video ``path``: its exact camera track."""
    from synth_core.mesh_io import _atomic_write

    data = {"width": width, "height": height, "focal_px": [float(f) for f in focal_px],
            "rotations": np.asarray(rotations, dtype=np.float64).round(12).tolist()}
    _atomic_write(Path(str(path) + TRACK_SUFFIX), (json.dumps(data) + "\n").encode())


def video_track(path: str | Path, assumed_focal_px: float) -> tuple[np.ndarray, np.ndarray, bool]:
    """(rotations N x 3 x 3 relative to frame 0, focal lengths N in video pixels, exact?) of a
    video: its sidecar's, else estimated with ``assumed_focal_px`` as frame 0's focal length."""
    path = Path(path)
    sidecar = Path(str(path) + TRACK_SUFFIX)
    length = video_length(path)
    if sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text())
            rotations, focal = np.asarray(data["rotations"], dtype=np.float64), np.asarray(data["focal_px"], float)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BackgroundError(f"cannot read the camera track {sidecar}: {exc}") from None
        if rotations.shape != (length, 3, 3) or focal.shape != (length,):
            raise BackgroundError(f"camera track {sidecar} holds {len(focal)} frames; its video has {length}")
        return rotations, focal, True
    rotations, focal = _estimated_track(str(path), path.stat().st_mtime_ns, float(assumed_focal_px))
    return rotations, focal, False


@lru_cache(maxsize=16)
def _estimated_track(path: str, modified_ns: int, focal_px: float) -> tuple[np.ndarray, np.ndarray]:
    return estimate_track(_stream(Path(path)), focal_px)


def estimate_track(frames, focal_px: float) -> tuple[np.ndarray, np.ndarray]:
    """(rotations N x 3 x 3, focal lengths N) of a camera that only turns and zooms, chained
    from the homographies between consecutive frames (any iterable of RGB frames; each is
    analysed at ANALYSIS_WIDTH; see the module's docstring)."""
    import cv2

    rotations, focals, previous = [np.eye(3)], [float(focal_px)], None
    for frame in frames:
        height, width = frame.shape[:2]
        scale = min(1.0, ANALYSIS_WIDTH / width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        current = cv2.cvtColor(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        if previous is None:
            previous = current
            continue
        matches, previous = _matches(previous, current), current
        if matches is None:
            rotations.append(rotations[-1])
            focals.append(focals[-1])
            continue
        # back to full-resolution pixel centres
        before, after = ((points + 0.5) / scale - 0.5 for points in matches)
        step, zoom = fit_rotation_and_zoom(before, after, focals[-1], width, height)
        rotations.append(step @ rotations[-1])
        focals.append(focals[-1] * zoom)
    return np.array(rotations), np.array(focals)


def _matches(previous: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Corners of ``previous`` and where they are in ``current`` (N x 2 each), RANSAC inliers of
    a homography (moving objects are left out); None when too few survive."""
    import cv2

    corners = cv2.goodFeaturesToTrack(previous, maxCorners=400, qualityLevel=0.01, minDistance=6)
    if corners is None or len(corners) < MIN_TRACKED_CORNERS:
        return None
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, corners, None, winSize=(21, 21), maxLevel=3)
    kept = status.ravel() == 1
    if kept.sum() < MIN_TRACKED_CORNERS:
        return None
    _, inliers = cv2.findHomography(corners[kept], moved[kept], cv2.RANSAC, 1.0)
    if inliers is None or inliers.sum() < MIN_TRACKED_CORNERS:
        return None
    inliers = inliers.ravel() == 1
    return corners[kept][inliers].reshape(-1, 2).astype(np.float64), moved[kept][inliers].reshape(-1, 2).astype(np.float64)


def fit_rotation_and_zoom(before: np.ndarray, after: np.ndarray, focal_px: float, width: int,
                          height: int) -> tuple[np.ndarray, float]:
    """The turn R and zoom s of a camera with focal length ``focal_px`` (principal point centred)
    that move the points ``before`` (N x 2 pixels) nearest to ``after``: least squares in pixels
    from :func:`rotation_and_zoom` of the points' homography. With the wrong focal length no turn
    explains the motion exactly; this one matches it best in the image, which is what the
    background's flow and the body's motion are made of."""
    import cv2
    from scipy.optimize import least_squares

    def project(parameters: np.ndarray) -> np.ndarray:
        k0 = np.array([[focal_px, 0, (width - 1) / 2], [0, focal_px, (height - 1) / 2], [0, 0, 1.0]])
        k1 = k0.copy()
        k1[:2, :2] *= np.exp(parameters[3])
        moved = np.c_[before, np.ones(len(before))] @ (k1 @ rotation_matrices(parameters[:3])[0] @ np.linalg.inv(k0)).T
        return (moved[:, :2] / moved[:, 2:] - after).ravel()

    homography, _ = cv2.findHomography(before, after, 0)
    rotation, zoom = rotation_and_zoom(homography, focal_px, width, height)
    start = np.r_[rotation_vectors(rotation[None])[0], np.log(zoom)]
    fit = least_squares(project, start, method="lm")
    return rotation_matrices(fit.x[:3])[0], float(np.exp(fit.x[3]))


def rotation_and_zoom(homography: np.ndarray, focal_px: float, width: int, height: int) -> tuple[np.ndarray, float]:
    """The rotation R and zoom s (focal length ratio) nearest to a homography between two frames
    of a camera that only turns and zooms about its centred principal point: in centred pixel
    coordinates H ~ diag(s f, s f, 1) R diag(1/f, 1/f, 1), so A = F^-1 C^-1 H C F ~ diag(s, s, 1) R;
    s is the ratio of A's first two rows' norms to its third's, R the rotation nearest to
    diag(1/s, 1/s, 1) A (SVD)."""
    centre = np.array([[1.0, 0.0, (width - 1) / 2], [0.0, 1.0, (height - 1) / 2], [0.0, 0.0, 1.0]])
    focal = np.diag([focal_px, focal_px, 1.0])
    a = np.linalg.inv(focal) @ np.linalg.inv(centre) @ homography @ centre @ focal
    norms = np.linalg.norm(a, axis=1)
    zoom = float((norms[0] + norms[1]) / 2 / norms[2])
    u, _, vt = np.linalg.svd(np.diag([1 / zoom, 1 / zoom, 1.0]) @ a)
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        rotation = -rotation
    return rotation, zoom


# --------------------------------------------------------------------------------------- plates

def cover_scale(video_width: int, video_height: int, width: int, height: int) -> float:
    """The scale that makes a video frame cover the render size (then centre-cropped)."""
    return max(width / video_width, height / video_height)


def cover_resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """A video frame (uint8) scaled to cover width x height about its centre and cropped. The
    crop keeps the principal point at the image centre, so K scales by :func:`cover_scale`."""
    import cv2

    video_height, video_width = frame.shape[:2]
    scale = cover_scale(video_width, video_height, width, height)
    # output pixel centre x maps to video x' = (x - (W - 1) / 2) / scale + (w - 1) / 2
    affine = np.array([[scale, 0.0, (width - 1) / 2 - scale * (video_width - 1) / 2],
                       [0.0, scale, (height - 1) / 2 - scale * (video_height - 1) / 2]])
    if scale < 1:  # blur away what the smaller grid cannot hold (warpAffine only interpolates)
        frame = cv2.GaussianBlur(frame, (0, 0), sigmaX=0.5 / scale)
    return cv2.warpAffine(frame, affine, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def video_plate(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """float32 linear plate of a video frame (:func:`cover_resize` unless it has the size already)."""
    from synth_core.imaging import srgb_to_linear

    if frame.shape[:2] != (height, width):
        frame = cover_resize(frame, width, height)
    return np.ascontiguousarray(srgb_to_linear(frame.astype(np.float32) / 255.0), dtype=np.float32)


def window_track(spec: dict, n_padded: int, width: int, height: int, assumed_focal_px: float):
    """(rotations n_padded x 3 x 3 relative to the window's middle frame, focal lengths in
    render pixels, exact?) of a video background's window of frames."""
    start, length = int(spec["start"]), video_length(video_path(spec))
    if start < 0 or start + n_padded > length:
        raise BackgroundError(f"background video {video_path(spec)} has {length} frames; the plan uses "
                              f"frames {start}..{start + n_padded - 1}")
    video_height, video_width = video_window(video_path(spec), 0, 1)[0].shape[:2]
    scale = cover_scale(video_width, video_height, width, height)
    rotations, focal, exact = video_track(video_path(spec), assumed_focal_px / scale)
    window = slice(start, start + n_padded)
    middle = start + (n_padded - 1) // 2 if n_padded % 2 else None
    reference = rotations[middle] if middle is not None else _mean_rotation(rotations[start + n_padded // 2 - 1],
                                                                            rotations[start + n_padded // 2])
    return rotations[window] @ reference.T, focal[window] * scale, exact


def _mean_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The rotation halfway between a and b."""
    from scipy.spatial.transform import Rotation, Slerp

    return Slerp([0.0, 1.0], Rotation.from_matrix([a, b]))([0.5]).as_matrix()[0]


def rotation_vectors(rotations: np.ndarray) -> list[list[float]]:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(rotations).as_rotvec().tolist()


def rotation_matrices(vectors) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(np.asarray(vectors, dtype=np.float64).reshape(-1, 3)).as_matrix()


def focal_to_lens_mm(focal_px: float, sensor_width_mm: float, width: int) -> float:
    return float(focal_px * sensor_width_mm / width)


"""Background plates: which images are available, a seeded view of one, and its pixels.

A **pool** is a sorted list of background ids: manifest ids (``hdri/city``, ``photo/brick``)
whose files are present, and ``file:<absolute path>`` for the user's own images.

A **background spec** (JSON-serialisable, everything random lives in it) says which view of
which image to use; :func:`load_background` turns it into a linear float32 plate for any
resolution, deterministically::

    {"id": "hdri/city", "projection": "equirect", "flip": false,
     "crop": {"yaw_deg": 212.4, "pitch_deg": -3.1, "fov_deg": 48.7},
     "exposure": {"median_luminance": 0.24}}
    {"id": "photo/brick", "projection": "flat", "flip": true,
     "crop": {"scale": 0.8, "x": 0.3, "y": 0.9}, "exposure": null}

- ``equirect`` (the manifest HDRIs and the user's 2:1 EXRs): a pinhole view of the panorama.
  ``yaw_deg`` is the longitude of the view centre (0 = the map's left edge, increasing along
  its columns), ``pitch_deg`` the elevation above the horizon, ``fov_deg`` the horizontal
  field of view; the vertical one follows the output's aspect ratio. Each output pixel's ray
  is looked up bilinearly in the map (after a power-of-two box prefilter when the output's
  pixels are coarser than the map's).
- ``flat`` (photos, other EXRs): a crop with the output's aspect ratio, so nothing is
  stretched. ``scale`` is its size relative to the largest such crop that fits; ``x``/``y``
  place it in the margin left over (0 = left/top, 1 = right/bottom). Resampled with Pillow's
  antialiasing bilinear filter on float channels, in linear light.
- ``exposure`` (every EXR, since HDR values have no fixed white): the view is scaled so its
  median Rec.709 luminance equals ``median_luminance``, measured on a 128-pixel-wide
  rendering of the same view so the plate's brightness does not depend on the resolution.
  PNG/JPEG photos are display-referred and keep their values.
- ``flip`` mirrors the plate left-right. The result is clipped to [0, 1].
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from synth_core import assets
from synth_core.errors import AssetError, BackgroundError
from synth_core.imaging import EXR_SUFFIXES, IMAGE_SUFFIXES, find_images, luminance, read_exr_size, read_image
from synth_core.scene import camera as cam

# Pool kind -> manifest asset kind.
POOL_KINDS = {"hdri": "hdri", "photo": "background_photo"}
FILE_PREFIX = "file:"
EXCLUDED_FIELD = "excluded_from_pool"  # manifest field: why an image is not a background
PROJECTIONS = ("equirect", "flat")

FOV_RANGE_DEG = (30.0, 70.0)
PITCH_RANGE_DEG = (-10.0, 10.0)
CROP_SCALE_RANGE = (0.6, 1.0)
MEDIAN_LUMINANCE_RANGE = (0.18, 0.30)
EXPOSURE_REFERENCE_WIDTH = 128
HALF_FLOAT_MAX = 65504.0


def background_pool(kinds: tuple[str, ...] = ("hdri", "photo"), user_dir: str | Path | None = None
                    ) -> list[str]:
    """Ids of the usable backgrounds: present manifest assets of ``kinds`` (sorted), then
    ``file:<absolute path>`` for every PNG/JPEG/EXR under ``user_dir`` (recursive, sorted).

    Manifest images that are not scenes a person could stand in (a portrait, a cat, a star
    field), or that show people (an unlabelled person is a label error), carry the reason in
    their ``excluded_from_pool`` field and are left out; they stay loadable by id."""
    unknown = [kind for kind in kinds if kind not in POOL_KINDS]
    if unknown:
        raise BackgroundError(f"unknown background kind(s) {unknown}; expected some of {list(POOL_KINDS)}")
    wanted = {POOL_KINDS[kind] for kind in kinds}
    candidates = [asset for asset in assets.load_manifest()
                  if asset.free and asset.kind in wanted and not asset.extra.get(EXCLUDED_FIELD)]
    pool = sorted(asset.id for asset in candidates if _is_present(asset))
    missing = sorted({asset.id for asset in candidates} - set(pool))
    if missing and assets.blender_datafiles() is not None:  # inside Blender: the CLI's pool or nothing
        raise BackgroundError(
            f"background(s) {missing} not found (Blender's datafiles: {assets.blender_datafiles()}); "
            "plans sampled here would differ from the CLI's; use a background folder of your own "
            "instead (background_kinds=(), background_dir=FOLDER)")
    if user_dir is not None:
        pool += [FILE_PREFIX + str(path) for path in user_images(user_dir)]
    if not pool:
        raise BackgroundError(
            f"no backgrounds available for kinds {list(kinds)}: install bpy==5.0.1 (HDRIs) and "
            "scikit-image (photos), or give a folder of your own images")
    return pool


def user_images(user_dir: str | Path) -> list[Path]:
    """Absolute paths of the images under a folder, sorted; hidden files are skipped. The folder
    is walked once per process (a worker samples many plans from it)."""
    return list(_walk_images(Path(user_dir).expanduser().resolve()))


@lru_cache(maxsize=64)
def _walk_images(folder: Path) -> tuple[Path, ...]:
    return find_images(folder, IMAGE_SUFFIXES, "background", BackgroundError)


def sample_background_spec(rng: np.random.Generator, pool: list[str]) -> dict:
    """Draw one background and a view of it; all randomness comes from ``rng``.

    Reads nothing but the header of a user's EXR (a 2:1 one is taken as a panorama)."""
    if not pool:
        raise BackgroundError("the background pool is empty")
    background = pool[int(rng.integers(len(pool)))]
    projection, hdr = _projection_of(background)
    if projection == "equirect":
        crop = {"yaw_deg": float(rng.uniform(0.0, 360.0)),
                "pitch_deg": float(rng.uniform(*PITCH_RANGE_DEG)),
                "fov_deg": float(rng.uniform(*FOV_RANGE_DEG))}
    else:
        crop = {"scale": float(rng.uniform(*CROP_SCALE_RANGE)),
                "x": float(rng.uniform()), "y": float(rng.uniform())}
    flip = bool(rng.uniform() < 0.5)
    exposure = {"median_luminance": float(rng.uniform(*MEDIAN_LUMINANCE_RANGE))} if hdr else None
    return {"id": background, "projection": projection, "crop": crop, "flip": flip,
            "exposure": exposure}


def load_background(spec: dict, height: int, width: int) -> np.ndarray:
    """The plate a spec describes: float32 height x width x 3, linear, in [0, 1]."""
    if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
        raise BackgroundError(f"background size must be positive integers, got {height} x {width}")
    if isinstance(spec, dict) and spec.get("projection") == "video":  # its first frame (previews)
        from synth_core.background_video import video_path, video_plate, video_window

        return video_plate(video_window(video_path(spec), int(spec["start"]), 1)[0], width, height)
    projection, crop, flip, exposure = _checked_spec(spec)
    source = _linear_source(spec["id"])
    plate = _view(source, projection, crop, height, width)
    if exposure is not None:
        reference_height = max(1, round(EXPOSURE_REFERENCE_WIDTH * height / width))
        reference = _view(source, projection, crop, reference_height, EXPOSURE_REFERENCE_WIDTH)
        plate = plate * _exposure_factor(reference, exposure["median_luminance"])
    if flip:
        plate = plate[:, ::-1]
    return np.ascontiguousarray(np.clip(plate, 0.0, 1.0), dtype=np.float32)


def background_id(spec: dict) -> str:
    """Short id for annotations: the manifest id, or ``user/<folder>/<file name>``."""
    background = spec["id"]
    if background.startswith(FILE_PREFIX) or spec.get("projection") == "video":
        path = Path(background.split(":", 1)[1])
        return f"user/{path.parent.name}/{path.name}"
    return background


def _is_present(asset: assets.Asset) -> bool:
    path = assets.resolve(asset)
    return path is not None and path.is_file()


@lru_cache(maxsize=1)
def _manifest_kinds() -> dict[str, str]:
    return {asset.id: asset.kind for asset in assets.load_manifest()}


def _projection_of(background: str) -> tuple[str, bool]:
    """(projection, is HDR) of a pool entry."""
    if background.startswith(FILE_PREFIX):
        path = Path(background[len(FILE_PREFIX):])
        if path.suffix.lower() not in EXR_SUFFIXES:
            return "flat", False
        height, width = read_exr_size(path)
        return ("equirect" if width == 2 * height else "flat"), True
    kind = _manifest_kinds().get(background)
    if kind == POOL_KINDS["hdri"]:
        return "equirect", True
    if kind == POOL_KINDS["photo"]:
        return "flat", False
    raise BackgroundError(f"unknown background {background!r}: expected a manifest id of kind "
                          f"{list(POOL_KINDS.values())} or '{FILE_PREFIX}<path>'")


_CROP_FIELDS = {
    "equirect": {"yaw_deg": (-math.inf, math.inf), "pitch_deg": (-90.0, 90.0), "fov_deg": (1.0, 170.0)},
    "flat": {"scale": (1e-3, 1.0), "x": (0.0, 1.0), "y": (0.0, 1.0)},
}


def _checked_spec(spec: dict) -> tuple[str, dict, bool, dict | None]:
    """Validate a spec's fields; BackgroundError names the one that is wrong."""
    if not isinstance(spec, dict) or not isinstance(spec.get("id"), str):
        raise BackgroundError(f"background spec needs a string 'id', got {spec!r}")
    projection = spec.get("projection")
    if projection not in PROJECTIONS:
        raise BackgroundError(f"background spec 'projection' is {projection!r}; expected one of {PROJECTIONS}")
    crop = spec.get("crop")
    if not isinstance(crop, dict):
        raise BackgroundError(f"background spec 'crop' must be a dict, got {crop!r}")
    for name, (low, high) in _CROP_FIELDS[projection].items():
        value = crop.get(name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
            raise BackgroundError(f"background spec crop.{name} is {value!r}; expected a number in "
                                  f"[{low}, {high}] for projection {projection!r}")
    if not isinstance(spec.get("flip"), bool):
        raise BackgroundError(f"background spec 'flip' must be true or false, got {spec.get('flip')!r}")
    exposure = spec.get("exposure")
    if exposure is not None:
        target = exposure.get("median_luminance") if isinstance(exposure, dict) else None
        if not (isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
            raise BackgroundError(f"background spec 'exposure' must be null or "
                                  f"{{'median_luminance': positive number}}, got {exposure!r}")
    return projection, crop, spec["flip"], exposure


@lru_cache(maxsize=8)
def _linear_source(background: str) -> np.ndarray:
    """The whole image of a background, linear, finite and non-negative (read-only, cached)."""
    if background.startswith(FILE_PREFIX):
        path = Path(background[len(FILE_PREFIX):])
    else:
        _projection_of(background)  # unknown ids fail here with the expected kinds
        try:
            path = assets.require(background)
        except AssetError as exc:
            raise BackgroundError(f"background {background!r}: {exc}") from exc
    image = read_image(path)
    image = np.clip(np.nan_to_num(image, nan=0.0, posinf=HALF_FLOAT_MAX, neginf=0.0), 0.0, None)
    image.setflags(write=False)
    return image


def _view(source: np.ndarray, projection: str, crop: dict, height: int, width: int) -> np.ndarray:
    if projection == "equirect":
        return _equirect_view(source, crop["yaw_deg"], crop["pitch_deg"], crop["fov_deg"], height, width)
    return _flat_view(source, crop["scale"], crop["x"], crop["y"], height, width)


def _exposure_factor(reference: np.ndarray, target_median: float) -> float:
    """Gain that brings the reference view's median luminance to the target (mean luminance
    for mostly black views; 1 for black ones)."""
    lum = luminance(reference)
    level = float(np.median(lum))
    if level <= 1e-6:
        level = float(np.mean(lum))
    return target_median / level if level > 1e-6 else 1.0


def view_rays(yaw_deg: float, pitch_deg: float, fov_deg: float, height: int, width: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (radians, height x width) of a pinhole camera's pixel-centre rays.

    Camera: x right, y up, looking along the horizon at longitude ``yaw``, tilted up by
    ``pitch``; ``fov`` is horizontal. Longitude grows to the right, latitude upwards.
    """
    focal = (width / 2) / math.tan(math.radians(fov_deg) / 2)
    x = (np.arange(width) + 0.5 - width / 2) / focal
    y = (height / 2 - np.arange(height) - 0.5) / focal
    x, y = np.meshgrid(x, y)
    pitch = math.radians(pitch_deg)
    up = y * math.cos(pitch) + math.sin(pitch)
    forward = -y * math.sin(pitch) + math.cos(pitch)
    longitude = math.radians(yaw_deg) + np.arctan2(x, forward)
    latitude = np.arctan2(up, np.hypot(x, forward))
    return longitude, latitude


def _equirect_view(source: np.ndarray, yaw_deg: float, pitch_deg: float, fov_deg: float,
                   height: int, width: int) -> np.ndarray:
    longitude, latitude = view_rays(yaw_deg, pitch_deg, fov_deg, height, width)
    pixel_angle = math.radians(fov_deg) / width
    source = _box_prefilter(source, pixel_angle / (2 * math.pi / source.shape[1]))
    rows, cols = source.shape[:2]
    u = longitude / (2 * math.pi) * cols - 0.5  # source pixel centres at integers
    v = (math.pi / 2 - latitude) / math.pi * rows - 0.5
    return _bilinear_wrapped(source, u, v)


def _box_prefilter(source: np.ndarray, ratio: float) -> np.ndarray:
    """Average k x k blocks, k the largest power of two <= ratio dividing the image size."""
    factor = _power_of_two_factor(source, ratio)
    if factor == 1:
        return source
    rows, cols = source.shape[0] // factor, source.shape[1] // factor
    return source.reshape(rows, factor, cols, factor, 3).mean(axis=(1, 3))


def _bilinear_wrapped(source: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear lookup at fractional (column u, row v); columns wrap around, rows clamp."""
    rows, cols = source.shape[:2]
    flat = source.reshape(-1, 3)
    u0, v0 = np.floor(u), np.floor(v)
    fu, fv = (u - u0).astype(np.float32)[..., None], (v - v0).astype(np.float32)[..., None]
    c0 = u0.astype(np.int64) % cols
    c1 = (c0 + 1) % cols
    r0 = np.clip(v0.astype(np.int64), 0, rows - 1) * cols
    r1 = np.clip(v0.astype(np.int64) + 1, 0, rows - 1) * cols
    top = flat.take(r0 + c0, axis=0)
    top += (flat.take(r0 + c1, axis=0) - top) * fu
    bottom = flat.take(r1 + c0, axis=0)
    bottom += (flat.take(r1 + c1, axis=0) - bottom) * fu
    top += (bottom - top) * fv
    return top


def _flat_view(source: np.ndarray, scale: float, x: float, y: float, height: int, width: int
               ) -> np.ndarray:
    rows, cols = source.shape[:2]
    full_width = min(cols, rows * width / height)
    crop_width = min(full_width * scale, cols)
    crop_height = min(full_width * scale * height / width, rows)  # min(): float rounding
    left, top = max((cols - crop_width) * x, 0.0), max((rows - crop_height) * y, 0.0)
    box = (left, top, left + crop_width, top + crop_height)
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(source[..., channel], dtype=np.float32))
                           .resize((width, height), Image.Resampling.BILINEAR, box=box))
                for channel in range(3)]
    return np.stack(channels, axis=2)


# ---------------------------------------------------------------------------- a moving camera
#
# With a moving camera (synth_core.scene.camera.moved_camera) the plate is a view of a
# background at infinity: frame t's pixel p shows the direction R_ref R_t^T K_t^-1 p of the
# reference camera (the plan's camera, at the clip's middle), looked up in the panorama as the
# reference view would, or, for a photo, in the photo where the reference plate would show it.
# The plate therefore moves by the infinite homography between frames
# (cam.infinite_homography), which is its exact optical flow. A panorama's view takes the
# camera's field of view (not crop.fov_deg); ``flip`` mirrors the panorama or the photo.


class MovingPlates:
    """The plates of ``spec`` seen by any camera, as described above, for the reference camera
    ``k_ref`` / ``rt_ref`` at ``height`` x ``width``. An HDR image's exposure is set once, on the
    reference view, so the plates of one clip share it."""

    def __init__(self, spec: dict, k_ref: np.ndarray, rt_ref: np.ndarray, height: int, width: int) -> None:
        projection, crop, flip, exposure = _checked_spec(spec)
        source = _linear_source(spec["id"])
        self.source, self.crop = (source[:, ::-1], _mirrored(projection, crop)) if flip else (source, crop)
        self.projection, self.k_ref, self.rt_ref, self.height, self.width = projection, k_ref, rt_ref, height, width
        self.gain = 1.0
        if exposure is not None:
            reference_height = max(1, round(EXPOSURE_REFERENCE_WIDTH * height / width))
            k_small = _rescaled(k_ref, width, EXPOSURE_REFERENCE_WIDTH, reference_height)
            reference = _moving_view(self.source, projection, self.crop, k_small, rt_ref, k_small, rt_ref,
                                     reference_height, EXPOSURE_REFERENCE_WIDTH)
            self.gain = _exposure_factor(reference, exposure["median_luminance"])

    def view(self, k: np.ndarray, rt: np.ndarray) -> np.ndarray:
        """float32 height x width x 3, linear, in [0, 1]: the plate camera ``k`` / ``rt`` sees."""
        plate = _moving_view(self.source, self.projection, self.crop, k, rt, self.k_ref, self.rt_ref,
                             self.height, self.width) * self.gain
        return np.ascontiguousarray(np.clip(plate, 0.0, 1.0), dtype=np.float32)


def views_inside_source(spec: dict, ks: np.ndarray, rts: np.ndarray, k_ref: np.ndarray, rt_ref: np.ndarray,
                        height: int, width: int) -> bool:
    """Whether every camera's view lies inside the background image (a panorama always does;
    a photo's view must not reach past its edges)."""
    projection, crop, _, _ = _checked_spec(spec)
    if projection == "equirect":
        return True
    rows, cols = _linear_source(spec["id"]).shape[:2]
    corners = np.array([[0.0, 0.0, 1.0], [width - 1, 0.0, 1.0], [0.0, height - 1, 1.0], [width - 1, height - 1, 1.0]])
    for k, rt in zip(ks, rts):
        plate = corners @ cam.infinite_homography(k, rt, k_ref, rt_ref).T
        if np.any(plate[:, 2] <= 0):
            return False
        x, y = _photo_coordinates(plate[:, :2] / plate[:, 2:], crop, rows, cols, height, width)
        if x.min() < 0 or y.min() < 0 or x.max() > cols - 1 or y.max() > rows - 1:
            return False
    return True


def _mirrored(projection: str, crop: dict) -> dict:
    """The crop of the mirrored image that shows the mirrored view."""
    if projection == "equirect":
        return {**crop, "yaw_deg": -crop["yaw_deg"]}
    return {**crop, "x": 1.0 - crop["x"]}


def _rescaled(k: np.ndarray, width: int, new_width: int, new_height: int) -> np.ndarray:
    """Intrinsics of the same field of view at another image size (principal point centred)."""
    focal = k[0, 0] * new_width / width
    return np.array([[focal, 0.0, (new_width - 1) / 2], [0.0, focal, (new_height - 1) / 2], [0.0, 0.0, 1.0]])


def _moving_view(source: np.ndarray, projection: str, crop: dict, k: np.ndarray, rt: np.ndarray,
                 k_ref: np.ndarray, rt_ref: np.ndarray, height: int, width: int) -> np.ndarray:
    rays = cam.pixel_grid(height, width) @ np.linalg.inv(k).T @ rt[:, :3] @ rt_ref[:, :3].T  # reference axes
    if projection == "equirect":
        return _equirect_lookup(source, rays, crop["yaw_deg"], crop["pitch_deg"], 1.0 / k[0, 0])
    plate = rays @ k_ref.T
    rows, cols = source.shape[:2]
    x, y = _photo_coordinates(plate[..., :2] / plate[..., 2:], crop, rows, cols, height, width)
    step = _flat_box(crop, rows, cols, height, width)[2] / width  # photo pixels per plate pixel
    factor = _power_of_two_factor(source, step)
    if factor > 1:  # average blocks first, so that a large photo does not alias
        source = _box_prefilter(source, step)
        x, y = (x + 0.5) / factor - 0.5, (y + 0.5) / factor - 0.5
    return _bilinear_clamped(source, x, y)


def _equirect_lookup(source: np.ndarray, rays: np.ndarray, yaw_deg: float, pitch_deg: float,
                     pixel_angle: float) -> np.ndarray:
    """The panorama along ``rays`` (H x W x 3, OpenCV axes of a view at ``yaw``/``pitch``, as
    :func:`view_rays`'s camera)."""
    pitch = math.radians(pitch_deg)
    x, down, forward = rays[..., 0], rays[..., 1], rays[..., 2]
    up = -down * math.cos(pitch) + forward * math.sin(pitch)
    ahead = down * math.sin(pitch) + forward * math.cos(pitch)
    longitude = math.radians(yaw_deg) + np.arctan2(x, ahead)
    latitude = np.arctan2(up, np.hypot(x, ahead))
    source = _box_prefilter(source, pixel_angle / (2 * math.pi / source.shape[1]))
    rows, cols = source.shape[:2]
    return _bilinear_wrapped(source, longitude / (2 * math.pi) * cols - 0.5, (math.pi / 2 - latitude) / math.pi * rows - 0.5)


def _flat_box(crop: dict, rows: int, cols: int, height: int, width: int) -> tuple[float, float, float, float]:
    """(left, top, width, height) in photo pixels of the crop :func:`_flat_view` resizes."""
    full_width = min(cols, rows * width / height)
    crop_width = min(full_width * crop["scale"], cols)
    crop_height = min(full_width * crop["scale"] * height / width, rows)
    return (max((cols - crop_width) * crop["x"], 0.0), max((rows - crop_height) * crop["y"], 0.0),
            crop_width, crop_height)


def _photo_coordinates(plate_xy: np.ndarray, crop: dict, rows: int, cols: int, height: int, width: int):
    """Photo pixel coordinates (centres at integers) of reference-plate pixel coordinates."""
    left, top, crop_width, crop_height = _flat_box(crop, rows, cols, height, width)
    x = left + (plate_xy[..., 0] + 0.5) * crop_width / width - 0.5
    y = top + (plate_xy[..., 1] + 0.5) * crop_height / height - 0.5
    return x, y


def _power_of_two_factor(source: np.ndarray, ratio: float) -> int:
    factor = 1
    while factor * 2 <= ratio and source.shape[0] % (factor * 2) == 0 and source.shape[1] % (factor * 2) == 0:
        factor *= 2
    return factor


def _bilinear_clamped(source: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear lookup at fractional (column x, row y), clamped at the edges."""
    rows, cols = source.shape[:2]
    x, y = np.clip(x, 0.0, cols - 1.0), np.clip(y, 0.0, rows - 1.0)
    x0, y0 = np.minimum(np.floor(x).astype(np.int64), cols - 2 if cols > 1 else 0), \
        np.minimum(np.floor(y).astype(np.int64), rows - 2 if rows > 1 else 0)
    x1, y1 = np.minimum(x0 + 1, cols - 1), np.minimum(y0 + 1, rows - 1)
    fx, fy = (x - x0).astype(np.float32)[..., None], (y - y0).astype(np.float32)[..., None]
    top = source[y0, x0] + (source[y0, x1] - source[y0, x0]) * fx
    bottom = source[y1, x0] + (source[y1, x1] - source[y1, x0]) * fx
    return top + (bottom - top) * fy


class ClipBackdrop:
    """A clip's background per rendered frame: the plate (linear float32 and sRGB uint8) and
    its optical flow, zero under a static camera, the infinite homography's under a moving one
    (a background video's frames with the camera following its track: synth_core.background_video).
    Frames are computed when asked for (the last one is kept: a frame asks several times)."""

    def __init__(self, plan) -> None:
        from synth_core.scene.clip import PAD

        self.height, self.width, self.pad = plan.render["height"], plan.render["width"], PAD
        self.ks, self.rts = plan.cameras()  # padded frames
        self.moving = plan.moving_camera
        self.video = plan.background["projection"] == "video"
        if self.video:
            from synth_core.background_video import cover_resize, video_path, video_window

            self.frames = [cover_resize(frame, self.width, self.height)  # small: a long clip of a large video
                           for frame in video_window(video_path(plan.background), int(plan.background["start"]),
                                                     len(self.ks))]
        self.plates = (MovingPlates(plan.background, plan.intrinsics, plan.extrinsics, self.height, self.width)
                       if self.moving and not self.video else None)
        self.static = None if self.moving else load_background(plan.background, self.height, self.width)
        self._last: tuple[int, np.ndarray, np.ndarray] | None = None

    def linear(self, index: int) -> np.ndarray:
        return self._plates(index)[0]

    def srgb(self, index: int) -> np.ndarray:
        return self._plates(index)[1]

    def _plates(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        from synth_core.imaging import linear_to_srgb_uint8

        key = index if self.moving else 0
        if self._last is None or self._last[0] != key:
            frame = self.pad + index
            if self.video:
                from synth_core.background_video import video_plate

                linear = video_plate(self.frames[frame], self.width, self.height)
            else:
                linear = self.plates.view(self.ks[frame], self.rts[frame]) if self.moving else self.static
            self._last = (key, linear, linear_to_srgb_uint8(linear))
        return self._last[1:]

    def flow(self, index: int, direction: str) -> np.ndarray | None:
        """float32 H x W x 2 of the plate from rendered frame ``index`` to the next ("forward")
        or the previous ("backward") frame; None for a static camera (zero)."""
        if not self.moving:
            return None
        frame = self.pad + index
        other = frame + (1 if direction == "forward" else -1)
        homography = cam.infinite_homography(self.ks[frame], self.rts[frame], self.ks[other], self.rts[other])
        return cam.homography_flow(homography, self.height, self.width)

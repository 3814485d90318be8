"""Occluders in the manner of Doersch & Zisserman 2019: superpixels cut from other images,
moved over the person across a clip, and "total occlusion" frames.

**The bank.** Occluders are SLIC superpixels (scikit-image) of the free background images, cut
out as RGBA patches (alpha = the superpixel's mask) by ``synth occluders build``
(:mod:`synth_cli.builders.occluder_bank`; SLIC needs scikit-image, which a worker inside
Blender lacks, so superpixels are cut once, offline). The free bank ships as
``synth_core/data/occluders.npz``; users build banks from their own images. Stored as plain
arrays: ``pixels`` (all patches' RGBA, flattened, uint8), ``shapes`` (N x 2 heights and
widths), ``sources`` (where each came from).

**An occluder in a plan** (:func:`sample_occluders`) is a patch moving at constant velocity in
the image, in pixels of the plan's resolution: ``{"patch", "height_px", "centre_px" (x, y at
frame 0), "velocity_px" (dx, dy per frame), "depth_m", "flip"}``. It is a fronto-parallel card ``depth_m`` metres from the camera, drawn where it is
nearer than what is behind it, so every pass agrees (:func:`apply_occluders`):

- rgb: the patch's pixels; segmentation: :data:`OCCLUDER_ID`; depth: ``depth_m`` (camera z);
- flow: the card's own image motion, ``velocity_px`` (forward) and its negative (backward);
- normals: towards the camera, (0, 0, -1) in camera coordinates (OpenCV: z forward);
- ``joints_visible``: follows from the depth: a joint behind a card is hidden, as behind any
  nearer surface.

**Total occlusion** (``{"start", "frames"}``): those frames show no person at all, as a
detector failure would (Doersch & Zisserman blank them): the person's pixels become the
background's, labels background, every joint invisible, and the clip's annotations say which
frames (``totally_occluded``).
"""

from __future__ import annotations

import functools
import math
import zipfile
from pathlib import Path

import numpy as np

from synth_core.body.parts import OCCLUDER_ID
from synth_core.errors import SynthError
DEFAULT_BANK = Path(__file__).resolve().parent / "data" / "occluders.npz"
HEIGHT_RANGE = (0.1, 0.35)        # occluder height, fraction of the image's
SPEED_RANGE = (0.002, 0.02)       # image widths per frame
DEPTH_FRACTION_RANGE = (0.35, 0.85)  # of the camera's distance to the person
TOTAL_OCCLUSION_CHANCE = 0.2
TOTAL_OCCLUSION_FRAMES = (1, 8)


class OccluderError(SynthError):
    """An occluder bank or spec that cannot be used."""


class OccluderBank:
    """RGBA patches (uint8, alpha 0 or 255) and where each came from."""

    def __init__(self, patches: list[np.ndarray], sources: list[str]) -> None:
        if len(patches) != len(sources) or not patches:
            raise OccluderError("an occluder bank needs at least one patch, each with a source")
        for index, patch in enumerate(patches):
            if patch.dtype != np.uint8 or patch.ndim != 3 or patch.shape[2] != 4 or min(patch.shape[:2]) < 2:
                raise OccluderError(f"occluder patch {index} must be H x W x 4 uint8, got {patch.shape} {patch.dtype}")
            if not np.any(patch[..., 3]):
                raise OccluderError(f"occluder patch {index} has an empty mask")
        self.patches, self.sources = patches, sources

    def __len__(self) -> int:
        return len(self.patches)

    def save(self, path) -> Path:
        """Write as ``.npz`` (plain arrays, read without pickle), atomically, with fixed zip
        timestamps: the same bank gives the same bytes."""
        import io

        from synth_core.dataset.format import npy_bytes
        from synth_core.mesh_io import _atomic_write

        arrays = {"pixels": np.concatenate([p.ravel() for p in self.patches]),
                  "shapes": np.array([p.shape[:2] for p in self.patches], dtype=np.int64),
                  "sources": np.array(self.sources)}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, array in arrays.items():
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, npy_bytes(array), compresslevel=9)
        path = Path(path)
        _atomic_write(path, buffer.getvalue())
        return path


@functools.lru_cache(maxsize=4)
def load_occluder_bank(path=None) -> OccluderBank:
    """A bank written by :meth:`OccluderBank.save` (default: the free bank)."""
    path = Path(path) if path is not None else DEFAULT_BANK
    if not path.is_file():
        raise OccluderError(f"{path}: occluder bank does not exist (build one: synth occluders build)")
    try:
        with np.load(path, allow_pickle=False) as data:
            pixels, shapes, sources = data["pixels"], data["shapes"], data["sources"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise OccluderError(f"{path}: not an occluder bank (.npz with pixels, shapes, sources): {exc}") from None
    sizes = shapes.prod(axis=1) * 4 if shapes.ndim == 2 and shapes.shape[1] == 2 else None
    if sizes is None or pixels.dtype != np.uint8 or int(sizes.sum()) != pixels.size or len(sources) != len(shapes):
        raise OccluderError(f"{path}: occluder bank arrays do not agree (pixels, shapes, sources)")
    ends = np.cumsum(sizes)
    patches = [pixels[end - size:end].reshape(int(h), int(w), 4) for end, size, (h, w) in zip(ends, sizes, shapes)]
    return OccluderBank(patches, [str(s) for s in sources])


def sample_occluders(rng: np.random.Generator, count: int, n_frames: int, width: int, height: int,
                     camera_distance_m: float, bank_size: int, person_box_px=None) -> dict:
    """``count`` moving occluders and maybe one total occlusion: the plan's ``occluders``. Each
    card passes, at the clip's middle frame, a point drawn uniformly in ``person_box_px``
    ((x0, y0, x1, y1): where the person is in the image; default the middle half of it)."""
    if count < 0 or bank_size < 1:
        raise OccluderError(f"need a non-negative occluder count and a non-empty bank, got {count}, {bank_size}")
    cards = []
    for _ in range(count):
        speed = rng.uniform(*SPEED_RANGE) * width
        heading = rng.uniform(0.0, 2.0 * math.pi)
        velocity = speed * np.array([math.cos(heading), math.sin(heading)])
        x0, y0, x1, y1 = (width / 4, height / 4, 3 * width / 4, 3 * height / 4) if person_box_px is None \
            else person_box_px
        middle = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        centre = middle - velocity * (n_frames - 1) / 2
        cards.append({"patch": int(rng.integers(bank_size)), "height_px": float(rng.uniform(*HEIGHT_RANGE) * height),
                      "centre_px": [float(v) for v in centre], "velocity_px": [float(v) for v in velocity],
                      "depth_m": float(camera_distance_m * rng.uniform(*DEPTH_FRACTION_RANGE)),
                      "flip": bool(rng.random() < 0.5)})
    total = None
    if n_frames > 2 and rng.random() < TOTAL_OCCLUSION_CHANCE:
        frames = int(rng.integers(TOTAL_OCCLUSION_FRAMES[0], min(TOTAL_OCCLUSION_FRAMES[1], n_frames - 1) + 1))
        total = {"start": int(rng.integers(0, n_frames - frames + 1)), "frames": frames}
    return {"cards": cards, "total": total}


def totally_occluded(spec: dict | None, n_frames: int) -> np.ndarray:
    """T bools: the frames of the spec's total occlusion."""
    flags = np.zeros(n_frames, dtype=bool)
    total = (spec or {}).get("total")
    if total:
        flags[total["start"]:total["start"] + total["frames"]] = True
    return flags


def card_layer(card: dict, patch: np.ndarray, frame: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(mask H x W, sRGB H x W x 3 uint8) of one card at ``frame``: each pixel centre mapped back
    into the patch (nearest texel), so the card moves exactly ``velocity_px`` per frame."""
    scale = card["height_px"] / patch.shape[0]  # image px per patch texel
    cx, cy = np.asarray(card["centre_px"]) + np.asarray(card["velocity_px"]) * frame
    ys, xs = np.mgrid[0:height, 0:width]
    u = np.floor((xs - cx) / scale + patch.shape[1] / 2).astype(int)
    v = np.floor((ys - cy) / scale + patch.shape[0] / 2).astype(int)
    inside = (u >= 0) & (u < patch.shape[1]) & (v >= 0) & (v < patch.shape[0])
    if card.get("flip"):
        u = patch.shape[1] - 1 - u
    texels = np.zeros((height, width, 4), dtype=np.uint8)
    texels[inside] = patch[v[inside], u[inside]]
    return texels[..., 3] > 127, texels[..., :3]


def apply_occluders(frame: dict, spec: dict | None, bank: OccluderBank, index: int,
                    background_srgb: np.ndarray) -> None:
    """Occlude one rendered frame in place (``frame``: the pass arrays a clip writes, any subset,
    with ``depth``; ``rgb`` is sRGB uint8, composited). Cards are drawn far to near, each where it
    is nearer than what is already there. Joint visibility then follows from the occluded depth
    (a joint behind a card is hidden as behind any nearer surface); a totally occluded frame
    hides every joint (:func:`totally_occluded`)."""
    if not spec:
        return
    height, width = background_srgb.shape[:2]
    depth = frame["depth"]
    if totally_occluded(spec, index + 1)[index]:
        person = (frame["segmentation"] > 0) if "segmentation" in frame else (depth > 0)
        _fill(frame, person, rgb=background_srgb, segmentation=0, depth=0.0, flow=0.0, normals=0.0)
        return
    for card in sorted(spec["cards"], key=lambda c: -c["depth_m"]):
        mask, rgb = card_layer(card, bank.patches[card["patch"]], index, height, width)
        nearer = mask & ((depth <= 0) | (depth > card["depth_m"]))
        _fill(frame, nearer, rgb=rgb, segmentation=OCCLUDER_ID, depth=card["depth_m"],
              flow=np.asarray(card["velocity_px"], dtype=np.float32),
              normals=np.array([0.0, 0.0, -1.0], dtype=np.float32))


def _fill(frame: dict, where: np.ndarray, rgb, segmentation, depth, flow, normals) -> None:
    values = {"rgb": rgb, "segmentation": segmentation, "depth": depth, "normals": normals,
              "flow_forward": flow, "flow_backward": -np.asarray(flow)}
    for name, value in values.items():
        if name not in frame:
            continue
        value = np.asarray(value)
        frame[name][where] = value[where] if value.shape[:2] == where.shape else value

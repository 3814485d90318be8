"""Folders of UV texture images (``synth render --texture-dir``): listing, checking, sampling.

A texture folder holds square RGB PNG/JPEG images drawn in the body's UV layout, e.g.
SURREAL's ``smpl_data/textures`` (for SMPL bodies with SURREAL's UVs) or the output of
``synth texture transfer`` (for the body it was made for). The folder is walked recursively,
hidden files skipped, and sorted, so the same seed picks the same file on every machine.

Every image's header (format, mode, size) is checked once per process when the first plan is
sampled, so a wrong file fails before any worker starts; the sampled file is also decoded in
full (a truncated JPEG fails in the plan of the clip that uses it).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from synth_core.errors import TextureError
from synth_core.imaging import find_images
from synth_core.textures import MAX_SIZE, MIN_SIZE, load_texture_image

TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def texture_files(folder: str | Path) -> tuple[Path, ...]:
    """Absolute, sorted paths of the texture images under ``folder``, each header-checked.
    Raises TextureError naming the folder or the first bad file."""
    return _checked_listing(Path(folder).expanduser().resolve())


def sample_texture_file(rng: np.random.Generator, folder: str | Path, body_source: str = "default",
                        gender: str | None = None) -> dict:
    """A plan's texture record ``{"kind": "file", "path": absolute}``, one file of the folder
    drawn uniformly by ``rng`` and decoded in full (a corrupt file fails here). SMPL bodies
    need SURREAL's UV layout (``smpl_uv.obj``) to wear a texture file.

    Gendered folders, like SURREAL's (``female/nongrey_female_0001.jpg``): when some files name
    a gender (a word of their path relative to the folder, split at ``/ _ - .``), a body of a
    gender draws among the files naming it (all files if none does)."""
    files = texture_files(folder)
    if body_source == "smpl":
        _require_smpl_uvs()
    files = files_of_gender(files, Path(folder).expanduser().resolve(), gender)
    path = files[int(rng.integers(len(files)))]
    load_texture_image(path)
    return {"kind": "file", "path": str(path)}


def files_of_gender(files: tuple[Path, ...], folder: Path, gender: str | None) -> tuple[Path, ...]:
    """The files whose path below ``folder`` has ``gender`` as a word, or all of them."""
    if gender is None:
        return files
    words = [set(re.split(r"[/\\_.\-]+", path.relative_to(folder).as_posix().lower())) for path in files]
    matching = tuple(path for path, names in zip(files, words) if gender in names)
    return matching or files


@lru_cache(maxsize=16)
def _checked_listing(folder: Path) -> tuple[Path, ...]:
    files = find_images(folder, TEXTURE_SUFFIXES, "texture", TextureError)
    for path in files:
        check_texture_header(path)
    return files


def check_texture_header(path: Path) -> None:
    """Refuse a file that is not a square RGB image of MIN_SIZE..MAX_SIZE pixels (header only)."""
    try:
        with Image.open(path) as image:
            mode, (width, height) = image.mode, image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise TextureError(f"{path}: not a readable image file ({exc})") from exc
    if mode not in ("RGB", "RGBA"):
        raise TextureError(f"{path}: texture must be an 8-bit RGB image, got mode {mode!r}")
    if width != height:
        raise TextureError(f"{path}: texture is {width} x {height} pixels; UV textures must be square")
    if not MIN_SIZE <= width <= MAX_SIZE:
        raise TextureError(f"{path}: texture is {width} x {height} pixels; the side must be "
                           f"{MIN_SIZE}..{MAX_SIZE}")


def _require_smpl_uvs() -> None:
    from synth_core import assets
    from synth_core.body.catalog import SMPL_UV_ASSET, smpl_uv_path

    if smpl_uv_path() is None:
        asset = assets.get_asset(SMPL_UV_ASSET)
        raise TextureError(f"--texture-dir with --body smpl needs the UV layout the textures are drawn "
                           f"for ({asset.location['path']}), which the official SMPL files lack: "
                           f"{asset.how_to_get}")

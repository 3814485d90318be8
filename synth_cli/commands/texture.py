"""`synth texture`: make UV textures for the body (clothing transferred from photos)."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console

from synth_core.body.catalog import BODY_SOURCES, GENDERS
from synth_core.errors import TextureError


@click.group()
def texture() -> None:
    """Make UV textures for the body.

    `synth texture transfer --photo P.jpg --mask M.png --out T.png` puts the clothing of a
    photo of a person (with a mask of that person) onto the body's UV map. A folder of such
    textures is what `synth render --texture-dir` samples from.
    """


@texture.command("transfer")
@click.option("--photo", type=click.Path(path_type=Path), required=True,
              help="Photo of one person seen from the front, standing, arms a little away from the body.")
@click.option("--mask", type=click.Path(path_type=Path), required=True,
              help="Person mask, same size as the photo: non-zero (or opaque alpha) on the person.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Texture PNG to write.")
@click.option("--size", type=click.IntRange(16, 8192), default=1024, show_default=True,
              help="Texture side in pixels.")
@click.option("--body", "body_source", type=click.Choice(BODY_SOURCES), default="default", show_default=True,
              help="The body whose UV layout the texture is for (smpl: your SMPL files with "
                   "SURREAL's smpl_uv.obj).")
@click.option("--gender", type=click.Choice(GENDERS), default="neutral", show_default=True,
              help="SMPL model to fit the photo with (the default body is one model).")
@click.option("--skin", default=None, metavar="R,G,B",
              help="Skin colour of head and hands, 0..255 each; default: the photo's face colour.")
@click.option("--coverage", type=click.Path(path_type=Path), default=None,
              help="Also write a PNG of the texels taken straight from the photo (white).")
def transfer(photo: Path, mask: Path, out: Path, size: int, body_source: str, gender: str, skin: str | None,
             coverage: Path | None) -> None:
    """Transfer the clothing of PHOTO (inside MASK) onto the body's UV texture (Chen et al. 2016).

    The body's front view is matched to the mask by its contour, a smooth thin-plate-spline
    warp carries the photo onto the body, texels seen from the front take the photo's colour,
    hidden ones (back, sides) the front's (mirrored front to back, else the nearest of the same
    body part), head and hands one skin tone. Written atomically.

    Example: `synth texture transfer --photo person.jpg --mask person_mask.png --out textures/t1.png`,
    then `synth render --texture-dir textures ...`.
    """
    import numpy as np

    from synth_core.body.catalog import load_body_model
    from synth_cli.builders.texture_transfer import read_mask, read_photo, transfer_clothing, write_texture_png

    for path in (out, coverage):
        if path is not None and not path.expanduser().resolve().parent.is_dir():
            raise TextureError(f"folder of {path} does not exist: create it first")
    image, person = read_photo(photo), read_mask(mask)
    model = load_body_model(body_source, gender if body_source == "smpl" else "neutral")
    start = time.perf_counter()
    result, covered = transfer_clothing(model, image, person, size=size, skin=_parse_skin(skin))
    seconds = time.perf_counter() - start
    write_texture_png(out, result)
    if coverage is not None:
        write_texture_png(coverage, (covered * np.uint8(255)).astype(np.uint8))
    Console().print(f"Wrote {out} ({size} x {size}; {covered.mean():.0%} of the texture straight from the "
                    f"photo, the rest filled) in {seconds:.1f} s")


def _parse_skin(text: str | None):
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise TextureError(f"--skin must be three numbers 0..255 separated by commas (R,G,B), got {text!r}")
    return [v / 255.0 for v in values]

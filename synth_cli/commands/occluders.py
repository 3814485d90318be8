"""`synth occluders`: build banks of occluders (superpixels cut from images)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console


@click.group()
def occluders() -> None:
    """Occluder banks: SLIC superpixels cut from images, moved over the person by
    `synth render --occluders N` (Doersch & Zisserman 2019).

    The free bank (synth_core/data/occluders.npz) is cut from the free background pool;
    `synth occluders build` rebuilds it bit for bit, or cuts a bank from your own images
    (then `synth render --occluders N --occluder-bank FILE`).
    """


@occluders.command("build")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Bank (.npz) to write.")
@click.option("--images", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder of images to cut superpixels from (PNG, JPEG, EXR; searched recursively). "
                   "Default: the free background pool.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Which segments and views.")
def build(out: Path, images: Path | None, seed: int) -> None:
    """Cut an occluder bank: up to 6 superpixels (0.5-8% of a 320 x 240 view, one piece each) per
    view, as RGBA patches. Written atomically.

    Examples: `synth occluders build --out occluders.npz` (the free bank);
    `synth occluders build --images my_photos --out my_occluders.npz`.
    """
    from synth_cli.builders.occluder_bank import build_bank
    from synth_core.errors import BackgroundError
    from synth_core.imaging import IMAGE_SUFFIXES, find_images
    from synth_core.occluders import OccluderError

    try:
        paths = None if images is None else list(find_images(images, IMAGE_SUFFIXES, "image", BackgroundError))
        bank = build_bank(paths, seed=seed)
        bank.save(out)
    except (OccluderError, BackgroundError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    Console().print(f"{out}: {len(bank)} occluders from {len(set(bank.sources))} views")

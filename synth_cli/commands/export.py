"""`synth export`: convert rendered clips to other datasets' file layouts (SURREAL's today)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from synth_core.dataset import find_clips, read_clip
from synth_core.errors import DatasetFormatError

FORMATS = ("surreal",)


@click.command("export")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--format", "format_name", type=click.Choice(FORMATS), required=True,
              help="surreal = SURREAL's _info/_depth/_segm/_gtflow .mat files and .mp4 (see FORMAT.md).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: DIRECTORY's sibling DIRECTORY_<format>).")
def export(directory: Path, format_name: str, out: Path | None) -> None:
    """Export a clip folder, or every clip in a folder of clips, to another dataset's layout.

    Unfinished clips (*.partial folders) are skipped. Existing exported files are replaced.
    """
    from synth_cli.exporters.surreal import export_clip

    console = Console(soft_wrap=True)
    if not directory.is_dir():
        raise DatasetFormatError(f"{directory} is not a folder (expected a clip or a folder of clips)")
    clips = find_clips(directory)
    if not clips:
        raise DatasetFormatError(f"{directory} holds no clips (no meta.json in it or its sub-folders)")
    out = out or directory.resolve().with_name(f"{directory.resolve().name}_{format_name}")
    total = 0
    for path in clips:
        with read_clip(path) as clip:
            written = export_clip(clip, out, log=lambda text: console.print(f"[yellow]{escape(text)}[/]"))
        total += len(written)
        console.print(f"{escape(path.name)}: {', '.join(escape(p.name) for p in written)}")
    console.print(f"Exported {len(clips)} clip(s) ({total} files) to {escape(str(out))}")

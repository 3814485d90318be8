"""`synth export`: convert rendered clips to other datasets' file layouts (SURREAL's today)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from synth_core.dataset import find_clips, read_clip
from synth_core.errors import DatasetFormatError, SynthError

FORMATS = ("surreal",)


@click.command("export")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--format", "format_name", type=click.Choice(FORMATS), required=True,
              help="surreal = SURREAL's _info/_depth/_segm/_gtflow .mat files and .mp4 (see FORMAT.md).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: DIRECTORY's sibling DIRECTORY_<format>).")
def export(directory: Path, format_name: str, out: Path | None) -> None:
    """Export a clip folder, or every clip in a folder of clips, to another dataset's layout.

    Each clip is exported whole or not at all: a clip that cannot be read or written is
    reported and skipped, the others are still exported, and the command then exits with code 1.
    Unfinished clips (*.partial folders) are skipped. Existing exported files are replaced.
    """
    from synth_cli.exporters.surreal import export_clip

    console, errors = Console(soft_wrap=True), Console(soft_wrap=True, stderr=True)
    if not directory.is_dir():
        raise DatasetFormatError(f"{directory} is not a folder (expected a clip or a folder of clips)")
    clips = find_clips(directory)
    if not clips:
        raise DatasetFormatError(f"{directory} holds no clips (no meta.json in it or its sub-folders)")
    out = out or directory.resolve().with_name(f"{directory.resolve().name}_{format_name}")
    total, failures, log = 0, {}, _note_once(console)
    for path in clips:
        try:
            with read_clip(path) as clip:
                written = export_clip(clip, out, log=log)
        except (SynthError, OSError) as exc:  # bad clip or failed write: nothing of it was kept
            failures[path.name] = str(exc)
            errors.print(f"[bold red]Error:[/] {escape(path.name)} not exported: {escape(str(exc))}")
            continue
        total += len(written)
        console.print(f"{escape(path.name)}: {', '.join(escape(p.name) for p in written)}")
    _summary(console, errors, len(clips), total, out, failures)
    if failures:
        sys.exit(1)


def _note_once(console: Console):
    """A log that prints each distinct note once (notes that hold for many clips say so once)."""
    seen = set()

    def log(text: str) -> None:
        if text not in seen:
            seen.add(text)
            console.print(f"[yellow]{escape(text)}[/]")
    return log


def _summary(console: Console, errors: Console, n_clips: int, n_files: int, out: Path,
             failures: dict[str, str]) -> None:
    exported = n_clips - len(failures)
    console.print(f"Exported {exported if not failures else f'{exported} of {n_clips}'} clip(s) "
                  f"({n_files} files) to {escape(str(out))}")
    if failures:
        errors.print(f"[bold red]{len(failures)} clip(s) failed[/] and left no file:")
        for name, reason in failures.items():
            errors.print(f"  {escape(name)}: {escape(reason)}")

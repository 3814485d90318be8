"""`synth backgrounds`: make background videos for `synth render --background-videos`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import track


@click.group()
def backgrounds() -> None:
    """Background plates beyond the free images: videos for a moving camera."""


@backgrounds.command("video")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder to write video_<seed>.mp4 and its camera track video_<seed>.mp4.track.json.")
@click.option("--n", "count", type=click.IntRange(min=1), default=4, show_default=True, help="Videos to make.")
@click.option("--frames", type=click.IntRange(min=3), default=300, show_default=True)
@click.option("--fps", type=click.FloatRange(min=1), default=30.0, show_default=True)
@click.option("--res", "resolution", default="640x480", show_default=True, help="WIDTHxHEIGHT.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the first video.")
def video(out: Path, count: int, frames: int, fps: float, resolution: str, seed: int) -> None:
    """Free background videos: the free HDRIs seen by a panning, tilting, zooming virtual camera,
    each with its exact camera track, so `synth render --camera moving --background-videos OUT`
    renders clips whose background flow is exact (a video of your own gets an estimated track).

    Example: `synth backgrounds video --out videos --n 4 --frames 300`.
    """
    from synth_cli.builders.background_videos import build_video
    from synth_cli.commands.render import parse_resolution

    width, height = parse_resolution(resolution)
    for index in track(range(seed, seed + count), description="videos"):
        path = build_video(out / f"video_{index:04d}.mp4", index, frames, fps, width, height)
        click.echo(str(path))

"""`synth preview`: a contact sheet of a rendered clip, one row per frame, one column per pass."""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np
from synth_core.body.parts import JOINT_NAMES, SMPL_PARENTS, part_palette
from synth_core.dataset import Clip, read_clip
from synth_core.errors import DatasetFormatError
from synth_core.visualize import depth_to_colour, flow_to_colour, normals_to_colour

COLUMNS = ("rgb", "depth", "segmentation", "flow_forward", "normals", "joints")
TITLE_PX = 22          # band above each row of panels, for the panel titles
MIN_PANEL_PX = 160     # small clips are enlarged by an integer factor up to this width
DPI = 100
BACKGROUND = "#1e1e1e"


@click.command("preview")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--frames", "frames_text", default=None,
              help="Comma-separated frame numbers, e.g. 0,10,20 (default: 4 evenly spaced).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="PNG to write (default: DIRECTORY/preview.png).")
def preview(directory: Path, frames_text: str | None, out: Path | None) -> None:
    """Contact sheet of a clip: RGB, depth, parts, forward flow, normals and 2D joints.

    Depth is colour-mapped over the foreground of the chosen frames (near = red, background
    black); flow uses the Middlebury colour wheel scaled to the largest motion shown
    (white = still); normals are (n + 1) / 2 as RGB (background black); filled joints
    are visible, hollow ones occluded.
    """
    with read_clip(directory) as clip:
        frames = parse_frames(frames_text, clip.n_frames)
        out = out or directory / "preview.png"
        write_contact_sheet(clip, frames, out)
    click.echo(str(out))  # plain, unwrapped: scripts read it


def parse_frames(text: str | None, n_frames: int) -> list[int]:
    if text is None:
        return sorted({int(round(v)) for v in np.linspace(0, n_frames - 1, min(4, n_frames))})
    try:
        frames = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated frame numbers, got {text!r}", param_hint="--frames")
    bad = [i for i in frames if not 0 <= i < n_frames]
    if not frames or bad:
        raise DatasetFormatError(f"--frames {text}: the clip has frames 0..{n_frames - 1}"
                                 + (f"; {', '.join(map(str, bad))} are outside" if bad else ""))
    return frames


# ---------------------------------------------------------------------------------------------
# The sheet


def write_contact_sheet(clip: Clip, frames: list[int], out: Path) -> Path:
    """One row per frame, the columns of :data:`COLUMNS`; each panel is the clip's resolution
    times an integer factor (1 from 160 px wide), with a TITLE_PX band above each row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decoded = {i: clip.frame(i) for i in frames}
    scale = max(1, math.ceil(MIN_PANEL_PX / clip.width))
    panel_w, panel_h = clip.width * scale, clip.height * scale
    sheet_w, sheet_h = panel_w * len(COLUMNS), (panel_h + TITLE_PX) * len(frames)
    fig = plt.figure(figsize=(sheet_w / DPI, sheet_h / DPI), dpi=DPI, facecolor=BACKGROUND)
    ranges = _display_ranges(decoded)
    for row, i in enumerate(frames):
        top = row * (panel_h + TITLE_PX)
        for column, name in enumerate(COLUMNS):
            ax = fig.add_axes((column * panel_w / sheet_w, 1 - (top + TITLE_PX + panel_h) / sheet_h,
                               panel_w / sheet_w, panel_h / sheet_h))
            ax.set_axis_off()
            title = _draw_panel(ax, name, decoded[i], clip, i, ranges)
            fig.text((column + 0.5) * panel_w / sheet_w, 1 - (top + TITLE_PX / 2) / sheet_h,
                     f"{i}: {title}", ha="center", va="center", color="white", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI, facecolor=BACKGROUND)
        tmp.replace(out)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return out


def _display_ranges(decoded: dict) -> dict:
    """Shared colour scales for all rows: depth near/far over the foreground, largest flow."""
    ranges = {"near": 0.0, "far": 1.0, "flow": 0.0}
    depths = [frame["depth"][frame["depth"] > 0] for frame in decoded.values() if "depth" in frame]
    foreground = np.concatenate(depths) if depths else np.zeros(0)
    if foreground.size:
        ranges["near"], ranges["far"] = float(foreground.min()), float(foreground.max())
    flows = [np.linalg.norm(frame["flow_forward"], axis=-1).max() for frame in decoded.values()
             if "flow_forward" in frame]
    ranges["flow"] = float(max(flows, default=0.0))
    return ranges


def _draw_panel(ax, name: str, frame: dict, clip: Clip, i: int, ranges: dict) -> str:
    source = "rgb" if name == "joints" else name
    if source not in frame:
        ax.imshow(np.full((clip.height, clip.width, 3), 60, np.uint8), interpolation="nearest")
        return f"no {source} pass"
    if name == "rgb":
        ax.imshow(frame["rgb"], interpolation="nearest")
        return "RGB"
    if name == "depth":
        ax.imshow(depth_to_colour(frame["depth"], ranges["near"], ranges["far"]), interpolation="nearest")
        return f"depth {ranges['near']:.2f}-{ranges['far']:.2f} m"
    if name == "segmentation":
        ax.imshow(part_palette()[frame["segmentation"]], interpolation="nearest")
        return "parts"
    if name == "flow_forward":
        ax.imshow(flow_to_colour(frame["flow_forward"], ranges["flow"]), interpolation="nearest")
        return f"flow fwd (max {ranges['flow']:.1f} px)"
    if name == "normals":
        ax.imshow(normals_to_colour(frame["normals"]), interpolation="nearest")
        return "normals (camera)"
    ax.imshow(frame["rgb"], interpolation="nearest")
    _draw_joints(ax, clip.annotations["joints2d"][i], clip.annotations["joints_visible"][i])
    ax.set_xlim(-0.5, clip.width - 0.5)
    ax.set_ylim(clip.height - 0.5, -0.5)
    return "joints 2D"


def _side_colour(joint: int) -> str:
    name = JOINT_NAMES[joint]
    return "#4cc9f0" if name.startswith("left_") else "#f72585" if name.startswith("right_") else "#ffd166"


def _draw_joints(ax, joints2d: np.ndarray, visible: np.ndarray) -> None:
    """SMPL skeleton; pixel centres at integer coordinates, as imshow draws them."""
    for child, parent in enumerate(SMPL_PARENTS):
        if parent >= 0:
            ax.plot(joints2d[[parent, child], 0], joints2d[[parent, child], 1],
                    color=_side_colour(child), lw=1.2, solid_capstyle="round")
    colours = [_side_colour(j) for j in range(len(joints2d))]
    shown = np.asarray(visible, bool)
    ax.scatter(joints2d[shown, 0], joints2d[shown, 1], s=14, c=[colours[j] for j in np.flatnonzero(shown)],
               edgecolors="black", linewidths=0.5, zorder=3)
    ax.scatter(joints2d[~shown, 0], joints2d[~shown, 1], s=14, facecolors="none",
               edgecolors=[colours[j] for j in np.flatnonzero(~shown)], linewidths=1.0, zorder=3)

"""`synth inspect`: what a dataset holds, as numbers and as plots, from a sample of its clips.

Printed: clips, frames, resolutions, motions, genders, backgrounds, camera distances, body-part
pixel shares. Written (PNG, matplotlib Agg): joint-angle histograms per joint group, the
camera-distance histogram, the spherical-harmonics lighting energy, per-class pixel
frequencies and a grid of sample frames with their part segmentation, plus ``stats.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from synth_cli.commands.validate import clip_folders
from synth_core.body.parts import JOINT_NAMES, NUM_JOINTS, PART_NAMES, part_palette
from synth_core.dataset import Clip, read_clip
from synth_core.dataset.format import frame_cameras
from synth_core.errors import DatasetFormatError
from synth_core.scene.camera import camera_location

# Joint groups of the pose histograms (SMPL joint names); the pelvis holds the global orientation.
JOINT_GROUPS = {
    "root (global orientation)": ("pelvis",),
    "spine, neck, head": ("spine1", "spine2", "spine3", "neck", "head"),
    "hips, knees": ("left_hip", "right_hip", "left_knee", "right_knee"),
    "ankles, feet": ("left_ankle", "right_ankle", "left_foot", "right_foot"),
    "collars, shoulders": ("left_collar", "right_collar", "left_shoulder", "right_shoulder"),
    "elbows, wrists, hands": ("left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"),
}
SH_BANDS = {"band 0 (L00)": slice(0, 1), "band 1 (L1m)": slice(1, 4), "band 2 (L2m)": slice(4, 9)}
SH_NAMES = ("L00", "L1-1", "L10", "L11", "L2-2", "L2-1", "L20", "L21", "L22")
GRID_TILES = 16
CLASS_NAMES = ("background", *PART_NAMES)
PLOTS = ("joint_angles.png", "camera_distance.png", "sh_energy.png", "class_frequencies.png", "samples.png")
DPI = 100


@dataclass
class DatasetSample:
    """Everything the report shows, gathered from the sampled clips."""

    n_clips: int = 0                       # in the dataset
    clips: list[str] = field(default_factory=list)   # sampled and read
    unreadable: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    resolutions: Counter = field(default_factory=Counter)
    motions: Counter = field(default_factory=Counter)
    genders: Counter = field(default_factory=Counter)
    backgrounds: Counter = field(default_factory=Counter)
    camera_distances: list[float] = field(default_factory=list)   # camera centre to pelvis, frame 0
    pose_angles: list[np.ndarray] = field(default_factory=list)   # per clip T x 24, degrees
    sh: list[np.ndarray] = field(default_factory=list)            # per clip 9
    class_pixels: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS + 1, np.int64))
    tiles: list[tuple[str, np.ndarray | None, np.ndarray | None]] = field(default_factory=list)

    def add(self, clip: Clip, frames_per_clip: int, with_tile: bool) -> None:
        meta, annotations = clip.meta, clip.annotations
        self.clips.append(clip.path.name)
        self.frames += clip.n_frames
        self.resolutions[f"{clip.width}x{clip.height}"] += 1
        self.motions[str(_field(meta, "motion", "name"))] += 1
        self.genders[str(_field(meta, "body", "gender"))] += 1
        self.backgrounds[str(meta.get("background_id", "unknown"))] += 1
        centre = camera_location(frame_cameras(annotations)[1][0])
        self.camera_distances.append(float(np.linalg.norm(centre - annotations["joints3d_world"][0, 0])))
        self.pose_angles.append(np.degrees(np.linalg.norm(annotations["pose"], axis=-1)))
        self.sh.append(annotations["sh"])
        if "segmentation" in clip.passes:
            for i in _spread(clip.n_frames, frames_per_clip):
                segmentation = clip.frame(int(i), passes="segmentation")["segmentation"]
                self.class_pixels += np.bincount(segmentation.ravel(), minlength=NUM_JOINTS + 1)[:NUM_JOINTS + 1]
        if with_tile:
            middle = clip.frame(clip.n_frames // 2, passes=[p for p in ("rgb", "segmentation") if p in clip.passes])
            self.tiles.append((clip.path.name, middle.get("rgb"), middle.get("segmentation")))

    def stats(self) -> dict:
        distances = np.array(self.camera_distances)
        return {
            "clips_in_dataset": self.n_clips, "clips_sampled": len(self.clips), "frames_sampled": self.frames,
            "unreadable": self.unreadable, "resolutions": dict(self.resolutions),
            "motions": dict(self.motions.most_common()), "genders": dict(self.genders.most_common()),
            "background_kinds": dict(Counter(_kind(b) for b in self.backgrounds.elements()).most_common()),
            "backgrounds_distinct": len(self.backgrounds),
            "camera_distance_m": _summary(distances),
            "class_pixel_share": {name: float(share) for name, share in zip(CLASS_NAMES, self.class_shares())},
        }

    def class_shares(self) -> np.ndarray:
        return self.class_pixels / max(int(self.class_pixels.sum()), 1)


def _field(meta: dict, group: str, key: str):
    value = meta.get(group)
    return value.get(key, "unknown") if isinstance(value, dict) else "unknown"


def _kind(background_id: str) -> str:
    return background_id.split("/", 1)[0] if "/" in background_id else background_id


def _spread(total: int, count: int) -> np.ndarray:
    """``count`` evenly spaced indices of ``range(total)`` (all of them if fewer)."""
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


def _summary(values: np.ndarray) -> dict:
    if not values.size:
        return {}
    return {"min": float(values.min()), "mean": float(values.mean()), "max": float(values.max()),
            "std": float(values.std()), "p05": float(np.percentile(values, 5)), "p95": float(np.percentile(values, 95))}


def gather(directory: Path, max_clips: int, frames_per_clip: int) -> DatasetSample:
    folders = clip_folders(directory)
    if not folders:
        raise DatasetFormatError(f"{directory} holds no clips (no clip_* folder or meta.json in it)")
    sample = DatasetSample(n_clips=len(folders))
    chosen = [folders[i] for i in _spread(len(folders), max_clips)]
    tiles = set(_spread(len(chosen), GRID_TILES).tolist())
    for position, path in enumerate(chosen):
        try:
            with read_clip(path) as clip:
                sample.add(clip, frames_per_clip, position in tiles)
        except DatasetFormatError as exc:  # inspect describes; `synth validate` judges
            sample.unreadable[path.name] = str(exc)
    if not sample.clips:
        raise DatasetFormatError(f"none of the {len(chosen)} sampled clips of {directory} could be read; "
                                 "run `synth validate` on it")
    return sample


# ---------------------------------------------------------------------------------------------
# The command


@click.command("inspect")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the PNG plots and stats.json (default: DIRECTORY/inspect).")
@click.option("--max-clips", type=click.IntRange(min=1), default=200, show_default=True,
              help="Read at most this many clips, evenly spread over the dataset.")
@click.option("--frames-per-clip", type=click.IntRange(min=1), default=2, show_default=True,
              help="Segmentation frames per sampled clip counted for the class frequencies.")
def inspect(directory: Path, out: Path | None, max_clips: int, frames_per_clip: int) -> None:
    """Statistics and plots of the clips in DIRECTORY: what motions, bodies, cameras, lights
    and backgrounds it holds, how often each body part is seen, and sample frames.

    Writes joint_angles.png (pose angle per joint group, degrees), camera_distance.png,
    sh_energy.png (lighting coefficients and the energy of each SH band),
    class_frequencies.png (pixel share of background and the 24 parts), samples.png (RGB with
    the parts overlaid) and stats.json. Unreadable clips are listed and skipped.

    Example: `synth inspect data --max-clips 100` then open data/inspect/samples.png.
    """
    if not directory.is_dir():
        raise DatasetFormatError(f"{directory} is not a folder (give a dataset folder or a clip folder)")
    sample = gather(directory, max_clips, frames_per_clip)
    out = out or directory / "inspect"
    out.mkdir(parents=True, exist_ok=True)
    stats = sample.stats()
    _write_text(out / "stats.json", json.dumps(stats, indent=1) + "\n")
    written = write_plots(sample, out)
    click.echo(report_text(directory, stats, sample))
    click.echo(f"Plots in {out}: {', '.join(path.name for path in written)}, stats.json")


def report_text(directory: Path, stats: dict, sample: DatasetSample) -> str:
    distance = stats["camera_distance_m"]
    shares = sample.class_shares()
    seen = [(share, name) for share, name in zip(shares[1:], PART_NAMES)]
    lines = [
        f"Dataset {directory}: {stats['clips_in_dataset']:,} clip(s); statistics over "
        f"{stats['clips_sampled']:,} sampled ({stats['frames_sampled']:,} frames)",
        f"  resolutions   {_counts(stats['resolutions'])}",
        f"  motions       {_counts(stats['motions'])}",
        f"  genders       {_counts(stats['genders'])}",
        f"  backgrounds   {_counts(stats['background_kinds'])} ({stats['backgrounds_distinct']} distinct)",
        f"  camera distance (m)  min {distance['min']:.2f}  mean {distance['mean']:.2f}  "
        f"max {distance['max']:.2f}  std {distance['std']:.2f}",
    ]
    if sample.class_pixels.sum():
        smallest, largest = min(seen), max(seen)
        lines.append(f"  pixels        background {100 * shares[0]:.1f}%, body {100 * (1 - shares[0]):.1f}% "
                     f"(largest part {largest[1]} {100 * largest[0]:.2f}%, smallest {smallest[1]} "
                     f"{100 * smallest[0]:.3f}%)")
    for name, reason in sample.unreadable.items():
        lines.append(f"  skipped {name}: {reason}")
    return "\n".join(lines)


def _counts(counter: dict, shown: int = 12) -> str:
    items = list(counter.items())
    text = ", ".join(f"{key} {count}" for key, count in items[:shown])
    return text + (f", ... ({len(items) - shown} more)" if len(items) > shown else "")


def _write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


# ---------------------------------------------------------------------------------------------
# Plots


def write_plots(sample: DatasetSample, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    drawings = (plot_joint_angles, plot_camera_distances, plot_sh_energy, plot_class_frequencies, plot_samples)
    return [_save(drawing(sample), out / name) for drawing, name in zip(drawings, PLOTS)]


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    temporary = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(temporary, format="png", dpi=DPI)
        temporary.replace(path)
    finally:
        plt.close(fig)
        temporary.unlink(missing_ok=True)
    return path


def plot_joint_angles(sample: DatasetSample):
    import matplotlib.pyplot as plt

    angles = np.concatenate(sample.pose_angles)  # frames x 24, degrees
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    bins = np.linspace(0, max(float(angles.max()), 1.0), 41)
    for ax, (group, joints) in zip(axes.ravel(), JOINT_GROUPS.items()):
        for joint in joints:
            ax.hist(angles[:, JOINT_NAMES.index(joint)], bins=bins, histtype="step", lw=1.3, label=joint)
        ax.set_title(group)
        ax.set_xlabel("rotation angle |axis-angle| (degrees)")
        ax.set_ylabel("frames")
        ax.legend(fontsize=7)
    fig.suptitle(f"Joint rotations relative to the parent, {len(angles):,} frames of {len(sample.clips)} clips")
    return fig


def plot_camera_distances(sample: DatasetSample):
    import matplotlib.pyplot as plt

    distances = np.array(sample.camera_distances)
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    ax.hist(distances, bins=min(40, max(5, len(distances) // 3)), color="#4c78a8", edgecolor="white")
    ax.axvline(distances.mean(), color="#e45756", lw=1.5, label=f"mean {distances.mean():.2f} m")
    ax.set_xlabel("camera centre to pelvis, first frame (m)")
    ax.set_ylabel("clips")
    ax.set_title(f"Camera distance, {len(distances)} clips")
    ax.legend()
    return fig


def plot_sh_energy(sample: DatasetSample):
    import matplotlib.pyplot as plt

    sh = np.stack(sample.sh)  # clips x 9
    fig, (coefficients, bands) = plt.subplots(1, 2, figsize=(12, 4.5), constrained_layout=True)
    coefficients.boxplot([sh[:, i] for i in range(9)], tick_labels=SH_NAMES)
    coefficients.axhline(0, color="grey", lw=0.8)
    coefficients.set_title("SH lighting coefficients (SURREAL order)")
    coefficients.set_ylabel("value")
    energy = {name: (sh[:, band] ** 2).sum(axis=1) for name, band in SH_BANDS.items()}
    bins = np.linspace(0, max(float(max(e.max() for e in energy.values())), 1e-6), 31)
    for name, values in energy.items():
        bands.hist(values, bins=bins, histtype="step", lw=1.5, label=f"{name}, mean {values.mean():.2f}")
    bands.set_title("Energy per SH band (sum of squared coefficients)")
    bands.set_xlabel("energy")
    bands.set_ylabel("clips")
    bands.legend()
    return fig


def plot_class_frequencies(sample: DatasetSample):
    import matplotlib.pyplot as plt

    shares = sample.class_shares()
    colours = part_palette()[:NUM_JOINTS + 1] / 255.0
    colours[0] = (0.55, 0.55, 0.55)  # the palette's black background would vanish on white
    fig, ax = plt.subplots(figsize=(13, 5), constrained_layout=True)
    ax.bar(np.arange(NUM_JOINTS + 1), np.maximum(shares, 1e-9), color=colours, edgecolor="black", lw=0.4)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(NUM_JOINTS + 1), [f"{i} {name}" for i, name in enumerate(CLASS_NAMES)],
                  rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("share of pixels (log)")
    ax.set_title(f"Pixels per class, {int(sample.class_pixels.sum()):,} pixels of {len(sample.clips)} clips")
    return fig


def overlay_parts(rgb: np.ndarray | None, segmentation: np.ndarray | None, alpha: float = 0.5) -> np.ndarray:
    """RGB with each body part's palette colour blended in (background untouched)."""
    colours = part_palette()[segmentation] if segmentation is not None else None
    if rgb is None:
        return colours
    if colours is None:
        return rgb
    body = (segmentation > 0)[..., None]
    return np.where(body, (1 - alpha) * rgb + alpha * colours, rgb).round().astype(np.uint8)


def plot_samples(sample: DatasetSample):
    import matplotlib.pyplot as plt

    columns = min(4, max(1, len(sample.tiles)))
    rows = max(1, -(-len(sample.tiles) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.7 * rows), squeeze=False,
                             constrained_layout=True)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, (name, rgb, segmentation) in zip(axes.ravel(), sample.tiles):
        image = overlay_parts(rgb, segmentation)
        if image is not None:
            ax.imshow(image, interpolation="nearest")
        ax.set_title(name, fontsize=8)
    fig.suptitle("Middle frame of sampled clips, body parts overlaid")
    return fig

"""`synth validate`: check every clip of a dataset, file by file and frame by frame.

Per clip: it opens (meta.json, annotations schema, every file present), every file matches
``checksums.sha256``, every frame of every pass decodes, the label values lie in their ranges
(FORMAT.md) and agree with each other (depth > 0, normals != 0 and part > 0 on exactly the
same pixels; joints2d is the projection of joints3d_camera, which is camera_Rt applied to
joints3d_world; a visible joint projects inside the image). Per dataset: every clip that the
recorded runs asked for is there. A bad clip is reported and the run goes on.
"""

from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from synth_cli.commands.status import CLIP_FOLDER, scan_dataset
from synth_cli.farm.local import clip_name
from synth_core.body.parts import JOINT_NAMES, NUM_JOINTS, OCCLUDER_ID
from synth_core.dataset import format as fmt
from synth_core.dataset import read_clip
from synth_core.dataset.index import STATE_DIR, DatasetIndex
from synth_core.errors import DatasetFormatError

# Tolerances of the decoded values (FORMAT.md): normals are stored as round(127 n), so a unit
# normal decodes to length 1 +- sqrt(3) * 0.5 / 127 = 0.0068.
NORMAL_LENGTH_TOLERANCE = 0.02
CAMERA_TOLERANCE_M = 1e-6      # joints3d_camera against camera_Rt @ joints3d_world (float64 values)
PROJECTION_TOLERANCE_PX = 1e-3  # joints2d against the projection of joints3d_camera
MAX_PROBLEMS_PER_CLIP = 20     # a broken clip can fail every frame: list the first ones only
SHOWN_MISSING = 10


@dataclass(frozen=True)
class Problem:
    clip: str
    message: str
    frame: int | None = None

    def __str__(self) -> str:
        where = self.clip if self.frame is None else f"{self.clip} frame {self.frame}"
        return f"{where}: {self.message}"


@dataclass
class ClipReport:
    """What validating one clip found: frames decoded and problems (empty: the clip is good)."""

    name: str
    frames: int = 0
    problems: list[Problem] = field(default_factory=list)
    hidden: int = 0  # problems past MAX_PROBLEMS_PER_CLIP

    def add(self, message: str, frame: int | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS_PER_CLIP:
            self.problems.append(Problem(self.name, message, frame))
        else:
            self.hidden += 1


# ---------------------------------------------------------------------------------------------
# One clip


def validate_clip(path: Path, options: dict | None = None) -> ClipReport:
    """Every check on the clip folder ``path``; ``options`` (the dataset's render options, if
    recorded) adds: the clip has the dataset's resolution, passes and RGB format. Never raises."""
    report = ClipReport(path.name)
    try:
        _check_clip(path, options or {}, report)
    except Exception as exc:  # noqa: BLE001 -- an unforeseen failure is this clip's problem, not the run's
        report.add(f"cannot be checked: {type(exc).__name__}: {_short(str(exc), path)}")
    return report


def _check_clip(path: Path, options: dict, report: ClipReport) -> None:
    try:
        clip = read_clip(path)
    except DatasetFormatError as exc:
        report.add(_short(str(exc), path))
        return
    with clip:
        for message in meta_problems(path.name, clip, options):
            report.add(message)
        try:
            clip.verify()
        except DatasetFormatError as exc:
            report.add(_short(str(exc), path))
        for message in stored_annotation_problems(path):
            report.add(message)
        for message, frame in joint_problems(clip.annotations, clip.height, clip.width):
            report.add(message, frame)
        for i in range(clip.n_frames):
            try:
                frame = clip.frame(i)
            except DatasetFormatError as exc:
                report.add(_short(str(exc), path), i)
                continue
            report.frames += 1
            for message in frame_problems(frame):
                report.add(message, i)


def _short(message: str, path: Path) -> str:
    """The reader's messages name the clip by its full path; the report names it already."""
    for prefix in (f"clip {path}: ", f"clip {path} "):
        if message.startswith(prefix):
            message = message[len(prefix):]
            break
    return message.replace(f"clip {path}: ", "").replace(f"{path}/", "").replace(str(path), path.name)


def meta_problems(name: str, clip, options: dict) -> list[str]:
    problems = []
    match = CLIP_FOLDER.fullmatch(name)
    seed = clip.meta.get("seed")
    if match and seed is not None and seed != int(match.group(1)):
        problems.append(f"meta.json says seed {seed!r}, but the folder is named for seed {int(match.group(1))}")
    if "width" in options and (clip.width, clip.height) != (options["width"], options["height"]):
        problems.append(f"resolution {clip.width}x{clip.height}, but the dataset was rendered at "
                        f"{options['width']}x{options['height']}")
    if "passes" in options and set(clip.passes) != set(options["passes"]):
        problems.append(f"passes {', '.join(clip.passes)}, but the dataset has {', '.join(options['passes'])}")
    if "rgb" in clip.passes and options.get("rgb_format", clip.rgb_format) != clip.rgb_format:
        problems.append(f"RGB stored as {clip.rgb_format}, but the dataset uses {options['rgb_format']}")
    return problems


def stored_annotation_problems(path: Path) -> list[str]:
    """The reader converts annotations to their types (0/1 integers to bool, ...); the file
    itself must hold them as FORMAT.md says (float64, bool, int64)."""
    problems = []
    with np.load(path / fmt.ANNOTATIONS_FILE, allow_pickle=False) as archive:
        for name, (_, kind) in fmt.ANNOTATION_SPECS.items():
            stored, wanted = archive[name].dtype, np.dtype(fmt.STORED_DTYPES[kind])
            if stored != wanted:
                problems.append(f"annotation '{name}' is stored as {stored}, FORMAT.md says {wanted}")
    return problems


def joint_problems(annotations: dict, height: int, width: int) -> list[tuple[str, int]]:
    """Joints against the camera, recomputed here: (message, first frame) per kind of problem."""
    problems = []
    k, rt = fmt.frame_cameras(annotations)  # T x 3 x 3, T x 3 x 4
    world, camera = annotations["joints3d_world"], annotations["joints3d_camera"]
    error = np.abs(world @ rt[:, :, :3].transpose(0, 2, 1) + rt[:, None, :, 3] - camera).max(axis=-1)  # T x 24
    if (error > CAMERA_TOLERANCE_M).any():
        problems.append(_joint_message("joints3d_camera is not camera_Rt applied to joints3d_world",
                                       error > CAMERA_TOLERANCE_M, error, "m"))
    z = camera[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        projected = camera @ k.transpose(0, 2, 1)
        uv = projected[..., :2] / projected[..., 2:]
    in_front = z > 0
    offset = np.where(in_front, np.abs(uv - annotations["joints2d"]).max(axis=-1), 0.0)
    if (offset > PROJECTION_TOLERANCE_PX).any():
        problems.append(_joint_message("joints2d is not the projection of joints3d_camera through camera_K",
                                       offset > PROJECTION_TOLERANCE_PX, offset, "px"))
    pixel = np.rint(annotations["joints2d"])
    inside = in_front & (pixel[..., 0] >= 0) & (pixel[..., 0] < width) & (pixel[..., 1] >= 0) & \
        (pixel[..., 1] < height)
    wrongly_visible = annotations["joints_visible"] & ~inside
    if wrongly_visible.any():
        problems.append(_joint_message("joints_visible marks joints visible that lie outside the image or "
                                       "behind the camera", wrongly_visible))
    return problems


def _joint_message(text: str, bad: np.ndarray, size: np.ndarray | None = None, unit: str = "") -> tuple[str, int]:
    frame, joint = (int(v) for v in np.argwhere(bad)[0])
    frames = int(bad.any(axis=1).sum())
    largest = f", by up to {size[bad].max():.3g} {unit}" if size is not None else ""
    return (f"{text} in {frames} frame(s){largest} (first: joint {JOINT_NAMES[joint]})", frame)


def frame_problems(frame: dict[str, np.ndarray]) -> list[str]:
    """Label ranges and the agreement of the passes on which pixels are background."""
    problems = []
    seg, depth, normals = frame.get("segmentation"), frame.get("depth"), frame.get("normals")
    if seg is not None:
        problems += _pixels(seg > OCCLUDER_ID, f"segmentation holds ids above {OCCLUDER_ID} (max {int(seg.max())}; "
                                               f"parts are 0..{NUM_JOINTS}, {OCCLUDER_ID} an occluder)")
    if depth is not None:
        problems += _pixels(~np.isfinite(depth) | (depth < 0), "depth is negative or not finite")
    for name in ("flow_forward", "flow_backward"):
        if name in frame:
            problems += _pixels(~np.isfinite(frame[name]).all(axis=-1), f"{name} is not finite")
    length = None
    if normals is not None:
        length = np.linalg.norm(normals.astype(np.float64), axis=-1)
        not_unit = (length > 0) & (np.abs(length - 1) > NORMAL_LENGTH_TOLERANCE) | ~np.isfinite(length)
        problems += _pixels(not_unit, "normals are neither unit length nor 0")
    # Which pixels are background, asked of each pass: the answers must agree exactly.
    foreground = {name: mask for name, mask in (("segmentation > 0", None if seg is None else seg > 0),
                                                ("depth > 0", None if depth is None else depth > 0),
                                                ("normals != 0", None if length is None else length > 0))
                  if mask is not None}
    names = list(foreground)
    for other in names[1:]:
        problems += _pixels(foreground[names[0]] != foreground[other],
                            f"{other} and {names[0]} disagree (they must hold on exactly the same pixels)")
    return problems


def _pixels(bad: np.ndarray, text: str) -> list[str]:
    if not bad.any():
        return []
    row, column = (int(v) for v in np.argwhere(bad)[0])
    return [f"{text}: {int(bad.sum())} pixel(s), first at row {row}, column {column}"]


# ---------------------------------------------------------------------------------------------
# The dataset


def clip_folders(directory: Path) -> list[Path]:
    """The clip folders to check: DIRECTORY itself if it is a clip, else its sub-folders named
    clip_<seed> or holding a meta.json (unfinished *.partial folders and .synth excluded)."""
    if (directory / fmt.META_FILE).is_file():
        return [directory]
    folders = []
    for child in directory.iterdir():
        if child.name.startswith(".") or fmt.is_partial(child.name) or not child.is_dir():
            continue
        if CLIP_FOLDER.fullmatch(child.name) or (child / fmt.META_FILE).is_file():
            folders.append(child)
    return sorted(folders)


def missing_clip_problems(directory: Path) -> list[Problem]:
    """Clips the recorded runs asked for that are not there (failed, being written, or not yet
    rendered)."""
    if not (directory / STATE_DIR).is_dir():
        return []
    state = scan_dataset(directory)
    remaining = state.remaining
    absent = sorted(set(state.failed) | set(state.in_progress) | set(remaining or ()))
    if not absent:
        return []
    shown = ", ".join(clip_name(s) for s in absent[:SHOWN_MISSING]) + (", ..." if len(absent) > SHOWN_MISSING else "")
    details = ", ".join(f"{count} {what}" for count, what in ((len(state.failed), "failed"),
                                                              (len(state.in_progress), "in progress"),
                                                              (len(remaining or ()), "not rendered yet")) if count)
    return [Problem("dataset", f"{len(absent):,} clip(s) asked for are missing ({details}): {shown}; "
                               "see `synth status`")]


@click.command("validate")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Check this many clips at once, in separate processes.")
def validate(directory: Path, jobs: int) -> None:
    """Check every clip in DIRECTORY (a dataset, or one clip folder); exit 1 if anything is wrong.

    Each clip: every file present and matching its checksum, every frame of every pass
    decodable, label values in range (parts 0..24; depth >= 0 and finite; flow finite;
    normals of unit length, or 0 on background), background agreeing across passes (part 0,
    depth 0 and normal 0 on exactly the same pixels), joints consistent with the camera, and
    the dataset's resolution and passes. The dataset: every clip its runs asked for is there.
    Each problem is printed with its clip (and frame); bad clips do not stop the check.

    Example: `synth validate data --jobs 4` (exit code 0: every clip is good).
    """
    if not directory.is_dir():
        raise DatasetFormatError(f"{directory} is not a folder (give a dataset folder or a clip folder)")
    folders = clip_folders(directory)
    if not folders:
        raise DatasetFormatError(f"{directory} holds no clips (no clip_* folder or meta.json in it)")
    config = DatasetIndex(directory).config() if (directory / STATE_DIR).is_dir() else None
    options = (config or {}).get("identity", {}).get("options", {})
    console = Console(highlight=False, soft_wrap=True)
    problems = list(missing_clip_problems(directory))
    for problem in problems:
        console.print(f"[red]{escape(str(problem))}[/]")
    reports = _check_all(folders, options, jobs, console)
    _summary(console, reports, problems)
    if problems or any(report.problems for report in reports):
        sys.exit(1)


def _check_all(folders: list[Path], options: dict, jobs: int, console: Console) -> list[ClipReport]:
    reports = []
    columns = (TextColumn("validating"), BarColumn(), MofNCompleteColumn(), TextColumn("clips"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("clips", total=len(folders))
        with ProcessPoolExecutor(jobs) if jobs > 1 else _Inline() as pool:
            for report in pool.map(validate_clip, folders, [options] * len(folders), chunksize=4):
                for problem in report.problems:
                    console.print(f"[red]{escape(str(problem))}[/]")
                if report.hidden:
                    console.print(f"[red]{escape(report.name)}: ... and {report.hidden} more problem(s)[/]")
                reports.append(report)
                progress.advance(task)
    return reports


class _Inline:
    """The pool interface, in this process (--jobs 1)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    @staticmethod
    def map(function, *iterables, chunksize: int = 1):
        return map(function, *iterables)


def _summary(console: Console, reports: list[ClipReport], dataset_problems: list[Problem]) -> None:
    bad = [report for report in reports if report.problems]
    frames = sum(report.frames for report in reports)
    counted = f"Checked {len(reports):,} clip(s), {frames:,} frame(s) decoded"
    if not bad and not dataset_problems:
        console.print(f"[green]{counted}: no problems.[/]")
        return
    n_problems = sum(len(report.problems) + report.hidden for report in bad) + len(dataset_problems)
    names = ", ".join(report.name for report in sorted(bad, key=lambda r: r.name)[:SHOWN_MISSING])
    more = ", ..." if len(bad) > SHOWN_MISSING else ""
    console.print(f"[red]{counted}: {n_problems:,} problem(s)"
                  + (f" in {len(bad):,} clip(s): {escape(names)}{more}" if bad else "") + "[/]")

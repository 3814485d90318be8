"""2D keypoints of a real video from the user's own detector (OpenPose, MMPose, Sports2D, ...):
the keypoint inputs of Doersch & Zisserman's model at test time.

File format (one person, one video; JSON or CSV, told apart by the suffix)
-------------------------------------------------------------------------
Every frame of the video has its keypoints: frame = the 0-based index of the frame in the video
as decoded (every frame counts, the first is 0). x, y = pixels of the video frame (x right, y
down, the centre of the top-left pixel at 0, 0); confidence = the detector's score, >= 0 (0 =
not found). Joint names are the joint set's (for "dz12": left_shoulder, right_shoulder,
left_elbow, right_elbow, left_wrist, right_wrist, left_hip, right_hip, left_knee, right_knee,
left_ankle, right_ankle: COCO's and MMPose's names); OpenPose / Sports2D spellings are accepted
too ("LShoulder", "RAnkle", "MidHip" = left_shoulder, right_ankle, mid_hip; case, spaces and
hyphens do not matter). Other keypoints detectors give (nose, eyes, ears, neck, mid_hip, head,
toes, heels) may be left in and are skipped; any other name is an error.

JSON (``.json``)::

    {"n_frames": 3,
     "frames": [
       {"frame": 0, "keypoints": {"left_shoulder": [412.5, 203.0, 0.93], "right_shoulder": [365.1, 201.7, 0.91], ...}},
       {"frame": 1, "keypoints": {"left_shoulder": [413.0, 204.2, 0.95], ...}},
       {"frame": 2, "keypoints": {}}
     ]}

``n_frames`` (optional; otherwise the last frame + 1) is the video's length; each frame appears
once; a frame with no person is ``"keypoints": {}``.

CSV (``.csv``): a header and one row per frame and joint::

    frame,joint,x,y,confidence
    0,left_shoulder,412.5,203.0,0.93
    0,right_shoulder,365.1,201.7,0.91
    1,left_shoulder,413.0,204.2,0.95
    2,left_shoulder,,,0

The video's length is the last frame + 1, and every frame needs at least one row (a frame with
no person: one row with confidence 0 and empty x, y).

In both: a joint left out of a frame, or given with an empty / NaN value, is "not found" and
reads as (0, 0, 0); a joint of the set absent from the whole file, a frame missing, a frame
or joint given twice, a non-numeric value, an infinite coordinate or a negative confidence is
an error naming the file (and the frame and joint). Converting OpenPose's per-frame files
(BODY_25 order) is a few lines::

    names = ["nose", "neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
             "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle"]  # the first 15 of BODY_25
    frames = []
    for i, f in enumerate(sorted(glob.glob("openpose_json/*_keypoints.json"))):
        people = json.load(open(f))["people"]
        values = people[0]["pose_keypoints_2d"] if people else []
        frames.append({"frame": i, "keypoints": {n: values[3 * k:3 * k + 3] for k, n in enumerate(names) if values}})
    json.dump({"n_frames": len(frames), "frames": frames}, open("keypoints.json", "w"))
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from synth_core.errors import TrainingError
from trainers.pose3d.joints import JOINT_SETS, JointSet, get_joint_set

# keypoints detectors commonly give beyond our sets' joints (COCO's face, OpenPose BODY_25's and
# Halpe-26's extras): skipped, not errors
DETECTOR_EXTRAS = frozenset({
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "neck", "mid_hip", "hip", "head",
    "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel",
})
CSV_COLUMNS = ("frame", "joint", "x", "y", "confidence")


def canonical_name(name: str) -> str:
    """A detector's joint name in our spelling: "LShoulder" -> left_shoulder, "MidHip" -> mid_hip,
    "Left Shoulder" / "left-shoulder" -> left_shoulder."""
    name = name.strip()
    openpose_side = len(name) > 2 and name[1].isupper() and name[2].islower()   # LShoulder, not LEFT
    side = {"L": "left_", "R": "right_"}.get(name[:1]) if openpose_side else None
    if side:
        name = name[1:]
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    snake = re.sub(r"[\s\-]+", "_", snake).lower()
    return (side or "") + snake


def _known_names() -> set[str]:
    return {name for joints in JOINT_SETS.values() for name in joints.names} | DETECTOR_EXTRAS


def read_keypoints(path: str | Path, n_frames: int, joint_set: str | JointSet = "dz12") -> np.ndarray:
    """The file's keypoints as float32 n_frames x K x 3 (x, y, confidence; video pixels), in the
    joint set's order; (0, 0, 0) where a joint was not found. Checked against the video's
    ``n_frames``: see the module docstring for the format and the errors."""
    path, joints = Path(path), get_joint_set(joint_set)
    if not path.is_file():
        raise TrainingError(f"keypoint file {path} does not exist")
    if path.suffix.lower() not in (".json", ".csv"):
        raise TrainingError(f"keypoint file {path}: unknown format {path.suffix!r}; give a .json or .csv file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingError(f"keypoint file {path} cannot be read: {exc}") from None
    entries, declared = (_json_entries if path.suffix.lower() == ".json" else _csv_entries)(text, path)
    return _assemble(entries, declared, n_frames, joints, path)


def _json_entries(text: str, path: Path) -> tuple[list[tuple[object, str, object, object, object]], object]:
    """(frame, joint, x, y, confidence) rows of a JSON file, and its n_frames (or None)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrainingError(f"keypoint file {path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("frames"), list):
        raise TrainingError(f"keypoint file {path} must hold an object with a \"frames\" list "
                            f"(see the format in trainers/pose3d/keypoints.py)")
    rows, seen = [], []
    for position, entry in enumerate(document["frames"]):
        if not isinstance(entry, dict) or "frame" not in entry or not isinstance(entry.get("keypoints", {}), dict):
            raise TrainingError(f"keypoint file {path}: entry {position} of \"frames\" must be "
                                f"{{\"frame\": index, \"keypoints\": {{name: [x, y, confidence]}}}}")
        if entry["frame"] in seen:
            raise TrainingError(f"keypoint file {path}: frame {entry['frame']} appears twice in \"frames\"")
        seen.append(entry["frame"])
        for name, value in entry.get("keypoints", {}).items():
            if not isinstance(value, (list, tuple)) or len(value) != 3:
                raise TrainingError(f"keypoint file {path}: frame {entry['frame']} joint {name}: expected "
                                    f"[x, y, confidence], got {value!r}")
            rows.append((entry["frame"], name, *value))
    rows += [(frame, None, None, None, None) for frame in seen]  # every listed frame exists
    return rows, document.get("n_frames")


def _csv_entries(text: str, path: Path) -> tuple[list, None]:
    reader = csv.reader(text.splitlines())
    header = [column.strip().lower() for column in next(reader, [])]
    if tuple(header[:5]) != CSV_COLUMNS:
        raise TrainingError(f"keypoint file {path}: the CSV header must be {','.join(CSV_COLUMNS)}, "
                            f"not {','.join(header) or 'empty'}")
    rows = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 5:
            raise TrainingError(f"keypoint file {path} line {line}: {len(row)} columns, expected "
                                f"{','.join(CSV_COLUMNS)}")
        rows.append(tuple(cell.strip() for cell in row[:5]))
    return rows, None


def _number(value, path: Path, where: str) -> float:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return math.nan
    if isinstance(value, bool):
        raise TrainingError(f"keypoint file {path}: {where} is {value!r}, not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TrainingError(f"keypoint file {path}: {where} is {value!r}, not a number") from None


def _frame_index(value, path: Path, what: str = "frame") -> int:
    try:
        number = float(value)
        if number != int(number) or number < 0:
            raise ValueError
        return int(number)
    except (TypeError, ValueError, OverflowError):
        raise TrainingError(f"keypoint file {path}: {what} {value!r} is not a whole number >= 0") from None


def _assemble(rows: list, declared, n_frames: int, joints: JointSet, path: Path) -> np.ndarray:
    frames = [_frame_index(row[0], path) for row in rows]
    length = _frame_index(declared, path, "n_frames") if declared is not None else (max(frames) + 1 if frames else 0)
    if length != n_frames:
        raise TrainingError(f"keypoint file {path} is for a video of {length} frames, but the video has "
                            f"{n_frames}: a keypoint file for another video?")
    outside = sorted({f for f in frames if f >= n_frames})
    missing = sorted(set(range(n_frames)) - set(frames))
    if outside or missing:
        problem = (f"frames {_listed(outside)} past the video's {n_frames}" if outside
                   else f"no frames {_listed(missing)}")
        raise TrainingError(f"keypoint file {path} has {problem}: every frame 0..{n_frames - 1} needs an entry")
    known, wanted = _known_names(), {name: k for k, name in enumerate(joints.names)}
    unknown = sorted({str(row[1]) for row in rows if row[1] is not None and canonical_name(str(row[1])) not in known})
    if unknown:
        raise TrainingError(f"keypoint file {path}: unknown joint names {', '.join(unknown)}; joint set "
                            f"{joints.name} has {', '.join(joints.names)}")
    keypoints = np.zeros((n_frames, len(joints), 3), dtype=np.float32)
    given: set[tuple[int, int]] = set()
    for frame, row in zip(frames, rows):
        if row[1] is None or canonical_name(str(row[1])) not in wanted:
            continue
        k = wanted[canonical_name(str(row[1]))]
        if (frame, k) in given:
            raise TrainingError(f"keypoint file {path}: frame {frame} gives joint {row[1]} twice")
        given.add((frame, k))
        values = [_number(value, path, f"frame {frame} joint {row[1]} {axis}")
                  for value, axis in zip(row[2:], ("x", "y", "confidence"))]
        keypoints[frame, k] = _checked(values, path, frame, row[1])
    absent = [name for k, name in enumerate(joints.names) if not any(key[1] == k for key in given)]
    if absent:
        raise TrainingError(f"keypoint file {path} has no {', '.join(absent)} in any frame (joint set {joints.name} "
                            f"needs {', '.join(joints.names)})")
    return keypoints


def _checked(values: list[float], path: Path, frame: int, name) -> list[float]:
    """(x, y, confidence), or (0, 0, 0) for a joint not found (a NaN / empty value)."""
    if any(math.isnan(v) for v in values):
        return [0.0, 0.0, 0.0]
    if any(math.isinf(v) for v in values) or values[2] < 0:
        raise TrainingError(f"keypoint file {path}: frame {frame} joint {name} has {values}: coordinates must be "
                            f"finite and the confidence >= 0")
    return values


def _listed(frames: list[int], shown: int = 8) -> str:
    text = ", ".join(map(str, frames[:shown]))
    return text + (f" and {len(frames) - shown} more" if len(frames) > shown else "")


def write_keypoints(path: str | Path, keypoints: np.ndarray, joint_set: str | JointSet = "dz12") -> None:
    """Write T x K x 3 keypoints (x, y, confidence) in the format above (by the suffix), atomically;
    joints with confidence 0 are written as not found."""
    from trainers.runs import atomic_write

    path, joints = Path(path), get_joint_set(joint_set)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1:] != (len(joints), 3):
        raise TrainingError(f"mismatched joint sets: keypoints of shape {keypoints.shape}, joint set {joints.name} "
                            f"needs T x {len(joints)} x 3")
    if path.suffix.lower() == ".json":
        frames = [{"frame": t, "keypoints": {name: [float(v) for v in keypoints[t, k]]
                                             for k, name in enumerate(joints.names) if keypoints[t, k, 2] > 0}}
                  for t in range(len(keypoints))]
        text = json.dumps({"n_frames": len(keypoints), "frames": frames})
    elif path.suffix.lower() == ".csv":
        lines = [",".join(CSV_COLUMNS)]
        for t, frame in enumerate(keypoints):
            found = [(joints.names[k], *frame[k]) for k in range(len(joints)) if frame[k, 2] > 0]
            lines += [f"{t},{name},{x!r},{y!r},{c!r}" for name, x, y, c in found] or [f"{t},{joints.names[0]},,,0"]
        text = "\n".join(lines) + "\n"
    else:
        raise TrainingError(f"keypoint file {path}: unknown format {path.suffix!r}; give a .json or .csv file")
    atomic_write(path, lambda temporary: temporary.write_text(text))

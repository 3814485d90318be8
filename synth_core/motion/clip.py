"""A motion clip: a sequence of SMPL poses and root translations at a frame rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth_core.body.parts import NUM_JOINTS
from synth_core.errors import MotionError

MOTION_SOURCES = ("procedural", "amass", "bvh", "prior")


@dataclass(frozen=True, eq=False)
class MotionClip:
    """T frames of body motion in the body model's frame (read-only arrays).

    pose:   T x 24 x 3 axis-angle radians, SMPL joint order, each rotation local to its
            parent; joint 0 is the global orientation, about the pelvis joint. A T x 72
            array is accepted and reshaped.
    transl: T x 3 metres, added to every posed point (Y up; the rest body faces +Z).
    fps:    frames per second; source: one of :data:`MOTION_SOURCES`; name: for people.
    """

    pose: np.ndarray
    transl: np.ndarray
    fps: float
    source: str
    name: str

    def __post_init__(self) -> None:
        pose = _finite_array(self.pose, "pose", self.name)
        if pose.ndim == 2 and pose.shape[1] == NUM_JOINTS * 3:
            pose = pose.reshape(-1, NUM_JOINTS, 3)
        if pose.ndim != 3 or pose.shape[1:] != (NUM_JOINTS, 3) or pose.shape[0] < 1:
            raise MotionError(f"motion {self.name!r}: pose must be T x {NUM_JOINTS} x 3 with T >= 1, "
                              f"got shape {pose.shape}")
        transl = _finite_array(self.transl, "transl", self.name)
        if transl.shape != (pose.shape[0], 3):
            raise MotionError(f"motion {self.name!r}: transl must be T x 3 = {(pose.shape[0], 3)} "
                              f"to match pose, got shape {transl.shape}")
        try:
            fps = float(self.fps)
        except (TypeError, ValueError):
            raise MotionError(f"motion {self.name!r}: fps must be a number, got {self.fps!r}") from None
        if not np.isfinite(fps) or fps <= 0:
            raise MotionError(f"motion {self.name!r}: fps must be positive and finite, got {self.fps!r}")
        if self.source not in MOTION_SOURCES:
            raise MotionError(f"motion {self.name!r}: source must be one of {MOTION_SOURCES}, got {self.source!r}")
        if not isinstance(self.name, str):
            raise MotionError(f"motion name must be a string, got {self.name!r}")
        pose.flags.writeable = False
        transl.flags.writeable = False
        object.__setattr__(self, "pose", pose)
        object.__setattr__(self, "transl", transl)
        object.__setattr__(self, "fps", fps)

    @property
    def n_frames(self) -> int:
        return self.pose.shape[0]

    @property
    def duration_s(self) -> float:
        """Time from the first to the last frame."""
        return (self.n_frames - 1) / self.fps

    def window(self, start: int, n_frames: int) -> "MotionClip":
        """Frames ``start .. start + n_frames - 1`` as a new clip (same fps, source, name)."""
        start, n_frames = int(start), int(n_frames)
        if start < 0 or n_frames < 1 or start + n_frames > self.n_frames:
            raise MotionError(
                f"window of frames [{start}, {start + n_frames}) is outside motion {self.name!r}, "
                f"which has frames [0, {self.n_frames}); need start >= 0, n_frames >= 1 and "
                f"start + n_frames <= {self.n_frames}")
        return MotionClip(pose=self.pose[start:start + n_frames], transl=self.transl[start:start + n_frames],
                          fps=self.fps, source=self.source, name=self.name)


def _finite_array(value, field: str, name) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as exc:
        raise MotionError(f"motion {name!r}: {field} must be numeric ({exc})") from exc
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise MotionError(f"motion {name!r}: {field} has a NaN or infinite value at index {tuple(int(i) for i in bad)}")
    return array

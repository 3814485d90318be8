"""Motion sources: SMPL pose sequences from procedural generators, AMASS files or BVH files
(retargeted onto SMPL's skeleton: :mod:`.bvh`).

A :class:`MotionClip` holds T x 24 x 3 axis-angle poses (SMPL joint order, local to the
parent) and T x 3 translations in the body model's frame (Y up, the rest body faces +Z).
"""

from synth_core.motion.amass import load_amass, resample, z_up_to_y_up
from synth_core.motion.bvh import load_bvh, write_bvh
from synth_core.motion.clip import MOTION_SOURCES, MotionClip
from synth_core.motion.limits import (JOINT_LIMITS, JointLimit, LimitViolation, check_within_limits,
                                      clip_rotations_to_limits, limit_violations)
from synth_core.motion.procedural import (AMPLITUDE_RANGE, PROCEDURAL_KINDS, SPEED_RANGE, cycle_seconds,
                                          mirror_motion, motion_from_params, procedural_motion,
                                          sample_procedural_params)

__all__ = [
    "MotionClip", "MOTION_SOURCES",
    "JOINT_LIMITS", "JointLimit", "LimitViolation", "check_within_limits", "limit_violations",
    "clip_rotations_to_limits",
    "PROCEDURAL_KINDS", "SPEED_RANGE", "AMPLITUDE_RANGE", "procedural_motion", "cycle_seconds",
    "sample_procedural_params", "motion_from_params", "mirror_motion",
    "load_amass", "resample", "z_up_to_y_up", "load_bvh", "write_bvh",
]

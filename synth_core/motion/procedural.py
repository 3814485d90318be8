"""Procedural motions built directly in SMPL pose space (no mocap files).

Every kind is a cycle: the pose is a smooth periodic function of the cycle phase
``u = phase + t * speed / cycle_s`` (t in seconds), so a clip can start anywhere in the
cycle and loops. Walk and run move forward (+Z); turn accumulates yaw about +Y; everything
else stays on the spot. ``speed`` scales the cadence; ``amplitude`` scales the motion's
excursions (swing, depth, oscillation) around a relaxed standing posture with the arms
down; out-of-range angles are clamped to :data:`~synth_core.motion.limits.JOINT_LIMITS`.

Sign conventions (SMPL rest frame: +X = the body's left, +Y = up, +Z = forward; checked
against the body model in tests/test_motion.py): a positive X rotation swings a segment
hanging along -Y backward and tips the spine forward, so hip flexion is -X, knee flexion
+X, ankle plantarflexion +X; the left arm lies along +X, -Z lowers it; -Y at the left elbow
flexes it. Limb angles below are written for the left side; the right side is mirrored
(Euler x kept, y and z negated).

Translation comes from the feet: the body is posed on a nominal skeleton (the free
default body's rest joints) and lifted so its lowest sole point stays at the rest sole
height. On-the-spot kinds keep their supporting foot (or both feet's mean) still in XZ.
Walk and run move the pelvis by the reverse of the ground-contact points' motion (so the
foot on the ground does not slip; speed = stride x cadence), keeping the cycle's first
six harmonics of that velocity. While airborne (jump, run, jumping jacks) the body moves
in a straight line between take-off and landing plus a ballistic height g T^2 / 8 for a
flight of T seconds. Bodies of other sizes get the same translation, so their feet may
slide or float slightly.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from synth_core.body import lbs
from synth_core.body.parts import JOINT_NAMES, NUM_JOINTS, SMPL_PARENTS
from synth_core.errors import MotionError
from synth_core.motion.clip import MotionClip
from synth_core.motion.limits import JOINT_LIMITS, clip_rotations_to_limits
from synth_core.motion.rotations import euler_to_matrix, matrix_to_axis_angle, unwrap_axis_angle

GRAVITY = 9.81  # m/s^2
SPEED_RANGE = (0.5, 1.5)        # accepted by procedural_motion
AMPLITUDE_RANGE = (0.0, 1.5)
SAMPLED_SPEED = (0.8, 1.25)     # drawn by sample_procedural_params
SAMPLED_AMPLITUDE = (0.75, 1.15)
PARAM_KEYS = ("kind", "speed", "amplitude", "phase", "mirror")

_JOINT = {name: index for index, name in enumerate(JOINT_NAMES)}

# The free default body's rest joints at betas = 0 (metres, rounded to mm): the skeleton
# on which the feet are planted. Left side; the right side mirrors x.
_NOMINAL_LEFT_AND_CENTRE = {
    "pelvis": (0.0, 0.111, 0.014), "left_hip": (0.114, 0.095, 0.005), "spine1": (0.0, 0.193, -0.025),
    "left_knee": (0.114, -0.303, 0.005), "spine2": (0.0, 0.347, -0.014), "left_ankle": (0.114, -0.746, 0.005),
    "spine3": (0.0, 0.477, -0.024), "left_foot": (0.120, -0.788, 0.157), "neck": (0.0, 0.664, 0.016),
    "left_collar": (0.024, 0.586, 0.031), "head": (0.0, 0.762, 0.049), "left_shoulder": (0.178, 0.566, 0.026),
    "left_elbow": (0.444, 0.566, 0.026), "left_wrist": (0.681, 0.566, 0.026), "left_hand": (0.789, 0.566, 0.026),
}
# Sole points in the frame of (ankle, toe joint): heel, ball and toe tip; at rest all lie
# at the default body's sole height (y ~ -0.83 m).
_SOLE_POINTS = (("ankle", (0.0, -0.084, -0.045)), ("foot", (0.0, -0.042, 0.0)), ("foot", (0.0, -0.042, 0.06)))
_SOFT_MIN_M = 0.004  # smoothing length of the lowest-point (ground contact) soft minimum
_TRAVEL_HARMONICS = 6  # walking/running pelvis velocity: harmonics of the cycle kept


def _nominal_joints() -> np.ndarray:
    joints = []
    for name in JOINT_NAMES:
        if name.startswith("right_"):
            x, y, z = _NOMINAL_LEFT_AND_CENTRE["left_" + name[len("right_"):]]
            joints.append((-x, y, z))
        else:
            joints.append(_NOMINAL_LEFT_AND_CENTRE[name])
    return np.array(joints, dtype=np.float64)


_NOMINAL_JOINTS = _nominal_joints()
_PARENTS = np.array(SMPL_PARENTS)


# ----------------------------------------------------------------------------- profiles

def _bump(u: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Periodic bump (von Mises), 1 at ``centre``, ~Gaussian of std ``width`` (in cycles)."""
    kappa = 1.0 / (2.0 * math.pi * width) ** 2
    return np.exp(kappa * (np.cos(2.0 * math.pi * (u - centre)) - 1.0))


def _cos(u: np.ndarray, peak: float = 0.0, harmonic: int = 1) -> np.ndarray:
    return np.cos(2.0 * math.pi * harmonic * (u - peak))


def _keyframes(u: np.ndarray, keys: list[tuple[float, tuple[float, ...]]]) -> np.ndarray:
    """Periodic curve through ``(phase, values)`` keys (phases ascending in [0, 1)),
    wrapping from the last key to the first. Returns T x C (C = len(values)).

    Monotone cubic (Fritsch-Carlson) interpolation: smooth velocities through the keys,
    no overshoot, and a stop exactly at the keys that are local extrema or holds."""
    phases = np.array([key[0] for key in keys] + [keys[0][0] + 1.0])
    values = np.array([key[1] for key in keys] + [keys[0][1]], dtype=np.float64)  # n + 1 x C
    widths = np.diff(phases)[:, None]                                               # n x 1
    secants = np.diff(values, axis=0) / widths                                      # n x C
    before, after = np.roll(secants, 1, axis=0), secants
    width_before, width_after = np.roll(widths, 1, axis=0), widths
    w1, w2 = 2 * width_after + width_before, width_after + 2 * width_before
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / before + w2 / after)
    tangents = np.where(before * after > 0, harmonic, 0.0)
    tangents = np.vstack([tangents, tangents[:1]])                                  # n + 1 x C

    wrapped = np.mod(u, 1.0)
    wrapped = np.where(wrapped < phases[0], wrapped + 1.0, wrapped)
    segment = np.clip(np.searchsorted(phases, wrapped, side="right") - 1, 0, len(keys) - 1)
    h = widths[segment]
    s = ((wrapped - phases[segment])[:, None]) / h
    h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
    return (h00 * values[segment] + h10 * h * tangents[segment]
            + h01 * values[segment + 1] + h11 * h * tangents[segment + 1])


def _flight_height(u: np.ndarray, start: float, end: float, cycle_s: float) -> np.ndarray:
    """Ballistic height during the flight window [start, end] of the cycle (metres): a
    parabola whose apex g * T^2 / 8 follows from the flight time T."""
    flight_s = (end - start) * cycle_s
    apex = GRAVITY * flight_s ** 2 / 8.0
    s = (np.mod(u, 1.0) - start) / (end - start)
    return np.where((s > 0) & (s < 1), 4.0 * apex * s * (1.0 - s), 0.0)


# ----------------------------------------------------------------------------- pose builder

class _Pose:
    """Local joint rotations of T frames, set from Euler angles in degrees, plus how the
    body is supported (which feet stay planted) and any flight height."""

    def __init__(self, n_frames: int) -> None:
        self.n = n_frames
        self.rotations = np.tile(np.eye(3), (n_frames, NUM_JOINTS, 1, 1))
        self.support = "both"            # "both", "left", "right" or "progress" (walk/run)
        self.flight = np.zeros(n_frames)  # metres above foot contact
        self.flight_windows: list[tuple[float, float]] = []  # airborne parts of the cycle

    def fly(self, u: np.ndarray, start: float, end: float, cycle_s: float, scale: float = 1.0) -> None:
        """Airborne from phase ``start`` to ``end``: a ballistic height (scaled by ``scale``),
        and no foot to plant, so the body keeps its take-off-to-landing horizontal motion."""
        self.flight = self.flight + scale * _flight_height(u, start, end, cycle_s)
        if scale > 0:
            self.flight_windows.append((start, end))

    def set(self, joint: str, order: str = "XYZ", **degrees) -> None:
        """Intrinsic Euler angles in ``order``; a limited joint's angles are clamped to its
        box here, before they wrap around (the joint must use its limit's order)."""
        index = _JOINT[joint]
        limit = JOINT_LIMITS[index]
        if limit is not None and limit.order != order:
            raise ValueError(f"{joint} must be set in its limit order {limit.order}, not {order}")
        channels = []
        for axis in order:
            values = np.broadcast_to(np.asarray(degrees.get(axis.lower(), 0.0), dtype=np.float64), (self.n,))
            channels.append(values if limit is None else np.clip(values, *limit.range_of(axis)))
        self.rotations[:, index] = euler_to_matrix(np.radians(np.stack(channels, axis=-1)), order)

    def side(self, side: str, part: str, order: str = "XYZ", x=0.0, y=0.0, z=0.0) -> None:
        """Set a limb joint with left-side angles; the right side gets the mirror image."""
        sign = 1.0 if side == "left" else -1.0
        self.set(f"{side}_{part}", order, x=x, y=sign * np.asarray(y), z=sign * np.asarray(z))

    def root(self, yaw=0.0, pitch=0.0, roll=0.0) -> None:
        """Pelvis orientation: heading about +Y, then forward lean (+pitch), then roll
        (+roll lifts the left hip)."""
        self.set("pelvis", "YXZ", y=yaw, x=pitch, z=roll)

    def leg(self, side: str, hip=0.0, knee=0.0, ankle=0.0, toes=0.0, abduction=0.0, rotation=0.0) -> None:
        """Anatomical angles: hip flexion, knee flexion, ankle plantarflexion, toe extension,
        hip abduction and external rotation (degrees, all positive in the named sense)."""
        self.side(side, "hip", x=-np.asarray(hip), y=rotation, z=abduction)
        self.side(side, "knee", x=knee)
        self.side(side, "ankle", x=ankle)
        self.side(side, "foot", x=-np.asarray(toes))

    def arm(self, side: str, flexion=0.0, abduction=10.0, rotation=0.0, elbow=12.0,
            wrist_flexion=0.0, wrist_deviation=0.0) -> None:
        """Anatomical angles from the arm hanging at the side: shoulder flexion (forward),
        abduction (sideways; 90 = T-pose), external rotation, elbow flexion, wrist flexion and
        ulnar deviation (degrees). Defaults: a relaxed carrying angle, not the T-pose."""
        self.side(side, "shoulder", x=-np.asarray(flexion), y=rotation, z=np.asarray(abduction) - 90.0)
        self.side(side, "elbow", "YXZ", y=-np.asarray(elbow))
        self.side(side, "wrist", z=-np.asarray(wrist_flexion), y=wrist_deviation)

    def spine(self, flexion=0.0, rotation=0.0, side_bend=0.0, neck_flexion=0.0, neck_rotation=0.0) -> None:
        """Share trunk flexion / rotation (+ = towards the left) / bend over spine1-3, and the
        neck's over neck and head."""
        for joint in ("spine1", "spine2", "spine3"):
            self.set(joint, x=np.asarray(flexion) / 3, y=np.asarray(rotation) / 3, z=np.asarray(side_bend) / 3)
        for joint in ("neck", "head"):
            self.set(joint, x=np.asarray(neck_flexion) / 2, y=np.asarray(neck_rotation) / 2)


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _sign(side: str) -> float:
    return 1.0 if side == "left" else -1.0


# ----------------------------------------------------------------------------- the kinds
# Each takes the cycle phase u (T), amplitude a, the cycle length in seconds and a _Pose.

def _walk(u, a, cycle_s, body: _Pose) -> None:
    """Left heel strike at u = 0, left toe-off at 0.6. Sagittal curves after normal gait
    (Winter, *Biomechanics and Motor Control of Human Movement*): relative to a pelvis tipped
    10 degrees forward, the thigh swings 20 degrees either side of vertical."""
    roll = a * 2 * np.sin(2 * math.pi * u)  # the swing side's hip drops
    for side, offset in (("left", 0.0), ("right", 0.5)):
        v = u - offset
        hip, knee, dorsi, toes = _keyframes(v, [
            (0.0, (30, 5, 0, 0)), (0.08, (27, 14, -6, 0)), (0.4, (0, 5, 10, 0)), (0.5, (-10, 10, 8, 10)),
            (0.6, (-2, 40, -15, 30)), (0.7, (15, 62, 0, 5)), (0.78, (26, 60, 12, 0)), (0.87, (32, 34, 12, 0)),
            (0.95, (31, 5, 4, 0)),
        ]).T
        body.leg(side, hip=10 + a * (hip - 10), knee=a * knee, ankle=-a * dorsi, toes=a * toes,
                 abduction=-_sign(side) * roll)  # legs stay vertical under the rolling pelvis
        swing = -a * 16 * _cos(v)  # the arm swings opposite to its leg
        body.arm(side, flexion=4 + swing, elbow=14 + a * 8 * (1 + _cos(v, 0.5)))
    body.root(yaw=-a * 4 * _cos(u), pitch=10.0, roll=roll)
    body.spine(flexion=-7.0, rotation=a * 5 * _cos(u), neck_flexion=-3.0, neck_rotation=-a * 1 * _cos(u))
    body.support = "progress"


def _run(u, a, cycle_s, body: _Pose) -> None:
    """Left foot strike at u = 0, toe-off at 0.35, airborne until the right foot strikes at
    0.5. Curves after Novacheck, Gait & Posture 7:77 (1998); pelvis tipped 12 degrees."""
    roll = a * 3 * np.sin(2 * math.pi * u)
    for side, offset in (("left", 0.0), ("right", 0.5)):
        v = u - offset
        hip, knee, dorsi, toes = _keyframes(v, [
            (0.0, (35, 18, 3, 0)), (0.15, (24, 38, 20, 0)), (0.35, (-8, 15, -20, 25)), (0.5, (0, 60, -10, 5)),
            (0.65, (30, 100, 0, 0)), (0.85, (55, 55, 5, 0)), (0.95, (42, 22, 3, 0)),
        ]).T
        body.leg(side, hip=12 + a * (hip - 12), knee=a * knee, ankle=-a * dorsi, toes=a * toes,
                 abduction=-_sign(side) * roll)
        swing = -a * 32 * _cos(v)
        body.arm(side, flexion=8 + swing, abduction=12, elbow=80 + a * 12 * _cos(v, 0.5))
    body.root(yaw=-a * 6 * _cos(u), pitch=12.0, roll=roll)
    body.spine(flexion=-4.0, rotation=a * 8 * _cos(u), neck_flexion=-8.0)
    body.fly(u, 0.35, 0.5, cycle_s, scale=min(a, 1.0))
    body.fly(u, 0.85, 1.0, cycle_s, scale=min(a, 1.0))
    body.support = "progress"


def _jump(u, a, cycle_s, body: _Pose) -> None:
    """Counter-movement jump on the spot: crouch, push off, fly, land, recover."""
    flight_s = float(np.clip(0.30 * cycle_s, 0.20, 0.45))  # a human's flight time range
    take_off, width = 0.42, flight_s / cycle_s
    land = take_off + width
    # columns: root pitch, hip flexion, knee flexion, ankle plantarflexion, arm flexion, elbow
    keys = [(0.0, (0, 0, 0, 0, 0, 12)), (0.25, (30, 85, 85, -30, -45, 20)), (take_off, (0, 0, 0, 30, 110, 10)),
            (take_off + 0.5 * width, (2, 15, 25, 20, 150, 10)), (land, (0, 5, 5, 15, 100, 15)),
            (land + 0.1, (18, 55, 60, -20, 20, 20)), (min(land + 0.38, 0.98), (0, 0, 0, 0, 0, 12))]
    pitch, hip, knee, ankle, arm, elbow = (a * _keyframes(u, keys)).T
    for side in ("left", "right"):
        body.leg(side, hip=hip, knee=knee, ankle=ankle, toes=-0.3 * np.minimum(ankle, 0))
        body.arm(side, flexion=arm, abduction=10 + 0.1 * np.abs(arm), elbow=elbow)
    body.root(pitch=pitch)
    body.spine(flexion=0.3 * pitch, neck_flexion=-0.6 * pitch)
    body.fly(u, take_off, land, cycle_s)


def _squat(u, a, cycle_s, body: _Pose) -> None:
    """Squat with the heels down: trunk lean + hip flexion + knee flexion - dorsiflexion = 0
    keeps each foot flat; the arms reach forward for balance."""
    depth = a * _keyframes(u, [(0.0, (0.0,)), (0.1, (0.0,)), (0.45, (1.0,)), (0.55, (1.0,)), (0.9, (0.0,))])[:, 0]
    for side in ("left", "right"):
        body.leg(side, hip=95 * depth, knee=95 * depth, ankle=-30 * depth, abduction=6 * depth,
                 rotation=8 * depth)
        body.arm(side, flexion=80 * depth, abduction=10, elbow=12 - 7 * depth)
    body.root(pitch=30 * depth)
    body.spine(flexion=3 * depth, neck_flexion=-30 * depth)


def _sit(u, a, cycle_s, body: _Pose) -> None:
    """Stand, sit down (thighs horizontal, shins vertical, on an unseen seat), stay, stand up."""
    depth = a * _keyframes(u, [(0.0, (0.0,)), (0.05, (0.0,)), (0.30, (1.0,)), (0.70, (1.0,)), (0.95, (0.0,))])[:, 0]
    rising = _bump(u, 0.825, 0.05) + _bump(u, 0.175, 0.05)  # lean forward to get up or down
    lean = a * 25 * rising
    for side in ("left", "right"):
        body.leg(side, hip=90 * depth + lean, knee=88 * depth)
        body.arm(side, flexion=35 * depth, abduction=10, elbow=12 + 40 * depth)
    body.root(pitch=2 * depth + lean)
    body.spine(neck_flexion=-0.6 * lean)


def _wave(u, a, cycle_s, body: _Pose, side: str = "right") -> None:
    """Wave with one hand: upper arm raised ~30 degrees above horizontal and turned out so
    the elbow bends upward; the forearm sways about the vertical, palm forward."""
    sway = a * 25 * np.sin(2 * math.pi * u)
    # Shoulder: twist the arm about its own axis (x = -90 makes the elbow bend upward and
    # the palm face forward), raise it 30 degrees (-y) and bring it 20 degrees forward (-z).
    body.side(side, "shoulder", x=-90.0, y=-30.0, z=-20.0)
    body.side(side, "collar", z=10.0)
    body.side(side, "elbow", "YXZ", y=-(60.0 + sway))
    body.side(side, "wrist", y=0.5 * sway)
    body.arm(_other(side), flexion=3, elbow=14)
    body.spine(side_bend=(-3.0 if side == "left" else 3.0), neck_rotation=(8.0 if side == "left" else -8.0))


def _turn(u, a, cycle_s, body: _Pose) -> None:
    """Turn on the spot to the left (+yaw), 45 degrees per two steps."""
    for side, offset in (("left", 0.25), ("right", 0.75)):
        step = a * _bump(u, offset, 0.1)
        body.leg(side, hip=25 * step, knee=45 * step, ankle=-5 * step, rotation=6 * step)
        body.arm(side, flexion=4 + a * 8 * _cos(u, offset + 0.5), elbow=16)
    body.root(yaw=45.0 * a * u)
    body.spine(rotation=a * 6, neck_rotation=a * 10)


def _kick(u, a, cycle_s, body: _Pose, side: str = "left") -> None:
    """Front kick: chamber, snap out, re-chamber, put down; the other leg supports."""
    # columns: hip flexion, knee flexion, ankle plantarflexion, support knee, trunk lean
    keys = [(0.0, (0, 0, 0, 5, 0)), (0.1, (0, 5, 0, 10, 0)), (0.25, (70, 100, 20, 15, -5)),
            (0.38, (80, 8, 30, 15, -12)), (0.5, (65, 90, 20, 15, -5)), (0.68, (0, 6, 0, 8, 0))]
    hip, knee, ankle, support_knee, lean = (a * _keyframes(u, keys)).T
    body.leg(side, hip=hip, knee=knee, ankle=ankle, toes=-0.5 * ankle)
    body.leg(_other(side), hip=support_knee * 0.6, knee=support_knee, ankle=-support_knee * 0.4)
    guard = hip / 80.0
    body.arm(side, flexion=-20 * guard, abduction=10 + 35 * guard, elbow=12 + 50 * guard)
    body.arm(_other(side), flexion=30 * guard, abduction=10 + 25 * guard, elbow=12 + 70 * guard)
    body.root(pitch=lean)
    body.spine(flexion=0.5 * hip / 8, neck_flexion=-lean)
    body.support = _other(side)


def _punch(u, a, cycle_s, body: _Pose) -> None:
    """Alternating straight punches from a guard; the trunk turns into each punch."""
    reach = {side: a * _keyframes(u - offset, [(0.0, (0.0,)), (0.18, (1.0,)), (0.4, (0.0,))])[:, 0]
             for side, offset in (("left", 0.0), ("right", 0.5))}
    for side, extend in reach.items():
        body.arm(side, flexion=40 + 45 * extend, abduction=15 - 10 * extend, rotation=-10 * extend,
                 elbow=120 - 115 * extend)
        body.leg(side, hip=10, knee=12, ankle=-4)
    trunk = 18 * (reach["right"] - reach["left"])  # the punching shoulder comes forward
    body.root(yaw=0.3 * trunk)
    body.spine(rotation=0.7 * trunk, flexion=5, neck_rotation=-0.5 * trunk)


def _jumping_jacks(u, a, cycle_s, body: _Pose) -> None:
    """Hop to feet apart with the arms overhead, hop back; airborne during each switch."""
    opened = a * _keyframes(u, [(0.0, (0.0,)), (0.35, (1.0,)), (0.5, (1.0,)), (0.85, (0.0,))])[:, 0]
    for side in ("left", "right"):
        body.leg(side, abduction=18 * opened, rotation=8 * opened, knee=8 * opened, hip=4 * opened,
                 ankle=10 * np.sin(math.pi * np.clip(np.mod(u, 0.5) / 0.35, 0, 1)) * a)
        body.arm(side, abduction=10 + 150 * opened, elbow=12 - 7 * opened)
    body.spine(neck_flexion=-3 * opened)
    body.fly(u, 0.06, 0.29, cycle_s, scale=a)
    body.fly(u, 0.56, 0.79, cycle_s, scale=a)


def _idle(u, a, cycle_s, body: _Pose) -> None:
    """Standing: breathing, a slow weight shift from leg to leg, looking around."""
    shift = a * 3 * np.sin(2 * math.pi * u)  # legs lean: the pelvis moves over one foot
    for side in ("left", "right"):
        relaxed = a * 6 * (1 - _sign(side) * np.sin(2 * math.pi * u)) / 2  # the unloaded knee bends
        body.leg(side, hip=relaxed * 0.5, knee=relaxed, ankle=-relaxed * 0.3, abduction=-_sign(side) * shift)
        body.arm(side, flexion=3 + a * 2 * _cos(u, 0.1, 2), elbow=15 + a * 3 * _cos(u, 0.1, 2))
    breath = a * 1.5 * _cos(u, 0.0, 4)
    body.root(roll=shift * 0.3)
    body.spine(flexion=-breath, side_bend=shift * 0.5, neck_flexion=breath + a * 5 * _cos(u, 0.3),
               neck_rotation=a * 25 * np.sin(2 * math.pi * u + 1.0))


# kind -> (builder, cycle length in seconds at speed 1)
_KINDS: dict[str, tuple[Callable, float]] = {
    "walk": (_walk, 1.1),           # ~109 steps/min
    "run": (_run, 0.72),            # ~167 steps/min
    "jump": (_jump, 1.3),
    "squat": (_squat, 3.0),
    "wave": (_wave, 0.9),
    "turn": (_turn, 1.2),
    "sit": (_sit, 5.0),
    "kick": (_kick, 1.6),
    "punch": (_punch, 1.2),
    "jumping_jacks": (_jumping_jacks, 1.0),
    "idle": (_idle, 4.0),
}
PROCEDURAL_KINDS: tuple[str, ...] = tuple(_KINDS)


def cycle_seconds(kind: str, speed: float = 1.0) -> float:
    """Length of one cycle of ``kind`` at ``speed`` (every procedural motion loops)."""
    _check_kind(kind)
    return _KINDS[kind][1] / float(speed)


def procedural_motion(kind: str, n_frames: int, fps: float = 30.0, speed: float = 1.0,
                      amplitude: float = 1.0, phase: float = 0.0, mirror: bool = False) -> MotionClip:
    """A procedural motion clip of ``n_frames`` frames.

    kind: one of :data:`PROCEDURAL_KINDS`; speed: cadence multiplier in
    :data:`SPEED_RANGE`; amplitude: excursion multiplier in :data:`AMPLITUDE_RANGE`;
    phase: where in the cycle frame 0 starts (cycles; 1.0 = one full cycle later);
    mirror: swap left and right (wave with the left hand, turn right, kick with the right).
    """
    _check_kind(kind)
    n_frames = _check_count(n_frames)
    fps = _check_number(fps, "fps", 1e-6, math.inf)
    speed = _check_number(speed, "speed", *SPEED_RANGE)
    amplitude = _check_number(amplitude, "amplitude", *AMPLITUDE_RANGE)
    phase = _check_number(phase, "phase", -math.inf, math.inf)
    builder, cycle_at_speed_one = _KINDS[kind]
    cycle_s = cycle_at_speed_one / speed
    u = phase + np.arange(n_frames) / fps / cycle_s

    body = _pose_of(builder, u, amplitude, cycle_s)
    transl = _translation(builder, body, u, phase, amplitude, cycle_s)
    pose = unwrap_axis_angle(matrix_to_axis_angle(body.rotations))
    name = f"procedural:{kind}" + (":mirrored" if mirror else "")
    if mirror:
        pose, transl = mirror_motion(pose, transl)
    return MotionClip(pose=pose, transl=transl, fps=fps, source="procedural", name=name)


def _pose_of(builder: Callable, u: np.ndarray, amplitude: float, cycle_s: float) -> _Pose:
    body = _Pose(len(u))
    for side in ("left", "right"):  # standing posture; builders override what moves
        body.leg(side)
        body.arm(side)
    builder(u, amplitude, cycle_s, body)
    body.rotations = clip_rotations_to_limits(body.rotations)
    return body


def _sole_points(rotations: np.ndarray) -> np.ndarray:
    """Heel, ball and toe tip of both feet (T x 6 x 3, left first) posed on the nominal
    skeleton with no translation."""
    batch = rotations.shape[0]
    rest = np.broadcast_to(_NOMINAL_JOINTS, (batch, NUM_JOINTS, 3)).copy()
    world, _ = lbs.rigid_transforms(rotations, rest, _PARENTS)
    points = []
    for side in ("left", "right"):
        mirror = 1.0 if side == "left" else -1.0
        for joint, offset in _SOLE_POINTS:
            frame = world[:, _JOINT[f"{side}_{joint}"]]
            local = np.array([mirror * offset[0], offset[1], offset[2]])
            points.append(frame[:, :3, :3] @ local + frame[:, :3, 3])
    return np.stack(points, axis=1)


_REST_SOLE_POINTS = _sole_points(np.tile(np.eye(3), (1, NUM_JOINTS, 1, 1)))


def _soft_min(heights: np.ndarray) -> np.ndarray:
    """Smooth minimum over the last axis (log-sum-exp, length scale _SOFT_MIN_M)."""
    lowest = heights.min(axis=-1, keepdims=True)
    return (lowest - _SOFT_MIN_M * np.log(np.sum(np.exp(-(heights - lowest) / _SOFT_MIN_M), axis=-1,
                                                  keepdims=True)))[..., 0]


def _contact_weights(heights: np.ndarray) -> np.ndarray:
    weights = np.exp(-(heights - heights.min(axis=-1, keepdims=True)) / _SOFT_MIN_M)
    return weights / weights.sum(axis=-1, keepdims=True)


def _support_xz(points: np.ndarray, support: str) -> np.ndarray:
    """XZ of the planted foot (mean of its sole points) or of both feet."""
    chosen = {"left": points[:, :3], "right": points[:, 3:], "both": points}[support]
    return chosen[..., [0, 2]].mean(axis=1)


def _translation(builder: Callable, body: _Pose, u: np.ndarray, phase: float, amplitude: float,
                 cycle_s: float) -> np.ndarray:
    """T x 3 root translation: feet on the ground (or flying), supporting feet not slipping."""
    transl = np.zeros((len(u), 3))
    transl[:, 1] = _ground_height(_sole_points(body.rotations))
    if body.support == "progress":
        travel = _travel_xz(builder, amplitude, cycle_s, np.append(u, phase))
        transl[:, [0, 2]] = travel[:-1] - travel[-1]
    else:
        transl[:, [0, 2]] = _planted_xz(_sole_points(body.rotations), body.support)
    for start, end in body.flight_windows:
        s = (np.mod(u, 1.0) - start) / (end - start)
        airborne = (s > 0) & (s < 1)
        if not np.any(airborne):
            continue
        # Airborne: no foot decides anything; go in a straight line from take-off to landing.
        edges = _sole_points(_pose_of(builder, np.array([start, end]), amplitude, cycle_s).rotations)
        heights = _ground_height(edges)
        transl[airborne, 1] = heights[0] + (heights[1] - heights[0]) * s[airborne]
        if body.support != "progress":
            xz = _planted_xz(edges, body.support)
            transl[np.ix_(airborne, [0, 2])] = xz[0] + (xz[1] - xz[0]) * s[airborne, None]
    transl[:, 1] += body.flight
    return transl


def _ground_height(points: np.ndarray) -> np.ndarray:
    """Lift (T) that puts the lowest sole point at the rest sole height."""
    return _soft_min(_REST_SOLE_POINTS[..., 1]) - _soft_min(points[..., 1])


def _planted_xz(points: np.ndarray, support: str) -> np.ndarray:
    """Horizontal translation that keeps the supporting sole points where they are at rest."""
    return _support_xz(_REST_SOLE_POINTS, support) - _support_xz(points, support)


def _travel_xz(builder: Callable, amplitude: float, cycle_s: float, u: np.ndarray,
               samples: int = 360) -> np.ndarray:
    """Horizontal pelvis position (T x 2, X and Z) of a travelling motion at phases ``u``,
    0 at u = 0: the pelvis moves by exactly what keeps the sole points touching the ground
    from slipping (their contact-weighted displacement, reversed); while airborne it keeps
    a constant velocity. One cycle advances by one stride."""
    grid = np.arange(samples + 1) / samples
    body = _pose_of(builder, grid, amplitude, cycle_s)
    points = _sole_points(body.rotations)
    weights = _contact_weights(points[..., 1])
    weights = 0.5 * (weights[1:] + weights[:-1])
    steps = -np.sum(weights[..., None] * np.diff(points[..., [0, 2]], axis=0), axis=1)  # samples x 2
    middle = 0.5 * (grid[1:] + grid[:-1])
    for start, end in body.flight_windows:
        airborne = (middle > start) & (middle < end)
        before, after = (int(np.floor(start * samples)) - 1) % samples, int(np.ceil(end * samples)) % samples
        steps[airborne] = 0.5 * (steps[before] + steps[after])
    # Keep the slow part of the velocity (up to the 6th harmonic of the cycle): a pelvis
    # does not follow the jolts of weight passing from heel to heel.
    spectrum = np.fft.rfft(steps, axis=0)
    spectrum[_TRAVEL_HARMONICS + 1:] = 0.0
    steps = np.fft.irfft(spectrum, n=samples, axis=0)
    path = np.vstack([np.zeros(2), np.cumsum(steps, axis=0)])  # samples + 1 x 2
    cycles = np.floor(u)
    within = u - cycles
    position = np.stack([np.interp(within, grid, path[:, axis]) for axis in range(2)], axis=-1)
    return position + cycles[:, None] * path[-1]


_MIRROR_INDEX = np.array([
    JOINT_NAMES.index("right_" + name[5:]) if name.startswith("left_")
    else JOINT_NAMES.index("left_" + name[6:]) if name.startswith("right_") else index
    for index, name in enumerate(JOINT_NAMES)])


def mirror_motion(pose: np.ndarray, transl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror a pose sequence (T x 24 x 3) and translation (T x 3) across the body's YZ plane:
    left and right joints swap and each axis-angle (x, y, z) becomes (x, -y, -z)."""
    pose = np.asarray(pose, dtype=np.float64)[:, _MIRROR_INDEX] * np.array([1.0, -1.0, -1.0])
    transl = np.asarray(transl, dtype=np.float64) * np.array([-1.0, 1.0, 1.0])
    return pose, transl


# ----------------------------------------------------------------------------- parameters

def sample_procedural_params(rng: np.random.Generator) -> dict:
    """Draw a procedural motion: ``{"kind", "speed", "amplitude", "phase", "mirror"}``
    (plain JSON types). Feed it to :func:`motion_from_params`."""
    return {
        "kind": PROCEDURAL_KINDS[int(rng.integers(len(PROCEDURAL_KINDS)))],
        "speed": float(rng.uniform(*SAMPLED_SPEED)),
        "amplitude": float(rng.uniform(*SAMPLED_AMPLITUDE)),
        "phase": float(rng.uniform(0.0, 1.0)),
        "mirror": bool(rng.random() < 0.5),
    }


def motion_from_params(params: dict, n_frames: int, fps: float = 30.0) -> MotionClip:
    """The clip described by a :func:`sample_procedural_params` dict (``kind`` required;
    the others default to speed 1, amplitude 1, phase 0, not mirrored)."""
    if not isinstance(params, dict) or "kind" not in params:
        raise MotionError(f"procedural motion params must be a dict with a 'kind', got {params!r}")
    unknown = sorted(set(params) - set(PARAM_KEYS))
    if unknown:
        raise MotionError(f"unknown procedural motion params {unknown}; expected keys {PARAM_KEYS}")
    mirror = params.get("mirror", False)
    if not isinstance(mirror, bool):
        raise MotionError(f"procedural motion param 'mirror' must be true or false, got {mirror!r}")
    return procedural_motion(params["kind"], n_frames, fps=fps, speed=params.get("speed", 1.0),
                             amplitude=params.get("amplitude", 1.0), phase=params.get("phase", 0.0),
                             mirror=mirror)


def _check_kind(kind) -> None:
    if kind not in _KINDS:
        raise MotionError(f"unknown procedural motion kind {kind!r}; expected one of {PROCEDURAL_KINDS}")


def _check_count(n_frames) -> int:
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise MotionError(f"n_frames must be a positive integer, got {n_frames!r}")
    return int(n_frames)


def _check_number(value, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MotionError(f"procedural motion {name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or not low <= number <= high:
        raise MotionError(f"procedural motion {name} must be a finite number in [{low:g}, {high:g}], got {value!r}")
    return number

"""A pose prior in the manner of Chen et al. 2016 (section 3.1): poses beyond the mocap by
compositing body parts that occur together, learned from the poses there are.

The body is split into six substructures: the torso (the pelvis's tilt, without its heading,
and the three spine joints), the head (neck, head) and the four limbs (collar/hip down to
the hand/toes). :func:`fit_prior`:

1. clusters each part's configurations over the training poses (k-means on the part's
   rotation matrices: chordal distance), so a cluster is a family of similar part poses;
2. learns a sparse Bayesian network over the parts' cluster labels: the Chow-Liu tree (the
   maximum spanning tree of the labels' mutual information, rooted at the torso), with
   conditional tables ``(1 - mixing) P(part cluster | parent cluster) + mixing P(part cluster)``:
   combinations seen together stay likely, and with probability ``mixing`` a part's family is
   drawn regardless of its parent's, so unseen combinations occur (the compositionality that
   covers poses no input had).

:meth:`PosePrior.sample` walks the tree, draws each part's cluster given its parent's, takes
a member configuration of that cluster (non-parametric: a pose part that occurred), turns each
joint by a small random rotation (``noise_deg``, a kernel around it) and clamps every joint
into :data:`synth_core.motion.limits.JOINT_LIMITS`, so no sample exceeds the limits.

:func:`sample_prior_keys` draws key poses every ``hold_s`` seconds and :func:`motion_from_keys`
slerps a clip through them (a plan holds the keys: ``synth_core.scene.plan.prior_motion``).
The prior is learned from whatever poses are given: :func:`training_poses` gathers the
procedural motions' and any AMASS or BVH files'. It is stored as a plain ``.npz`` (no pickle).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.body.parts import NUM_JOINTS
from synth_core.errors import MotionError
from synth_core.motion.clip import MotionClip
from synth_core.motion.limits import clip_rotations_to_limits
from synth_core.motion.rotations import (axis_angle_to_quaternion, axis_rotation, matrix_to_axis_angle,
                                         quaternion_to_axis_angle, slerp, unwrap_axis_angle)

# Substructures (SMPL joint indices). The torso's pelvis (joint 0) is its tilt only.
PARTS: dict[str, tuple[int, ...]] = {
    "torso": (0, 3, 6, 9),
    "head": (12, 15),
    "left_arm": (13, 16, 18, 20, 22),
    "right_arm": (14, 17, 19, 21, 23),
    "left_leg": (1, 4, 7, 10),
    "right_leg": (2, 5, 8, 11),
}
PART_NAMES = tuple(PARTS)
DEFAULT_CLUSTERS = 12
DEFAULT_MIXING = 0.25  # chance that a part's cluster ignores its parent's (module doc)
DEFAULT_NOISE_DEG = 6.0
PRIOR_FORMAT = 1


@dataclass(frozen=True, eq=False)
class PosePrior:
    """A fitted prior. Per part (in :data:`PART_NAMES` order): ``members[k]`` N_k x J_k x 3 x 3
    rotations of the training configurations and ``labels[k]`` their clusters; the tree
    (``parents[k]``: parent part index, -1 for the root part), ``tables[k]``: C_parent x C_k
    conditional probabilities (1 x C_k for the root: its marginal)."""

    members: tuple[np.ndarray, ...]
    labels: tuple[np.ndarray, ...]
    parents: tuple[int, ...]
    tables: tuple[np.ndarray, ...]
    noise_deg: float = DEFAULT_NOISE_DEG

    def order(self) -> list[int]:
        """Parts in tree order (each after its parent)."""
        done, order = set(), []
        while len(order) < len(self.parents):
            for k, parent in enumerate(self.parents):
                if k not in done and (parent < 0 or parent in done):
                    done.add(k)
                    order.append(k)
        return order

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` poses, n x 24 x 3 axis-angle: upright (the pelvis tilts, never turns), every
        joint within its limits."""
        rotations = np.broadcast_to(np.eye(3), (n, NUM_JOINTS, 3, 3)).copy()
        clusters = np.zeros((len(PART_NAMES), n), dtype=int)
        for k in self.order():
            parent = self.parents[k]
            rows = self.tables[k][clusters[parent] if parent >= 0 else np.zeros(n, dtype=int)]
            clusters[k] = _draw(rng, rows)
            for i in range(n):
                candidates = np.flatnonzero(self.labels[k] == clusters[k, i])
                member = self.members[k][candidates[int(rng.integers(len(candidates)))]]
                rotations[i, list(PARTS[PART_NAMES[k]])] = member
        noise = rng.normal(0.0, math.radians(self.noise_deg), size=(n, NUM_JOINTS, 3))
        rotations = axis_angle_to_matrix(noise) @ rotations
        rotations[:, 0] = remove_heading(rotations[:, 0])  # the pelvis only tilts
        return matrix_to_axis_angle(clip_rotations_to_limits(rotations))

    def save(self, path) -> Path:
        """Write as ``.npz`` (plain arrays, read without pickle), atomically."""
        import io

        from synth_core.mesh_io import _atomic_write

        arrays = {"format": np.array(PRIOR_FORMAT), "parents": np.array(self.parents),
                  "noise_deg": np.array(self.noise_deg)}
        for k, name in enumerate(PART_NAMES):
            arrays[f"{name}_members"], arrays[f"{name}_labels"] = self.members[k], self.labels[k]
            arrays[f"{name}_table"] = self.tables[k]
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        path = Path(path)
        _atomic_write(path, buffer.getvalue())
        return path


def load_prior(path) -> PosePrior:
    """A prior written by :meth:`PosePrior.save`; MotionError names what is wrong."""
    import zipfile

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MotionError(f"{path}: not a pose prior file (.npz written by `synth prior fit`): {exc}") from None
    try:
        if int(arrays["format"]) != PRIOR_FORMAT:
            raise MotionError(f"{path}: pose prior format {int(arrays['format'])} is not {PRIOR_FORMAT}")
        prior = PosePrior(tuple(arrays[f"{n}_members"] for n in PART_NAMES),
                          tuple(arrays[f"{n}_labels"] for n in PART_NAMES),
                          tuple(int(p) for p in arrays["parents"]),
                          tuple(arrays[f"{n}_table"] for n in PART_NAMES), float(arrays["noise_deg"]))
    except KeyError as exc:
        raise MotionError(f"{path}: pose prior file lacks {exc}") from None
    _check(prior, path)
    return prior


def _check(prior: PosePrior, where) -> None:
    for k, name in enumerate(PART_NAMES):
        members, labels, table = prior.members[k], prior.labels[k], prior.tables[k]
        joints = len(PARTS[name])
        if members.ndim != 4 or members.shape[1:] != (joints, 3, 3) or labels.shape != members.shape[:1]:
            raise MotionError(f"{where}: part {name}: members must be N x {joints} x 3 x 3 with N labels")
        if table.ndim != 2 or table.shape[1] <= labels.max(initial=-1) or not np.all(np.isfinite(table)):
            raise MotionError(f"{where}: part {name}: its table does not fit its clusters")
        if set(np.unique(labels)) != set(range(table.shape[1])):
            raise MotionError(f"{where}: part {name}: a cluster has no member")
    if sorted(prior.order()) != list(range(len(PART_NAMES))):
        raise MotionError(f"{where}: the parts' tree is not a tree")


def fit_prior(poses, n_clusters: int = DEFAULT_CLUSTERS, mixing: float = DEFAULT_MIXING,
              noise_deg: float = DEFAULT_NOISE_DEG, seed: int = 0) -> PosePrior:
    """Learn the prior from poses (N x 24 x 3 axis-angle, any heading), module doc."""
    poses = np.asarray(poses, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    if poses.shape[0] < n_clusters:
        raise MotionError(f"a pose prior with {n_clusters} clusters per part needs at least that many "
                          f"poses, got {poses.shape[0]}")
    if not 0 <= mixing <= 1 or not noise_deg >= 0:
        raise MotionError(f"mixing must be in [0, 1] and noise_deg >= 0, got {mixing} and {noise_deg}")
    rotations = axis_angle_to_matrix(poses)
    rotations[:, 0] = remove_heading(rotations[:, 0])
    rng = np.random.default_rng(seed)
    members, labels = [], []
    for name in PART_NAMES:
        part = rotations[:, list(PARTS[name])]
        members.append(part)
        labels.append(_kmeans(part.reshape(len(part), -1), n_clusters, rng))
    parents = _chow_liu_tree(labels, n_clusters)
    tables = tuple(_conditional_table(labels[k], labels[parent] if parent >= 0 else None, n_clusters, mixing)
                   for k, parent in enumerate(parents))
    prior = PosePrior(tuple(members), tuple(labels), parents, tables, float(noise_deg))
    _check(prior, "fitted prior")
    return prior


def remove_heading(root: np.ndarray) -> np.ndarray:
    """Root rotations (... x 3 x 3) without their turn about the vertical (+Y): the tilt."""
    forward = root[..., :, 2]  # where the body's +Z (its front) points
    heading = np.arctan2(forward[..., 0], forward[..., 2])
    return axis_rotation("Y", -heading) @ root


def _kmeans(features: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 30) -> np.ndarray:
    """Cluster labels 0..k-1 (every cluster non-empty), k-means++ seeded by ``rng``."""
    centres = [features[int(rng.integers(len(features)))]]
    for _ in range(1, k):
        distance = np.min([np.sum((features - c) ** 2, axis=1) for c in centres], axis=0)
        total = distance.sum()
        pick = int(rng.choice(len(features), p=distance / total)) if total > 0 else int(rng.integers(len(features)))
        centres.append(features[pick])
    centres = np.array(centres)
    for _ in range(iterations):
        labels = np.argmin(((features[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        for c in range(k):
            if np.any(labels == c):
                centres[c] = features[labels == c].mean(axis=0)
    labels = np.argmin(((features[:, None] - centres[None]) ** 2).sum(-1), axis=1)
    used = np.unique(labels)  # identical poses can leave a cluster empty: renumber 0..k'-1
    return np.searchsorted(used, labels)


def _mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    joint = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(joint, (a, b), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) @ joint.sum(0, keepdims=True)
    nonzero = joint > 0
    return float(np.sum(joint[nonzero] * np.log(joint[nonzero] / outer[nonzero])))


def _chow_liu_tree(labels: list[np.ndarray], n_clusters: int) -> tuple[int, ...]:
    """Parent of each part in the maximum spanning tree of mutual information (Prim's,
    from the torso)."""
    n = len(labels)
    weight = np.array([[_mutual_information(labels[i], labels[j]) if i != j else -1.0 for j in range(n)]
                       for i in range(n)])
    parents, inside = [-1] * n, {0}
    while len(inside) < n:
        i, j = max(((i, j) for i in inside for j in range(n) if j not in inside), key=lambda e: weight[e])
        parents[j] = i
        inside.add(j)
    return tuple(parents)


def _conditional_table(child: np.ndarray, parent: np.ndarray | None, n_clusters: int, mixing: float) -> np.ndarray:
    children = child.max() + 1
    marginal = np.bincount(child, minlength=children) / len(child)
    if parent is None:
        return marginal[None]
    counts = np.zeros((parent.max() + 1, children))
    np.add.at(counts, (parent, child), 1.0)
    return (1.0 - mixing) * counts / counts.sum(axis=1, keepdims=True) + mixing * marginal


def _draw(rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
    """One index per row of probabilities."""
    cumulative = np.cumsum(rows, axis=1)
    return np.minimum((rng.random(len(rows))[:, None] > cumulative).sum(axis=1), rows.shape[1] - 1)


def training_poses(amass_files=(), bvh_files=(), fps: float = 30.0) -> np.ndarray:
    """N x 24 x 3 poses to learn from: every procedural motion (both sides, three amplitudes,
    one cycle at ``fps``) plus every frame of the given AMASS and BVH files."""
    from synth_core.motion.amass import load_amass
    from synth_core.motion.bvh import load_bvh
    from synth_core.motion.procedural import PROCEDURAL_KINDS, cycle_seconds, procedural_motion

    poses = []
    for kind in PROCEDURAL_KINDS:
        frames = max(2, int(round(cycle_seconds(kind) * fps)))
        for mirror in (False, True):
            for amplitude in (0.75, 1.0, 1.15):
                poses.append(procedural_motion(kind, frames, fps, amplitude=amplitude, mirror=mirror).pose)
    poses += [load_amass(path, target_fps=fps).pose for path in amass_files]
    poses += [load_bvh(path, target_fps=fps).pose for path in bvh_files]
    return np.concatenate(poses)


def sample_prior_keys(prior: PosePrior, rng: np.random.Generator, n_frames: int, fps: float,
                      hold_s: float) -> np.ndarray:
    """Key poses (K x 24 x 3) for a clip of ``n_frames``: one every ``hold_s`` seconds and one
    past the end (``hold_s`` 0: one pose, a still clip)."""
    if n_frames < 1 or not hold_s >= 0:
        raise MotionError(f"a prior motion needs n_frames >= 1 and hold_s >= 0, got {n_frames} and {hold_s}")
    n_keys = 1 if hold_s == 0 else int(math.floor((n_frames - 1) / (hold_s * fps))) + 2
    return prior.sample(rng, n_keys)


def motion_from_keys(keys, n_frames: int, fps: float, hold_s: float, name: str = "prior") -> MotionClip:
    """The clip through ``keys`` (K x 24 x 3): frame ``i`` slerps between key ``i / (hold_s fps)``
    and the next, clamped into the joint limits (their boxes are not convex); no translation."""
    keys = np.asarray(keys, dtype=np.float64).reshape(-1, NUM_JOINTS, 3)
    if hold_s == 0 or len(keys) == 1:
        pose = np.repeat(keys[:1], n_frames, axis=0)
    else:
        position = np.arange(n_frames) / (hold_s * fps)
        before = np.floor(position).astype(int)
        if before[-1] + 1 >= len(keys):
            raise MotionError(f"prior motion: {len(keys)} key poses do not reach frame {n_frames - 1} "
                              f"at one every {hold_s} s")
        quaternions = axis_angle_to_quaternion(keys)
        fraction = np.repeat((position - before)[:, None], NUM_JOINTS, axis=1)
        between = quaternion_to_axis_angle(slerp(quaternions[before], quaternions[before + 1], fraction))
        pose = matrix_to_axis_angle(clip_rotations_to_limits(axis_angle_to_matrix(between)))
    return MotionClip(pose=unwrap_axis_angle(pose), transl=np.zeros((n_frames, 3)), fps=fps, source="prior",
                      name=name)


@functools.lru_cache(maxsize=4)
def default_prior(amass_files: tuple[str, ...] = (), bvh_files: tuple[str, ...] = (), fps: float = 30.0) -> PosePrior:
    """The prior learned from the procedural motions and the given files, once per process."""
    return fit_prior(training_poses(amass_files, bvh_files, fps))

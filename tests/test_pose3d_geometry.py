"""trainers.pose3d: joint sets, Procrustes / MPJPE / PA-MPJPE / PCK3D and Yang et al.'s geometric
descriptor, checked against hand-computed cases, scipy and properties the maths must have."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.distance import cdist
from scipy.spatial.transform import Rotation

from synth_core.body.parts import JOINT_NAMES, SMPL_PARENTS
from synth_core.errors import TrainingError
from tests.conftest import canonical_joints
from trainers.pose3d.descriptor import geometric_descriptor
from trainers.pose3d.joints import JOINT_SETS, joint_set, normalise_bones, root_relative, sizing_bones, to_joint_set
from trainers.pose3d.metrics import PoseMetrics, mpjpe, pa_mpjpe, pck3d, per_joint_table, procrustes_align

# COCO's 17 keypoints (cocodataset.org, "keypoints" of the person category), in COCO's order
COCO_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")


def _posed(seed: int = 0, count: int = 1) -> np.ndarray:
    """count x 24 x 3 SMPL-like joints: the canonical skeleton with noise, turned and moved."""
    rng = np.random.default_rng(seed)
    joints = canonical_joints()[None] + rng.normal(0, 0.05, (count, 24, 3))
    turns = Rotation.random(count, random_state=seed).as_matrix()
    return np.einsum("bij,bkj->bki", turns, joints) + rng.normal(0, 2, (count, 1, 3))


def _smpl_ancestors(index: int) -> list[int]:
    chain = []
    while SMPL_PARENTS[index] >= 0:
        index = SMPL_PARENTS[index]
        chain.append(index)
    return chain


# ------------------------------------------------------------------------------ joint sets


@pytest.mark.parametrize("name", sorted(JOINT_SETS))
def test_joint_set_mapping_is_a_rigid_motion_invariant_linear_map(name):
    """Mapping commutes with rotation + translation (each joint is an affine mean of SMPL's), in
    numpy and torch alike, keeping the tensor's dtype."""
    joints = _posed(1)[0]
    rotation = Rotation.from_euler("xyz", [20, -35, 70], degrees=True).as_matrix()
    shift = np.array([0.3, -1.2, 4.0])
    mapped_then_moved = to_joint_set(joints, name) @ rotation.T + shift
    moved_then_mapped = to_joint_set(joints @ rotation.T + shift, name)
    np.testing.assert_allclose(mapped_then_moved, moved_then_mapped, atol=1e-12)
    as_tensor = to_joint_set(torch.tensor(joints, dtype=torch.float32), name)
    assert as_tensor.dtype == torch.float32 and as_tensor.shape == (len(joint_set(name)), 3)
    np.testing.assert_allclose(as_tensor.numpy(), to_joint_set(joints, name), atol=1e-5)


@pytest.mark.parametrize("name", sorted(JOINT_SETS))
def test_a_joint_named_like_an_smpl_joint_is_that_joint_and_bones_follow_smpls_tree(name):
    """Set joints with an SMPL name are that SMPL joint; every joint's parent is its nearest SMPL
    ancestor in the set (the set's tree is SMPL's, with joints left out), but for the
    bones the docstring of joints.py declares: chen15 hangs the shoulders from the neck (it has no
    thorax), dz12's tree is rooted at a hip (it has no pelvis) and hangs shoulders from hips."""
    joints, chosen = _posed(2)[0], JOINT_SETS[name]
    mapped = to_joint_set(joints, chosen)
    smpl_of = {}
    for k, joint in enumerate(chosen.names):
        matches = [j for j in range(24) if np.allclose(mapped[k], joints[j])]
        assert len(matches) == 1, f"{joint} is not one SMPL joint"
        smpl_of[k] = matches[0]
        if joint in JOINT_NAMES:
            assert JOINT_NAMES[matches[0]] == joint
    assert len(set(smpl_of.values())) == len(chosen)
    declared = {("neck", "left_shoulder"), ("neck", "right_shoulder")} if name == "chen15" else set()
    if name != "dz12":
        for parent, child in chosen.edges:
            if (chosen.names[parent], chosen.names[child]) in declared:
                continue
            in_set = [j for j in _smpl_ancestors(smpl_of[child]) if j in smpl_of.values()]
            assert smpl_of[parent] == in_set[0], (chosen.names[parent], chosen.names[child])   # the nearest
    assert sum(parent < 0 for parent in chosen.parents) == 1 and len(chosen.edges) == len(chosen) - 1


def test_chen_sets_sizes_torso_order_and_dz12_is_cocos_body_keypoints():
    """chen17: 17 joints, its spine and thorax on the torso between pelvis and neck (heights on
    the upright canonical skeleton); chen15 = the paper's 15; dz12 = COCO keypoints 5..16 in order."""
    chen17 = JOINT_SETS["chen17"]
    assert len(chen17) == 17 and len(JOINT_SETS["chen15"]) == 15 and len(JOINT_SETS["smpl24"]) == 24
    height = to_joint_set(canonical_joints(), chen17)[:, 1]
    order = [chen17.index(joint) for joint in ("pelvis", "spine", "thorax", "neck", "head")]
    assert np.all(np.diff(height[order]) > 0)
    assert JOINT_SETS["dz12"].names == COCO_KEYPOINTS[5:]


def test_mismatched_joint_sets_and_unknown_sets_are_clear_errors():
    with pytest.raises(TrainingError, match=r"mismatched joint sets.*24 joints.*has 17"):
        to_joint_set(np.zeros((2, 17, 3)), "chen17")
    with pytest.raises(TrainingError, match=r"mismatched joint sets.*chen17 has 17 joints.*has 24"):
        root_relative(np.zeros((24, 3)), "chen17")
    with pytest.raises(TrainingError, match=r"unknown joint set 'h36m'.*smpl24.*chen17.*dz12"):
        joint_set("h36m")


@pytest.mark.parametrize("name", ["chen17", "smpl24"])
def test_normalised_bones_sum_to_the_total_keep_directions_and_ignore_scale(name):
    chosen = JOINT_SETS[name]
    skeletons = to_joint_set(_posed(3, count=4), chosen)
    normalised = normalise_bones(skeletons, chosen, total_length=2.5)
    for skeleton in normalised:   # bone lengths summed by walking the parents here
        total = sum(np.linalg.norm(skeleton[k] - skeleton[p]) for k, p in enumerate(chosen.parents) if p >= 0)
        assert total == pytest.approx(2.5, rel=1e-12)
        np.testing.assert_allclose(skeleton[chosen.root], 0.0, atol=1e-15)
    relative = skeletons - skeletons[:, chosen.root:chosen.root + 1]
    ratio = np.linalg.norm(normalised, axis=(1, 2)) / np.linalg.norm(relative, axis=(1, 2))
    np.testing.assert_allclose(normalised, relative * ratio[:, None, None], atol=1e-12)   # same directions
    np.testing.assert_allclose(normalise_bones(3 * skeletons + 1, chosen, 2.5), normalised, atol=1e-12)
    as_tensor = normalise_bones(torch.tensor(skeletons), chosen, 2.5)
    np.testing.assert_allclose(as_tensor.numpy(), normalised, atol=1e-12)


SIZING_BY_HAND = {
    "chen17": {("pelvis", "spine"), ("spine", "thorax"), ("thorax", "neck"), ("neck", "head"),
               ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
               ("right_knee", "right_ankle")},
    "smpl24": {("pelvis", "spine1"), ("spine1", "spine2"), ("spine2", "spine3"), ("spine3", "neck"),
               ("neck", "head"), *((f"{side}_{a}", f"{side}_{b}") for side in ("left", "right")
                                   for a, b in (("hip", "knee"), ("knee", "ankle"), ("ankle", "foot")))},
    "dz12": {(f"{side}_{a}", f"{side}_{b}") for side in ("left", "right")
             for a, b in (("hip", "knee"), ("knee", "ankle"))},
}


@pytest.mark.parametrize("name", sorted(SIZING_BY_HAND))
def test_sizing_bones_are_the_spine_head_and_legs(name):
    """No bone from the midline to a side or across, and no arm bone (Yang et al.'s poses are
    sized by these)."""
    chosen = JOINT_SETS[name]
    assert {(chosen.names[p], chosen.names[c]) for p, c in sizing_bones(name)} == SIZING_BY_HAND[name]
    skeletons = to_joint_set(_posed(5, count=3), chosen)
    sized = normalise_bones(skeletons, chosen, 1.7, sizing_bones(name))
    for skeleton in sized:
        total = sum(np.linalg.norm(skeleton[chosen.index(c)] - skeleton[chosen.index(p)])
                    for p, c in SIZING_BY_HAND[name])
        assert total == pytest.approx(1.7, rel=1e-12)


# ------------------------------------------------------------------------------ metrics


def test_mpjpe_and_pck3d_of_hand_made_cases():
    """Two joints: one exact, one off by the 3-4-5 triangle: MPJPE (0 + 5) / 2. PCK3D counts
    errors up to 150 mm inclusive."""
    gt = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    pred = np.array([[[0.0, 0.0, 0.0], [4.0, 5.0, 1.0]]])
    assert mpjpe(pred, gt) == pytest.approx(2.5)
    assert mpjpe(torch.tensor(pred), torch.tensor(gt)).item() == pytest.approx(2.5)
    gt3, pred3 = np.zeros((1, 3, 3)), np.array([[[0.1, 0.0, 0.0], [0.0, 0.15, 0.0], [0.0, 0.0, 0.1501]]])
    assert pck3d(pred3, gt3) == pytest.approx(2 / 3)


def test_procrustes_undoes_a_known_similarity_exactly():
    gt = to_joint_set(_posed(4)[0], "chen17")
    rotation = Rotation.from_euler("zyx", [33, -71, 12], degrees=True).as_matrix()
    pred = 0.62 * gt @ rotation.T + np.array([0.4, -0.9, 3.1])
    assert mpjpe(pred, gt) > 0.5
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-12)
    assert pa_mpjpe(pred, gt) < 1e-12


def test_a_mirrored_pose_is_not_aligned_away():
    """A reflection is no rotation: the mirror image of a 3D skeleton keeps an error, and the
    alignment it gets is the best proper rotation's (scipy's Kabsch, Rotation.align_vectors,
    plus the least-squares scale)."""
    gt = to_joint_set(_posed(5)[0], "chen17")
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert pa_mpjpe(mirrored, gt) > 0.02
    pred_c, gt_c = mirrored - mirrored.mean(0), gt - gt.mean(0)
    rotation, _ = Rotation.align_vectors(gt_c, pred_c)
    turned = rotation.apply(pred_c)
    scale = (turned * gt_c).sum() / (pred_c ** 2).sum()
    np.testing.assert_allclose(procrustes_align(mirrored, gt), scale * turned + gt.mean(0), atol=1e-9)


def test_procrustes_agrees_with_scipy_where_the_best_orthogonal_map_is_a_rotation():
    """scipy.spatial.procrustes allows reflections: its disparity (squared error with the truth
    scaled to unit norm) equals ours where its optimum is a rotation, and is lower (ours keeps a
    proper rotation) where it is a reflection. Both kinds occur among random pairs."""
    rng = np.random.default_rng(6)
    kinds = set()
    for _ in range(20):
        gt, pred = rng.normal(size=(17, 3)), rng.normal(size=(17, 3))
        _, _, disparity = scipy_procrustes(gt, pred)
        ours = ((procrustes_align(pred, gt) - gt) ** 2).sum() / ((gt - gt.mean(0)) ** 2).sum()
        orthogonal, _ = orthogonal_procrustes(pred - pred.mean(0), gt - gt.mean(0))
        proper = np.linalg.det(orthogonal) > 0
        kinds.add(proper)
        if proper:
            assert ours == pytest.approx(disparity, rel=1e-9)
        else:
            assert ours > disparity + 1e-6
    assert kinds == {True, False}


def test_procrustes_is_batched_per_skeleton_and_differentiable_in_torch():
    gt = to_joint_set(_posed(7, count=6), "chen17").reshape(2, 3, 17, 3)
    pred = gt + np.random.default_rng(7).normal(0, 0.1, gt.shape)
    batched = procrustes_align(pred, gt)
    one_by_one = np.stack([procrustes_align(p, g) for p, g in zip(pred.reshape(-1, 17, 3), gt.reshape(-1, 17, 3))])
    np.testing.assert_allclose(batched.reshape(-1, 17, 3), one_by_one, atol=1e-12)
    tensor = torch.tensor(pred, requires_grad=True)
    loss = pa_mpjpe(tensor, torch.tensor(gt))
    loss.backward()
    assert loss.item() == pytest.approx(pa_mpjpe(pred, gt), rel=1e-9)
    assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_procrustes_gradients_match_finite_differences_and_survive_a_collapsed_prediction():
    """The squared aligned error's gradient is exact (torch.autograd.gradcheck: finite
    differences), and finite where the prediction has collapsed to a point, as an untrained
    network's output can (the SVD's own backward is infinite there: repeated singular values)."""
    gt = torch.tensor(to_joint_set(_posed(9, count=2), "chen17"))
    pred = gt + 0.1 * torch.randn(gt.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    pred.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: ((procrustes_align(p, gt) - gt) ** 2).sum(), (pred,))
    collapsed = torch.zeros_like(gt, requires_grad=True)
    loss = pa_mpjpe(collapsed, gt)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(collapsed.grad).all()


def test_pose_metrics_pool_every_update_per_joint_in_millimetres():
    names = ("root", "hand")
    metrics = PoseMetrics(names)
    gt = np.zeros((1, 2, 2, 3))
    pred = np.zeros((1, 2, 2, 3))
    pred[0, 0, 1] = [0.3, 0.4, 0.0]     # frame 0: the hand off by 500 mm
    pred[0, 1, 1] = [0.0, 0.1, 0.0]     # frame 1: by 100 mm
    metrics.update(pred, gt)
    metrics.update(torch.zeros(2, 2, 3), torch.zeros(2, 2, 3))   # two exact skeletons
    summary = metrics.summary()
    assert summary["skeletons"] == 4
    assert summary["per_joint"]["hand"]["mpjpe_mm"] == pytest.approx(600 / 4)
    assert summary["per_joint"]["root"]["mpjpe_mm"] == pytest.approx(0.0)
    assert summary["mpjpe_mm"] == pytest.approx(600 / 8)
    assert summary["per_joint"]["hand"]["pck3d"] == pytest.approx(3 / 4)
    assert summary["pck3d"] == pytest.approx(7 / 8)
    assert summary["pa_mpjpe_mm"] <= summary["mpjpe_mm"]
    assert "| hand | 150.0 |" in per_joint_table(summary)
    with pytest.raises(TrainingError, match="mismatched joint sets"):
        metrics.update(np.zeros((1, 3, 3)), np.zeros((1, 3, 3)))


# ------------------------------------------------------------------------------ geometric descriptor


def test_descriptor_of_a_hand_computed_three_joint_skeleton():
    """Yang et al. eq. (1): d(z_i, z_j) = [dx, dy, dz, dx^2, dy^2, dz^2] with d = z_i - z_j."""
    joints = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]]])
    descriptor = geometric_descriptor(joints)
    assert descriptor.shape == (1, 6, 3, 3)
    assert descriptor[0, :, 1, 0].tolist() == [1.0, 2.0, 3.0, 1.0, 4.0, 9.0]
    assert descriptor[0, :, 2, 1].tolist() == [-2.0, -1.5, -1.0, 4.0, 2.25, 1.0]
    assert descriptor[0, :, 0, 2].tolist() == [1.0, -0.5, -2.0, 1.0, 0.25, 4.0]


def test_descriptor_properties_on_random_skeletons():
    joints = torch.tensor(_posed(8, count=3), dtype=torch.float64)
    descriptor = geometric_descriptor(joints)
    offsets, squares = descriptor[:, :3], descriptor[:, 3:]
    torch.testing.assert_close(offsets, -offsets.transpose(-1, -2))        # antisymmetric
    torch.testing.assert_close(squares, squares.transpose(-1, -2))          # symmetric
    assert (descriptor.diagonal(dim1=-2, dim2=-1) == 0).all()
    torch.testing.assert_close(squares, offsets ** 2)
    for b in range(3):   # the squared channels add up to the squared pairwise distances
        np.testing.assert_allclose(squares[b].sum(0).numpy(), cdist(joints[b], joints[b], "sqeuclidean"), atol=1e-9)
    torch.testing.assert_close(geometric_descriptor(joints + 5.0), descriptor)   # translation-free
    with pytest.raises(TrainingError, match="B x P x 3"):
        geometric_descriptor(joints[0])

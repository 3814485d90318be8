"""The pose prior (Chen et al.'s pose-space sampling): it covers joint-angle ranges the
procedural motions do not, composes parts into whole-body poses no input had, and never
leaves the joint limits."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from synth_core.body.catalog import load_body_model
from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.errors import MotionError
from synth_core.motion import procedural_motion
from synth_core.motion.bvh import write_bvh
from synth_core.motion.limits import check_within_limits, limit_box_coverage
from synth_core.motion.prior import (PARTS, fit_prior, load_prior, motion_from_keys, remove_heading,
                                     sample_prior_keys, training_poses)

@functools.lru_cache(maxsize=1)
def procedural_poses() -> np.ndarray:
    return training_poses()


@functools.lru_cache(maxsize=1)
def default_prior():
    return fit_prior(procedural_poses())


def test_samples_never_exceed_the_joint_limits():
    samples = default_prior().sample(np.random.default_rng(0), 3000)
    assert samples.shape == (3000, 24, 3)
    assert check_within_limits(samples)
    keys = sample_prior_keys(default_prior(), np.random.default_rng(5), 90, 30.0, 1.0)
    clip = motion_from_keys(keys, 90, 30.0, 1.0)
    assert clip.n_frames == 90 and check_within_limits(clip.pose)


def test_prior_covers_joint_angle_ranges_the_procedural_motions_do_not():
    procedural = limit_box_coverage(procedural_poses())[1:]  # the root has no limit box
    prior = limit_box_coverage(default_prior().sample(np.random.default_rng(1), 3000))[1:]
    assert prior.sum() >= 2 * procedural.sum(), (prior.sum(), procedural.sum())
    assert (prior > procedural).sum() >= prior.size // 2 and not (prior < procedural).any()


def chordal_nearest(samples: np.ndarray, training: np.ndarray, joints) -> np.ndarray:
    a = samples[:, list(joints)].reshape(len(samples), -1)
    b = training[:, list(joints)].reshape(len(training), -1)
    return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T, 0)).min(1)


def test_samples_compose_seen_parts_into_unseen_whole_poses():
    """Each part of a sample lies near a part that occurred; the whole pose lies far from every
    training pose (distances: chordal, over the parts' rotation matrices)."""
    training = axis_angle_to_matrix(procedural_poses())
    training[:, 0] = remove_heading(training[:, 0])
    samples = axis_angle_to_matrix(default_prior().sample(np.random.default_rng(2), 300))
    worst_part = np.max([chordal_nearest(samples, training, joints) for joints in PARTS.values()], axis=0)
    whole = chordal_nearest(samples, training, range(24))
    assert np.median(whole) > 2.0 * np.median(worst_part), (np.median(whole), np.median(worst_part))
    # Without the kernel, parts are exactly ones that occurred, yet the whole poses are new.
    exact = fit_prior(procedural_poses(), noise_deg=0.0, mixing=0.0)
    samples = axis_angle_to_matrix(exact.sample(np.random.default_rng(3), 200))
    for joints in PARTS.values():
        if 0 not in joints:  # the pelvis is clamped into no limit box but loses no heading either
            assert chordal_nearest(samples, training, joints).max() < 1e-6
    assert np.mean(chordal_nearest(samples, training, range(24)) > 1e-3) > 0.9


def test_the_pelvis_tilts_but_never_turns():
    samples = axis_angle_to_matrix(default_prior().sample(np.random.default_rng(4), 500))
    forward = samples[:, 0, :, 2]
    assert np.allclose(np.arctan2(forward[:, 0], forward[:, 2]), 0.0, atol=1e-9)


def test_seeded_saved_and_loaded_priors_sample_the_same(tmp_path):
    prior = default_prior()
    first = prior.sample(np.random.default_rng(7), 50)
    assert np.array_equal(first, prior.sample(np.random.default_rng(7), 50))
    loaded = load_prior(prior.save(tmp_path / "prior.npz"))
    assert np.array_equal(first, loaded.sample(np.random.default_rng(7), 50))
    keys = [sample_prior_keys(p, np.random.default_rng(3), 40, 30.0, 1.0) for p in (prior, loaded)]
    assert np.array_equal(keys[0], keys[1])


def test_a_prior_learns_from_bvh_files(tmp_path):
    rest = load_body_model("default")(betas=None).rest_joints[0]
    path = write_bvh(tmp_path / "squat.bvh", procedural_motion("squat", 45, 30.0, amplitude=1.5), rest)
    with_file = training_poses(bvh_files=[path])
    assert len(with_file) == len(procedural_poses()) + 45


@pytest.mark.parametrize("payload, message", [
    (b"not a zip", "not a pose prior file"),
    (None, "lacks"),
])
def test_bad_prior_files_are_refused(tmp_path, payload, message):
    path = tmp_path / "prior.npz"
    if payload is None:
        np.savez(path, format=np.array(1))
    else:
        path.write_bytes(payload)
    with pytest.raises(MotionError, match=message):
        load_prior(path)


def test_too_few_poses_and_bad_settings_are_refused():
    with pytest.raises(MotionError, match="at least"):
        fit_prior(np.zeros((5, 24, 3)))
    with pytest.raises(MotionError, match=r"in \[0, 1\]"):
        fit_prior(procedural_poses()[:100], mixing=-1.0)


def sampled_cluster_pairs(prior, n: int = 400) -> tuple[set, set]:
    """(pairs of (part, parent) clusters seen in training, pairs sampled): with noise 0 every
    sampled part is a training member, whose cluster is looked up here."""
    samples = axis_angle_to_matrix(prior.sample(np.random.default_rng(6), n))
    seen, drawn = set(), set()
    names = list(PARTS)
    for k, parent in enumerate(prior.parents):
        if parent < 0:
            continue
        seen |= {(k, int(a), int(b)) for a, b in zip(prior.labels[parent], prior.labels[k])}
        for sample in samples:
            def cluster(part):
                members = prior.members[part].reshape(len(prior.members[part]), -1)
                here = sample[list(PARTS[names[part]])].reshape(-1)
                return int(prior.labels[part][np.argmin(((members - here) ** 2).sum(1))])
            drawn.add((k, cluster(parent), cluster(k)))
    return seen, drawn


def test_mixing_lets_parts_combine_in_ways_the_input_never_had():
    seen, drawn = sampled_cluster_pairs(fit_prior(procedural_poses(), noise_deg=0.0, mixing=0.0))
    assert drawn <= seen
    seen, drawn = sampled_cluster_pairs(fit_prior(procedural_poses(), noise_deg=0.0, mixing=0.25))
    assert len(drawn - seen) >= 0.1 * len(drawn), (len(drawn - seen), len(drawn))


def test_limit_box_coverage_counts_the_slices_reached():
    from synth_core.motion.limits import JOINT_LIMITS
    from synth_core.motion.rotations import axis_rotation, matrix_to_axis_angle

    assert np.allclose(limit_box_coverage(np.zeros((1, 24, 3)))[1:], 0.1)  # one slice per axis
    assert np.isnan(limit_box_coverage(np.zeros((1, 24, 3)))[0]).all()
    knee = 4  # left knee: X from -10 to 150 degrees
    low, high = JOINT_LIMITS[knee].x
    poses = np.zeros((16, 24, 3))
    poses[:, knee] = matrix_to_axis_angle(axis_rotation("X", np.radians(np.linspace(low + 1, high - 1, 16))))
    coverage = limit_box_coverage(poses)
    assert coverage[knee, 0] == 1.0 and coverage[knee, 1] == 0.1 and coverage[5, 0] == 0.1

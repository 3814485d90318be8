"""`--motion bvh` and `--motion prior` in plans, the CLI and the renderer: plans sample them,
evaluate them frame by frame, refuse bad files by name, and a rendered prior clip's joints are
where an independent numpy model puts them."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner

from synth_core.body.catalog import load_body_model
from synth_core.body.lbs import axis_angle_to_matrix
from synth_core.errors import PlanError
from synth_core.motion import check_within_limits, load_bvh, procedural_motion, write_bvh
from synth_core.scene import camera as cam
from synth_core.scene.clip import PAD, evaluate_clip, motion_edges
from synth_core.scene.plan import PlanOptions, ScenePlan, sample_plan

TINY = PlanOptions(width=64, height=48, samples=1, n_frames=3)


@pytest.fixture(scope="module")
def bvh_file(tmp_path_factory):
    rest = load_body_model("default")(betas=None).rest_joints[0]
    return write_bvh(tmp_path_factory.mktemp("bvh") / "kick.bvh", procedural_motion("kick", 30, 30.0), rest)


def test_a_bvh_plan_poses_the_body_with_the_retargeted_file_window(bvh_file):
    plan = sample_plan(4, dataclasses.replace(TINY, motion_source="bvh", bvh_files=(str(bvh_file),)))
    m = plan.motion
    assert m["source"] == "bvh" and m["available_frames"] == 30 and PAD <= m["start"] <= 30 - 3 - PAD
    geometry = evaluate_clip(plan)
    rest = load_body_model("default")(betas=plan.body["betas"]).rest_joints[0]
    clip = load_bvh(bvh_file, target_fps=30.0, rest_joints=rest)
    window = slice(m["start"] - PAD, m["start"] + 3 + PAD)
    assert np.allclose(axis_angle_to_matrix(geometry.pose), axis_angle_to_matrix(clip.pose[window]), atol=1e-9)
    assert motion_edges(plan) == {"first_backward_flow_real": True, "last_forward_flow_real": True}
    assert ScenePlan.from_json(plan.to_json()) == plan


def test_a_prior_plan_holds_its_key_poses_within_the_limits():
    options = dataclasses.replace(TINY, motion_source="prior", n_frames=90, prior_hold_s=1.0)
    plan = sample_plan(2, options)
    keys = np.array(plan.motion["keys"])
    assert keys.shape == (5, 24, 3) and check_within_limits(keys)  # a key each second of 92 padded frames
    assert sample_plan(2, options) == plan and sample_plan(3, options) != plan
    geometry = evaluate_clip(plan, with_vertices=False)
    assert check_within_limits(geometry.pose)
    assert np.allclose(axis_angle_to_matrix(geometry.pose[0]), axis_angle_to_matrix(keys[0]), atol=1e-9)
    assert np.allclose(axis_angle_to_matrix(geometry.pose[30]), axis_angle_to_matrix(keys[1]), atol=1e-9)
    assert motion_edges(plan) == {"first_backward_flow_real": True, "last_forward_flow_real": True}
    still = sample_plan(2, dataclasses.replace(options, prior_hold_s=0.0))
    poses = evaluate_clip(still, with_vertices=False).pose
    assert len(still.motion["keys"]) == 1 and np.allclose(poses, poses[0])


def test_bad_motion_options_and_plans_are_refused(tmp_path):
    with pytest.raises(PlanError, match="needs at least one BVH file"):
        dataclasses.replace(TINY, motion_source="bvh")
    with pytest.raises(PlanError, match="prior_hold_s"):
        dataclasses.replace(TINY, prior_hold_s=-1.0)
    plan = sample_plan(1, dataclasses.replace(TINY, motion_source="prior"))
    broken = plan.to_dict()
    broken["motion"]["keys"] = [[0.0, 0.0]]
    with pytest.raises(PlanError, match="K x 24 x 3"):
        ScenePlan.from_dict(broken)


def _render(*args):
    from synth_cli.main import cli

    return CliRunner().invoke(cli, ["render", "--n", "1", "--frames", "2", "--res", "64x48", *args])


def test_the_cli_names_a_bad_bvh_file_before_any_folder_exists(tmp_path, bvh_file):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT hips\n{\n")
    out = tmp_path / "out"
    result = _render("--out", str(out), "--bvh", str(bvh_file), "--bvh", str(bad))
    assert result.exit_code == 1 and "bad.bvh" in result.output and not out.exists()
    result = _render("--out", str(out), "--motion", "bvh")
    assert result.exit_code == 1 and "needs at least one BVH file" in result.output
    plan = tmp_path / "plan.json"
    plan.write_text(sample_plan(0, TINY).to_json())
    from synth_cli.main import cli

    result = CliRunner().invoke(cli, ["render", "--plan", str(plan), "--out", str(out), "--motion", "prior"])
    assert result.exit_code == 1 and "--motion" in result.output


@pytest.mark.slow  # renders a 2-frame clip in Blender
def test_a_rendered_prior_clip_puts_the_joints_where_the_body_model_does(tmp_path):
    from synth_cli.commands.render import run_worker
    from synth_core.dataset import read_clip

    plan = sample_plan(6, dataclasses.replace(TINY, motion_source="prior", n_frames=2, samples=1, shading="nodes",
                                              rgb_format="png", texture_size=256))
    run_worker(plan, tmp_path / "clip")
    clip = read_clip(tmp_path / "clip")
    a = clip.annotations
    assert np.allclose(axis_angle_to_matrix(a["pose"]),
                       axis_angle_to_matrix(evaluate_clip(plan, with_vertices=False).pose[PAD:PAD + 2]), atol=1e-9)
    model = load_body_model("default")
    posed = model(betas=a["betas"], pose=a["pose"], transl=a["transl"])
    joints = cam.transform_points(a["body_to_world"], posed.joints)
    uv, _ = cam.project(a["camera_K"], a["camera_Rt"], joints)
    assert np.allclose(uv, a["joints2d"], atol=1e-6)
    for t in range(2):  # the pelvis and spine joints are over the rendered body
        pixels = np.rint(uv[t, [0, 3, 6]]).astype(int)
        assert np.all(clip.frame(t)["segmentation"][pixels[:, 1], pixels[:, 0]] > 0)

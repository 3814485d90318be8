"""The render pipeline as a user drives it: determinism, the two SH shaders, the CLI, bad input."""

from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from synth_cli.commands.render import run_worker
from synth_cli.main import cli
from synth_core.dataset import read_clip
from synth_core.scene.plan import PlanOptions, sample_plan

TINY = PlanOptions(width=64, height=48, samples=2, n_frames=2, rgb_format="png", texture_size=256,
                   camera_distance_mean=4.0, camera_distance_std=0.0)


def _all_passes(path):
    clip = read_clip(path)
    return [clip.frame(t) for t in range(clip.n_frames)], clip


@pytest.mark.slow  # renders clips in Blender
def test_same_seed_renders_bit_identical_passes_and_another_seed_differs(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        run_worker(sample_plan(seed, TINY), tmp_path / name)
    a, clip_a = _all_passes(tmp_path / "a")
    b, clip_b = _all_passes(tmp_path / "b")
    c, _ = _all_passes(tmp_path / "c")
    for frame_a, frame_b, frame_c in zip(a, b, c):
        for name in frame_a:
            assert np.array_equal(frame_a[name], frame_b[name]), name
            assert not np.array_equal(frame_a[name], frame_c[name]), name
    for key, value in clip_a.annotations.items():
        assert np.array_equal(value, clip_b.annotations[key]), key


@pytest.mark.slow  # renders clips in Blender
def test_osl_shader_and_node_group_agree(tmp_path):
    """The SURREAL OSL shader and the node group (for GPU/Eevee) light the body the same way.

    The texture is a smooth colour ramp: with OSL on, Cycles looks image textures up through
    OpenImageIO, which filters fine detail differently from SVM's bilinear lookup (a procedural
    outfit with hair strands and laces differs by ~3.4/255 for that reason alone)."""
    options = dataclasses.replace(TINY, width=160, height=120, samples=4, n_frames=1, texture_size=512)
    u, v = np.meshgrid(np.linspace(0.0, 1.0, 256), np.linspace(0.0, 1.0, 256))
    ramp = np.stack([0.3 + 0.6 * u, 0.4 + 0.4 * v, 0.8 - 0.5 * u * v], axis=2)
    Image.fromarray(np.round(ramp * 255).astype(np.uint8)).save(tmp_path / "ramp.png")
    plan = dataclasses.replace(sample_plan(21, options), texture={"kind": "file", "path": str(tmp_path / "ramp.png")})
    run_worker(plan, tmp_path / "osl")
    run_worker(dataclasses.replace(plan, render={**plan.render, "shading": "nodes"}), tmp_path / "nodes")
    osl, nodes = read_clip(tmp_path / "osl").frame(0), read_clip(tmp_path / "nodes").frame(0)
    body = osl["segmentation"] > 0
    assert body.sum() > 500
    difference = np.abs(osl["rgb"].astype(float) - nodes["rgb"].astype(float))[body].mean() / 255.0
    print(f"OSL vs node group: mean absolute difference {difference * 255:.3f}/255 on {body.sum()} body px")
    assert difference < 1.0 / 255.0
    assert osl["rgb"][body].std() > 5  # the body is lit and textured, not flat


@pytest.mark.slow  # renders clips in Blender
def test_cli_renders_a_clip_and_resumes(tmp_path):
    runner = CliRunner()
    args = ["render", "--n", "1", "--out", str(tmp_path), "--frames", "2", "--res", "64x48",
            "--samples", "1", "--seed", "3"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    clip_dir = tmp_path / "clip_00000003"
    clip = read_clip(clip_dir)
    assert clip.n_frames == 2 and clip.frame(1)["rgb"].shape == (48, 64, 3)
    before = sorted(p.stat().st_mtime_ns for p in clip_dir.rglob("*") if p.is_file())
    result = runner.invoke(cli, args)
    assert result.exit_code == 0 and "already complete" in result.output
    assert before == sorted(p.stat().st_mtime_ns for p in clip_dir.rglob("*") if p.is_file())


@pytest.mark.parametrize("args, message", [
    (["--passes", "rgb,albedo"], "albedo"),
    (["--res", "8x8"], "width"),
    (["--res", "big"], "--res"),
    (["--samples", "0"], "samples"),
    (["--background-dir", "/nonexistent/backgrounds"], "/nonexistent/backgrounds"),
])
def test_bad_render_options_fail_before_rendering(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["render", "--out", str(tmp_path / "out"), "--frames", "1", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert not list((tmp_path / "out").glob("clip_*")) if (tmp_path / "out").exists() else True


def test_amass_file_with_wrong_joint_count_fails_before_rendering(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, poses=np.zeros((10, 50)), trans=np.zeros((10, 3)), mocap_framerate=120.0)
    result = CliRunner().invoke(cli, ["render", "--out", str(tmp_path / "out"), "--amass", str(bad)])
    assert result.exit_code == 1
    assert "bad.npz" in result.output


def test_unreadable_body_file_fails_before_rendering(tmp_path, monkeypatch):
    smpl_dir = tmp_path / "smpl"
    smpl_dir.mkdir()
    for gender in ("MALE", "FEMALE", "NEUTRAL"):
        (smpl_dir / f"SMPL_{gender}.pkl").write_bytes(b"not a pickle at all")
    monkeypatch.setenv("SYNTH_SMPL_DIR", str(smpl_dir))
    result = CliRunner().invoke(cli, ["render", "--out", str(tmp_path / "out"), "--body", "smpl"])
    assert result.exit_code == 1
    message = result.output.replace("\n", "")  # rich wraps long paths
    assert "SMPL_" in message and ".pkl" in message and "corrupt" in message
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_missing_smpl_files_are_named_with_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_SMPL_DIR", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(cli, ["render", "--out", str(tmp_path / "out"), "--body", "smpl"])
    assert result.exit_code == 1
    assert "smpl" in result.output.lower()


@pytest.mark.slow  # renders clips in Blender
def test_a_missing_texture_fails_before_rendering_and_keeps_other_clips(tmp_path):
    """The worker names the missing file, leaves neither a clip nor a partial folder, and a
    clip rendered before it is untouched."""
    from synth_core.errors import RenderError

    run_worker(sample_plan(1, TINY), tmp_path / "done")
    plan = sample_plan(2, TINY)
    broken = dataclasses.replace(plan, texture={"kind": "file", "path": str(tmp_path / "missing.png")})
    with pytest.raises(RenderError, match="missing.png"):
        run_worker(broken, tmp_path / "broken")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["done"]
    assert read_clip(tmp_path / "done").verify() > 0


def test_render_files_go_to_ram_when_there_is_room_else_to_the_work_dir(tmp_path, monkeypatch):
    """The EXR round trip uses /dev/shm where it exists with room, the worker's own work folder
    otherwise (no /dev/shm, or too little space in it), and leaves nothing behind either way."""
    from blender_addon import worker

    ram, work = tmp_path / "ram", tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(worker, "RAM_FOLDER", ram)
    with worker.exr_folder(work, pixels=320 * 240) as folder:  # no RAM folder on this "machine"
        assert folder.parent == work and folder.is_dir()
    ram.mkdir()
    with worker.exr_folder(work, pixels=320 * 240) as folder:
        assert folder.parent == ram and folder.name.startswith(worker.EXR_FOLDER_PREFIX)
        (folder / "labels.exr").write_bytes(b"x")
    huge = shutil.disk_usage(ram).total  # pixels: far more bytes than the disk holds
    with worker.exr_folder(work, pixels=huge) as folder:
        assert folder.parent == work
    assert not any(ram.iterdir()) and not any(work.iterdir())


def test_a_killed_workers_ram_folder_is_removed_by_the_next_worker(tmp_path, monkeypatch):
    import subprocess
    import sys

    from blender_addon import worker

    monkeypatch.setattr(worker, "RAM_FOLDER", tmp_path)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # its pid now names no process
    dead = tmp_path / f"{worker.EXR_FOLDER_PREFIX}{ended.pid}-abc123"
    alive = tmp_path / f"{worker.EXR_FOLDER_PREFIX}{os.getppid()}-def456"
    other_host = tmp_path / f"synth-exr-elsewhere-{ended.pid}-ghi789"
    for folder in (dead, alive, other_host):
        folder.mkdir()
        (folder / "rgb.exr").write_bytes(b"x")
    worker.remove_stale_exr_folders()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other_host.name])


NODES = dataclasses.replace(TINY, shading="nodes", samples=4)
GROUNDED = dataclasses.replace(TINY, scene="grounded")


@pytest.mark.slow  # renders seven clips in Blender
@pytest.mark.parametrize("sequence", [
    [("a", 5, TINY), ("b", 6, TINY), ("c", 6, NODES), ("d", 7, NODES)],            # c: another shading
    [("a", 4, GROUNDED), ("b", 6, GROUNDED), ("c", 6, TINY), ("d", 3, GROUNDED)],   # c, d: another scene kind
], ids=["shading", "grounded"])
def test_a_worker_reusing_its_scene_renders_what_a_fresh_worker_renders(tmp_path, sequence):
    """A long-lived worker turns its last clip's scene into the next one's in place (texture,
    lighting, camera, body, ground, sun and sky, render settings) when the body model, shading,
    engine and scene kind allow, and builds a new one otherwise; either way every pass equals a
    fresh worker's, bit for bit."""
    from synth_cli.farm.workers import WorkerProcess, render_job

    worker = WorkerProcess("w", tmp_path / "scratch")
    events = []
    try:
        for name, seed, options in sequence:
            result = render_job(worker, tmp_path / name, {"plan": sample_plan(seed, options).to_dict()}, events.append)
            assert result.ok, result.message
    finally:
        worker.stop()
    assert len([e for e in events if e["event"] == "ready"]) == 1  # one process rendered them all
    for name, seed, options in sequence[1:]:
        run_worker(sample_plan(seed, options), tmp_path / f"{name}_fresh")
        reused, fresh = _all_passes(tmp_path / name), _all_passes(tmp_path / f"{name}_fresh")
        for frame_reused, frame_fresh in zip(reused[0], fresh[0]):
            for key in frame_fresh:
                assert np.array_equal(frame_reused[key], frame_fresh[key]), (name, key)
        for key, value in fresh[1].annotations.items():
            assert np.array_equal(reused[1].annotations[key], value), (name, key)


@pytest.mark.slow  # renders two clips in Blender
def test_render_plan_file_reproduces_an_edited_plan(tmp_path):
    """`synth render --plan FILE` renders exactly the plan (here with lighting no sampler made,
    as an artist's edit in the add-on gives), as the worker renders it."""
    plan = sample_plan(3, dataclasses.replace(TINY, n_frames=1))
    plan = dataclasses.replace(plan, lighting={"sh": [1.3, 0.4, 0.2, -0.3, 0.0, 0.1, 0.0, 0.0, 0.05]})
    (tmp_path / "plan.json").write_text(plan.to_json())
    result = CliRunner().invoke(cli, ["render", "--plan", str(tmp_path / "plan.json"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    run_worker(plan, tmp_path / "reference")
    rendered, reference = read_clip(tmp_path / "out" / "clip_00000003"), read_clip(tmp_path / "reference")
    assert rendered.meta["plan"] == plan.to_dict()
    for key, value in reference.frame(0).items():
        assert np.array_equal(rendered.frame(0)[key], value), key
    again = CliRunner().invoke(cli, ["render", "--plan", str(tmp_path / "plan.json"), "--out", str(tmp_path / "out")])
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.parametrize("extra, content, message", [
    (["--n", "2", "--samples", "4"], None, "--plan fixes what --n, --samples would choose"),
    ([], '{"seed": 1}', "is not a valid scene plan"),
    ([], "not json", "is not a valid scene plan"),
])
def test_render_plan_file_refuses_bad_input_before_rendering(tmp_path, extra, content, message):
    path = tmp_path / "plan.json"
    path.write_text(content if content is not None else sample_plan(3, dataclasses.replace(TINY, n_frames=1)).to_json())
    result = CliRunner().invoke(cli, ["render", "--plan", str(path), "--out", str(tmp_path / "out"), *extra])
    assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output
    assert not (tmp_path / "out").exists()

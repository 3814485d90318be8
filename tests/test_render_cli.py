"""`synth render` as a user drives it from a shell: paths relative to their own folder, outputs
that cannot be written, workers that get killed, messages that must survive rich's markup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synth_cli.main import cli
from synth_core.dataset import read_clip

REPO = Path(__file__).resolve().parents[1]
TINY_RENDER = ["--frames", "1", "--res", "64x48", "--samples", "1"]


def synth(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    """The installed console entry point, run as a user would, from ``cwd``."""
    return subprocess.run([sys.executable, "-m", "synth_cli", *args], cwd=cwd, capture_output=True,
                          text=True, **kwargs)


def _invoke(*args: str):
    result = CliRunner().invoke(cli, ["render", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _one_line(text: str) -> str:
    return " ".join(text.split())  # rich wraps long paths


@pytest.mark.slow
def test_relative_out_is_the_users_folder_and_resumes(tmp_path):
    before = set(REPO.iterdir())
    first = synth("render", "--n", "1", "--out", "rel/data", *TINY_RENDER, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    clip_dir = tmp_path / "rel" / "data" / "clip_00000000"
    assert read_clip(clip_dir).n_frames == 1
    assert set(REPO.iterdir()) == before, "the render wrote into the repository"
    assert sorted(p.name for p in clip_dir.parent.iterdir()) == [".synth", "clip_00000000"]
    assert sorted(p.name for p in (clip_dir.parent / ".synth").iterdir()) == ["config.json", "events", "index", "requests"]
    again = synth("render", "--n", "1", "--out", "rel/data", *TINY_RENDER, cwd=tmp_path)
    assert again.returncode == 0 and "already complete" in again.stderr


@pytest.mark.slow
def test_texture_size_sets_the_detail_of_the_painted_clothes(tmp_path):
    """The same two people with 16-texel and 1024-texel textures: inside the body (the
    segmentation, eroded off its edge) the coarse texture leaves far less fine detail (mean
    |Laplacian| of the luminance; measured 15 against 74 and 36)."""
    import cv2

    detail = {}
    for size in (16, 1024):
        result = synth("render", "--n", "2", "--seed", "3", "--out", f"size{size}", "--frames", "1",
                       "--res", "160x120", "--samples", "1", "--passes", "rgb,segmentation", "--rgb-format", "png",
                       "--shading", "nodes", "--texture-size", str(size), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        for seed in (3, 4):
            frame = read_clip(tmp_path / f"size{size}" / f"clip_{seed:08d}").frame(0)
            body = cv2.erode((frame["segmentation"] > 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            laplacian = cv2.Laplacian(frame["rgb"].astype(np.float32).mean(axis=2), cv2.CV_32F)
            detail[size, seed] = float(np.abs(laplacian)[body].mean())
    print(detail)
    for seed in (3, 4):
        assert detail[16, seed] < 0.6 * detail[1024, seed]


def _workers_under(folder: Path) -> list[int]:
    """Blender workers (``blender_addon.worker``) whose working folder is inside ``folder``."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if entry.name.isdigit() and "blender_addon.worker" in cmdline and cwd.startswith(str(folder)):
            pids.append(int(entry.name))
    return pids


def start_render(out: Path, cwd: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "synth_cli", "render", "--out", str(out), *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def kill_a_worker_while_it_writes(out: Path, clip: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180
    while not (workers := _workers_under(out)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers, "the worker never started"
    while not list(out.glob(f"{clip}.partial-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # kill it while it writes, the worst moment
    for pid in workers:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_killed_worker_is_named_and_leaves_nothing_behind(tmp_path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "killed_out"
    process = start_render(out, tmp_path, "--n", "1", "--retries", "0", "--frames", "20", "--res", "64x48",
                           "--samples", "1", env={"TMPDIR": str(scratch)})
    kill_a_worker_while_it_writes(out, "clip_00000000", process)
    _, stderr = process.communicate(timeout=120)
    message = _one_line(stderr)
    assert process.returncode == 1
    assert "clip_00000000: the Blender worker was killed by signal 9 (SIGKILL)" in message
    assert "Traceback" not in stderr
    assert sorted(p.name for p in out.iterdir()) == [".synth"], "a killed clip left files in the dataset"
    assert sorted(p.name for p in (out / ".synth").iterdir()) == ["config.json", "events", "failed", "requests"]
    assert list(scratch.iterdir()) == [], "a killed worker left temporary files"


@pytest.mark.slow
def test_killed_workers_are_replaced_and_the_dataset_equals_an_uninterrupted_one(tmp_path):
    args = ["--n", "2", "--frames", "8", "--res", "64x48", "--samples", "1", "--workers", "2"]
    calm = start_render(tmp_path / "calm", tmp_path, *args)
    assert calm.wait(timeout=300) == 0, calm.stderr.read()
    out = tmp_path / "killed"
    process = start_render(out, tmp_path, *args, "--retries", "3")
    for _ in range(2):  # repeatedly: the first attempt and its retry are both killed mid-write
        kill_a_worker_while_it_writes(out, "clip_00000001", process)
        while list(out.glob("clip_00000001.partial-*")) and process.poll() is None:
            time.sleep(0.05)  # the executor clears the killed attempt's partial folder
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    for clip in ("clip_00000000", "clip_00000001"):
        assert (out / clip / "checksums.sha256").read_text() == (tmp_path / "calm" / clip / "checksums.sha256").read_text()
        assert read_clip(out / clip).verify() > 0
    retries = [line for line in (out / ".synth" / "events").glob("*.jsonl") for line in line.read_text().splitlines()
               if '"clip_retry"' in line]
    assert len(retries) >= 2, "fewer than two kills landed: the test did not test what it says"


def test_out_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "data.txt"
    target.write_text("not a folder")
    result = _invoke("--out", str(target), *TINY_RENDER)
    assert result.exit_code == 1
    assert "is a file" in _one_line(result.output) and "data.txt" in _one_line(result.output)
    assert target.read_text() == "not a folder"


def test_out_under_a_file_is_refused(tmp_path):
    (tmp_path / "data.txt").write_text("not a folder")
    result = _invoke("--out", str(tmp_path / "data.txt" / "clips"), *TINY_RENDER)
    assert result.exit_code == 1
    assert "cannot write into --out" in _one_line(result.output)
    assert "Not a directory" in _one_line(result.output)


@contextmanager
def tmpfs(folder: Path, options: str):
    """A real tmpfs mounted at ``folder`` (tests run as root in CI); skip where mounting is refused."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture
def read_only_folder(tmp_path):
    with tmpfs(tmp_path / "readonly", "ro,size=1m") as folder:
        yield folder


def test_out_on_a_read_only_file_system_is_refused(read_only_folder):
    result = _invoke("--out", str(read_only_folder / "data"), *TINY_RENDER)
    assert result.exit_code == 1
    assert "Read-only file system" in _one_line(result.output)
    result = _invoke("--out", str(read_only_folder), *TINY_RENDER)
    assert result.exit_code == 1 and "cannot write into --out" in _one_line(result.output)


def test_an_input_error_leaves_no_empty_out_folder(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, poses=np.zeros((10, 50)), trans=np.zeros((10, 3)), mocap_framerate=120.0)
    result = _invoke("--out", str(tmp_path / "new" / "out"), "--amass", str(bad), *TINY_RENDER)
    assert result.exit_code == 1 and "bad.npz" in _one_line(result.output)
    assert not (tmp_path / "new" / "out").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert _invoke("--out", str(kept), "--amass", str(bad), *TINY_RENDER).exit_code == 1
    assert kept.is_dir(), "a folder the user made is never removed"


def test_empty_passes_are_named(tmp_path):
    result = _invoke("--out", str(tmp_path / "out"), "--passes", "", *TINY_RENDER)
    assert result.exit_code == 1
    assert "--passes names no pass" in _one_line(result.output) and "segmentation" in result.output
    assert not (tmp_path / "out").exists()


def test_a_file_as_background_dir_is_named_as_a_file(tmp_path):
    image = tmp_path / "one.png"
    image.write_bytes(b"\x89PNG")
    result = _invoke("--out", str(tmp_path / "out"), "--background-dir", str(image), *TINY_RENDER)
    assert result.exit_code == 1
    assert "is a file" in _one_line(result.output) and "not found" not in result.output


def test_error_text_keeps_its_square_brackets(tmp_path, monkeypatch):
    """The SMPL 'location unknown' message names the [assets] table; rich markup ate it."""
    monkeypatch.delenv("SYNTH_SMPL_DIR", raising=False)
    result = _invoke("--out", str(tmp_path / "out"), "--body", "smpl", *TINY_RENDER)
    assert result.exit_code == 1
    assert "[assets]" in result.output


@pytest.mark.slow
def test_a_config_file_sets_flags_the_command_line_overrides_and_the_dataset_records(tmp_path):
    (tmp_path / "job.toml").write_text('n = 2\nres = "64x48"\nframes = 1\nsamples = 1\npasses = "rgb,depth"\n'
                                       'no-persistent-data = true\n')
    result = synth("render", "--config", "job.toml", "--n", "1", "--out", "data", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "data").glob("clip_*")) == ["clip_00000000"]  # --n 1 won
    clip = read_clip(tmp_path / "data" / "clip_00000000")
    assert clip.passes == ("rgb", "depth") and (clip.height, clip.width) == (48, 64)
    import json

    recorded = json.loads((tmp_path / "data" / ".synth" / "config.json").read_text())
    assert recorded["identity"]["options"]["persistent_data"] is False
    assert recorded["provenance"]["versions"]["bpy"] and recorded["provenance"]["assets"]["body/default"]


def test_an_unknown_config_key_is_named(tmp_path):
    (tmp_path / "job.toml").write_text("n = 2\nsampels = 4\n")
    result = _invoke("--config", str(tmp_path / "job.toml"), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and "unknown key(s) sampels" in _one_line(result.output)


def test_other_options_into_an_existing_dataset_are_refused_before_rendering(tmp_path):
    from synth_cli.commands.render import dataset_config
    from synth_core.dataset.index import DatasetIndex
    from synth_core.scene.plan import PlanOptions

    DatasetIndex(tmp_path).claim_config(dataset_config(0, PlanOptions(width=64, height=48, n_frames=1, samples=1)))
    result = _invoke("--out", str(tmp_path), *TINY_RENDER[:-1], "4")
    assert result.exit_code == 1
    assert "options.samples: dataset has 1, this run 4" in _one_line(result.output)
    assert not list(tmp_path.glob("clip_*"))


def test_osl_on_a_gpu_without_osl_is_refused_before_any_work(tmp_path):
    result = _invoke("--out", str(tmp_path / "out"), "--device", "cuda", *TINY_RENDER)
    assert result.exit_code == 1 and "cannot run OSL" in _one_line(result.output)
    assert not (tmp_path / "out").exists()


def test_an_absent_gpu_is_named_before_any_work(tmp_path):
    from synth_cli.farm.workers import check_device

    try:
        check_device("cuda")
    except Exception as exc:  # the expected case on a machine without an NVIDIA GPU
        assert "no CUDA device" in str(exc)
    else:
        pytest.skip("this machine has a CUDA device that Blender can use, so it cannot be absent")
    result = _invoke("--out", str(tmp_path / "out"), "--device", "cuda", "--shading", "nodes", *TINY_RENDER)
    assert result.exit_code == 1 and "no CUDA device" in _one_line(result.output)
    assert not (tmp_path / "out").exists()
    assert check_device("cpu") == "CPU"


@pytest.fixture
def small_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "size=64m") as folder:
        yield folder


@pytest.mark.slow
def test_a_full_disk_stops_the_run_cleanly_and_keeps_what_is_complete(small_disk, tmp_path):
    out = small_disk / "data"
    args = ["--frames", "2", "--res", "64x48", "--samples", "1", "--retries", "3"]
    assert synth("render", "--n", "1", "--out", str(out), *args, cwd=tmp_path).returncode == 0
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:  # leave ~100 KB: less than one texture
        handle.write(os.urandom(free - 100_000))
    full = synth("render", "--n", "3", "--out", str(out), *args, cwd=tmp_path, timeout=300)
    message = _one_line(full.stderr)
    assert full.returncode == 1 and "Stopped: the output cannot be written" in message, full.stderr
    assert "No space left on device" in message and "Traceback" not in full.stderr
    assert "attempt 2" not in full.stderr, "a full disk was retried"
    assert sorted(p.name for p in out.iterdir()) == [".synth", "clip_00000000"], "partial files were left"
    assert not (out / ".synth" / "tmp").exists()
    assert read_clip(out / "clip_00000000").verify() > 0
    filler.unlink()
    resumed = synth("render", "--n", "3", "--out", str(out), *args, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in out.glob("clip_*")) == [f"clip_0000000{i}" for i in range(3)]


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_leaves_nothing_partial_and_the_next_run_resumes(tmp_path):
    out = tmp_path / "data"
    args = ["--n", "2", "--frames", "12", "--res", "64x48", "--samples", "1", "--workers", "2"]
    process = subprocess.Popen([sys.executable, "-m", "synth_cli", "render", "--out", str(out), *args],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # its own process group, as a terminal's job
    deadline = time.monotonic() + 180
    while not list(out.glob("clip_*.partial-*")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends: every process of the job
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "re-run the same command to resume" in _one_line(stderr)
    time.sleep(0.5)
    assert not _workers_under(out), "a worker outlived Ctrl-C"
    leftovers = [p.name for p in out.iterdir() if p.name != ".synth" and not (p / "meta.json").is_file()]
    assert leftovers == [], "partial clips were left"
    assert not (out / ".synth" / "tmp").exists()
    resumed = synth("render", "--out", str(out), *args, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert all(read_clip(out / f"clip_0000000{i}").verify() > 0 for i in range(2))


@pytest.mark.parametrize("args, message", [
    (["--jobs", "2"], "--jobs and --slurm go with --executor slurm"),
    (["--slurm", "timeout_min=5"], "--jobs and --slurm go with --executor slurm"),
    (["--address", "127.0.0.1:6379"], "--address goes with --executor ray"),
    (["--executor", "slurm", "--shard", "0/2"], "makes its own shards"),
    (["--executor", "slurm", "--slurm", "timeout_min"], "KEY=VALUE"),
    (["--executor", "warp"], "Invalid value for '--executor'"),
])
def test_inconsistent_executor_flags_fail_before_any_work(tmp_path, args, message):
    result = _invoke("--out", str(tmp_path / "out"), *TINY_RENDER, *args)
    assert result.exit_code != 0 and message in _one_line(result.output)
    assert not (tmp_path / "out").exists()


def test_slurm_without_sbatch_says_how_to_shard_instead(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    result = _invoke("--out", str(tmp_path / "out"), *TINY_RENDER, "--executor", "slurm", "--jobs", "2")
    assert result.exit_code == 1 and "sbatch is not on PATH" in _one_line(result.output)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_ray_executor_from_the_command_line_equals_a_local_run(tmp_path):
    args = ["--n", "2", "--frames", "2", "--res", "64x48", "--samples", "1", "--workers", "2"]
    local = synth("render", "--out", "local", *args, cwd=tmp_path, timeout=300)
    assert local.returncode == 0, local.stderr
    ray = synth("render", "--out", "ray", *args, "--executor", "ray", cwd=tmp_path, timeout=600,
                env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    assert ray.returncode == 0, ray.stderr
    for clip in ("clip_00000000", "clip_00000001"):
        assert (tmp_path / "ray" / clip / "checksums.sha256").read_text() == \
            (tmp_path / "local" / clip / "checksums.sha256").read_text()

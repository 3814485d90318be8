"""Scale-out executors and deploy files: a SLURM array through submitit (run here with submitit's
local executor), a Ray cluster (a private one on loopback), the SLURM array script and the
Kubernetes Indexed Job manifest under the environment variables those schedulers set. Each
dataset they render must equal a plain local run's, clip for clip."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from synth_cli.farm.local import WorkerSettings
from synth_cli.farm.workplan import Shard, WorkPlan, shard_from_environment
from synth_core.dataset.index import DatasetIndex
from synth_core.errors import PlanError, RenderError

REPO = Path(__file__).resolve().parents[1]
TINY_RENDER = ["--frames", "1", "--res", "64x48", "--samples", "1"]
N_CLIPS = 3

needs_submitit = pytest.mark.skipif(find_spec("submitit") is None,
                                    reason="submitit is not installed (pip install '.[farm]')")
needs_ray = pytest.mark.skipif(find_spec("ray") is None, reason="Ray is not installed (pip install '.[farm]')")


# -- helpers ----------------------------------------------------------------------------------------

def clip_checksums(folder: Path) -> dict[str, str]:
    return {clip.name: (clip / "checksums.sha256").read_text() for clip in sorted(folder.glob("clip_*"))
            if clip.is_dir()}


def events(folder: Path) -> list[dict]:
    return DatasetIndex(folder).events()


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command (state, parent pid, ...); None once gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def descendants(pid: int) -> dict[int, str]:
    """pid -> command line of every living process below ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        fields = proc_stat(int(entry.name)) if entry.name.isdigit() else None
        if fields and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, stack = {}, list(children.get(pid, []))
    while stack:
        child = stack.pop()
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        stack += children.get(child, [])
    return found


def still_running(pids) -> list[int]:
    return [pid for pid in pids if (fields := proc_stat(pid)) and fields[0] != "Z"]


def fake_blender(folder: Path, body: str) -> str:
    """A stand-in for a Blender binary (``--blender``) that fails in a known way."""
    path = folder / "fake-blender"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def covered_exactly_once(shards: list[Shard], n_clips: int) -> bool:
    owned = [seed for shard in shards for seed in WorkPlan(0, n_clips).seeds(shard)]
    return sorted(owned) == list(range(n_clips))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A plain local run of the dataset (the CLI, one worker): what every executor must equal."""
    folder = tmp_path_factory.mktemp("reference")
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(folder / "blender")}
    result = subprocess.run([sys.executable, "-m", "synth_cli", "render", "--n", str(N_CLIPS), "--out",
                             str(folder / "data"), *TINY_RENDER], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return folder / "data"


def reference_options(reference: Path) -> dict:
    """The plan options the CLI resolved for the reference (so the executors render the same)."""
    return DatasetIndex(reference).config()["identity"]["options"]


def reference_options_for_frames(n_frames: int) -> dict:
    from synth_core.scene.plan import PlanOptions

    return PlanOptions(width=64, height=48, samples=1, n_frames=n_frames).to_dict()


# -- SLURM through submitit ---------------------------------------------------------------------------

def test_slurm_parameters_become_numbers_and_a_bad_pair_is_named():
    from synth_cli.farm.slurm import parse_slurm_parameters

    assert parse_slurm_parameters(["timeout_min=90", "mem_gb=7.5", "slurm_partition=gpu"]) == \
        {"timeout_min": 90, "mem_gb": 7.5, "slurm_partition": "gpu"}
    with pytest.raises(PlanError, match="KEY=VALUE.*'partition'"):
        parse_slurm_parameters(["partition"])


@needs_submitit
def test_an_unknown_slurm_parameter_is_named_before_any_submission(tmp_path):
    from synth_cli.farm.slurm import submit_slurm

    with pytest.raises(PlanError, match="bad SLURM parameter.*'max_gpus'"):
        submit_slurm(tmp_path, 0, 3, {}, WorkerSettings(), 2, {"max_gpus": 2}, local=True)
    assert not list((tmp_path / ".synth" / "slurm").glob("*.pkl"))


@needs_submitit
def test_slurm_without_sbatch_is_refused_before_any_file(tmp_path, monkeypatch):
    from synth_cli.farm.slurm import submit_slurm

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(RenderError, match="sbatch is not on PATH"):
        submit_slurm(tmp_path / "out", 0, 3, {}, WorkerSettings(), 2)
    assert not (tmp_path / "out").exists()


@needs_submitit
@pytest.mark.slow  # submitit waits 15 s for the result a killed task never writes
def test_array_tasks_report_their_failed_clips_and_a_killed_task_with_its_log(tmp_path):
    """Task 0 is killed (as a scheduler or the OOM killer would); task 1's clip times out in a
    Blender that never answers. The driver names the killed task and its log, and the clip."""
    from synth_cli.farm.slurm import submit_slurm, wait_for_shards

    out = tmp_path / "out"
    out.mkdir()
    settings = WorkerSettings(blender=fake_blender(tmp_path, "exec sleep 120"), timeout_s=3, retries=0,
                              threads=1)
    jobs = submit_slurm(out, 0, 2, {"n_frames": 1, "passes": ["rgb"]}, settings, 2, local=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill task 0 once its worker runs: mid-clip
        below = descendants(jobs[0]._process.pid)
        if any("fake-blender" in command or "sleep 120" in command for command in below.values()):
            break
        time.sleep(0.1)
    for pid in below:  # the task and the processes it started
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    summary = wait_for_shards(jobs, out, 0, poll_s=0.2)
    assert list(summary.failed_shards) == [0]
    assert str(jobs[0].paths.stderr) in summary.failed_shards[0] and jobs[0].paths.stderr.is_file()
    assert summary.failed == {1: "timed out after 3 s"}
    assert summary.rendered == []
    assert list(DatasetIndex(out).failures()) == ["clip_00000001"]


@needs_submitit
@pytest.mark.slow  # renders clips in Blender
def test_slurm_array_on_submitits_local_executor_equals_a_local_run(tmp_path, reference):
    from synth_cli.farm.slurm import submit_slurm, wait_for_shards

    out = tmp_path / "out"
    out.mkdir()
    jobs = submit_slurm(out, 0, N_CLIPS, reference_options(reference), WorkerSettings(threads=1), 2, local=True)
    summary = wait_for_shards(jobs, out, 0, poll_s=0.5)
    assert summary.failed_shards == {} and summary.failed == {}
    assert sorted(summary.rendered) == list(range(N_CLIPS))
    # each array task rendered its own shard, no more
    assert [sorted(job.result()["rendered"]) for job in jobs] == [[0, 2], [1]]
    assert clip_checksums(out) == clip_checksums(reference)
    owners = {entry["owner"] for entry in events(out) if "owner" in entry} | \
        {path.stem for path in (out / ".synth" / "index").glob("*.jsonl")}
    assert len(owners) == 2, "two array tasks should each have recorded their clips"


@needs_submitit
@pytest.mark.slow  # renders clips in Blender for over 30 s
def test_a_timed_out_array_task_is_requeued_and_resumes(tmp_path):
    """submitit's local executor signals a task as SLURM does before its time limit (30 s before
    ``timeout_min``); the task is checkpointed, requeued with the same call, and resumes."""
    from synth_cli.farm.slurm import submit_slurm, wait_for_shards

    out = tmp_path / "out"
    out.mkdir()
    # Enough work that one task cannot finish before the signal at 30 s: 12 clips of 30 frames,
    # one Cycles thread (~70 s unloaded on 2 cores; a clip's texture alone takes ~1 s).
    from synth_core.scene.plan import PlanOptions

    options = PlanOptions(width=320, height=240, samples=16, n_frames=30).to_dict()
    jobs = submit_slurm(out, 0, 12, options, WorkerSettings(threads=1), 1, {"timeout_min": 1}, local=True)
    summary = wait_for_shards(jobs, out, 0, poll_s=0.5)
    starts = [entry for entry in events(out) if entry["event"] == "run_started"]
    assert len(starts) >= 2, "the task ran once: not requeued, or done within 30 s (then the test tested nothing)"
    assert "timed-out" in jobs[0].stderr()
    assert summary.failed_shards == {} and summary.failed == {}
    assert sorted(summary.rendered + summary.skipped) == list(range(12)) and summary.skipped  # resumed
    assert sorted(DatasetIndex(out).done()) == [f"clip_{seed:08d}" for seed in range(12)]
    assert not list(out.glob("*.partial*"))


# -- Ray --------------------------------------------------------------------------------------------

def ray_processes() -> dict[int, str]:
    return {pid: command for pid, command in descendants(os.getpid()).items()
            if "ray" in command.split(" ")[0] or "raylet" in command or "gcs_server" in command}


def run_on_ray(out: Path, options: dict, settings: WorkerSettings):
    from synth_cli.farm.ray_cluster import RayExecutor
    from synth_cli.farm.progress import Reporter
    from rich.console import Console

    out.mkdir()
    reporter = Reporter(Console(file=open(os.devnull, "w")), N_CLIPS, options["n_frames"], 2)
    return RayExecutor(out, options, settings, reporter).run(range(N_CLIPS))


def assert_ray_is_gone() -> None:
    deadline = time.monotonic() + 30
    while ray_processes() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ray_processes() == {}, "Ray processes outlived the run"


@needs_ray
@pytest.mark.slow  # renders clips in Blender
def test_ray_on_a_private_loopback_cluster_equals_a_local_run(tmp_path, reference):
    out = tmp_path / "out"
    summary = run_on_ray(out, reference_options(reference), WorkerSettings(workers=2, threads=1))
    assert summary.failed == {} and sorted(summary.rendered) == list(range(N_CLIPS))
    assert clip_checksums(out) == clip_checksums(reference)
    connected = [entry for entry in events(out) if entry["event"] == "ray_connected"]
    assert [entry["address"].split(":")[0] for entry in connected] == ["127.0.0.1"]
    assert_ray_is_gone()


def kill_an_actor_while_its_worker_renders(stop: threading.Event, killed: list[int]) -> None:
    while not stop.is_set():
        below = descendants(os.getpid())
        for pid, command in below.items():
            parent = int(fields[1]) if (fields := proc_stat(pid)) else -1
            if "blender_addon.worker" in command and below.get(parent, "").startswith("ray::ClipActor"):
                os.kill(parent, signal.SIGKILL)
                killed += [parent, pid]  # the actor, and its Blender worker that must die with it
                return
        time.sleep(0.05)


@needs_ray
@pytest.mark.slow  # renders clips in Blender
def test_a_killed_ray_actor_is_restarted_and_the_dataset_equals_a_local_run(tmp_path, reference):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=kill_an_actor_while_its_worker_renders, args=(stop, killed), daemon=True)
    killer.start()
    out = tmp_path / "out"
    try:
        # One retry, at once: it must wait for Ray to restart the actor, not fail on it.
        summary = run_on_ray(out, reference_options(reference),
                             WorkerSettings(workers=2, threads=1, retries=1, backoff_s=0))
    finally:
        stop.set()
        killer.join()
    assert killed, "no actor was killed: the test did not test anything"
    assert summary.failed == {} and sorted(summary.rendered) == list(range(N_CLIPS))
    assert clip_checksums(out) == clip_checksums(reference)
    retries = [entry for entry in events(out) if entry["event"] == "clip_retry"]
    assert len(retries) == 1 and "Ray actor" in retries[0]["reason"]
    assert still_running(killed) == []
    assert not list(out.glob("*.partial*")) and not list((out / ".synth" / "tmp").glob("*"))
    assert_ray_is_gone()


RAY_DRIVER = """
import sys
from pathlib import Path
from rich.console import Console
from synth_cli.farm.local import WorkerSettings
from synth_cli.farm.progress import Reporter
from synth_cli.farm.ray_cluster import RayExecutor
from synth_core.scene.plan import PlanOptions

options = PlanOptions(width=64, height=48, samples=1, n_frames=30).to_dict()
out = Path(sys.argv[1])
out.mkdir()
reporter = Reporter(Console(stderr=True), 2, 30, 2)
summary = RayExecutor(out, options, WorkerSettings(workers=2, threads=1), reporter).run(range(2))
print("interrupted" if summary.interrupted else "finished", flush=True)
"""


@needs_ray
@pytest.mark.slow  # renders clips in Blender
def test_ctrl_c_stops_the_ray_run_and_leaves_no_partial_clip_or_process(tmp_path):
    """Ctrl-C at a terminal: SIGINT to the whole foreground process group (driver and Ray)."""
    out = tmp_path / "out"
    driver = subprocess.Popen([sys.executable, "-c", RAY_DRIVER, str(out)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    started: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 180
        while not list(out.glob("clip_*.partial*")) and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(out.glob("clip_*.partial*")), "no clip was being written: the test did not test anything"
        started = descendants(driver.pid)  # Ray's processes, its actors and their Blender workers
        assert any("blender_addon.worker" in command for command in started.values())
        os.killpg(driver.pid, signal.SIGINT)
        stdout, stderr = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:  # the test failed: leave nothing running
            for pid in [*descendants(driver.pid), driver.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == 0 and stdout.strip() == "interrupted", stderr
    assert sorted(path.name for path in out.iterdir()) == [".synth"]
    assert sorted(path.name for path in (out / ".synth").iterdir()) == ["events"]
    deadline = time.monotonic() + 30
    while still_running(started) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert still_running(started) == [], "processes of the Ray run outlived it"


# -- the deploy files under the variables their schedulers set -------------------------------------

SLURM_SCRIPT = REPO / "deploy" / "slurm_array.sh"
K8S_MANIFEST = REPO / "deploy" / "k8s_indexed_job.yaml"


def slurm_array_range() -> tuple[int, int]:
    match = re.search(r"^#SBATCH --array=(\d+)-(\d+)\s*$", SLURM_SCRIPT.read_text(), re.MULTILINE)
    assert match, "the script sets no contiguous --array range"
    return int(match.group(1)), int(match.group(2))


def slurm_task_environment(task_id: int, first: int, last: int) -> dict[str, str]:
    """What SLURM exports to array task ``task_id`` of ``--array=first-last``."""
    return {"SLURM_ARRAY_TASK_ID": str(task_id), "SLURM_ARRAY_TASK_MIN": str(first),
            "SLURM_ARRAY_TASK_MAX": str(last), "SLURM_ARRAY_TASK_COUNT": str(last - first + 1),
            "SLURM_ARRAY_JOB_ID": "4242", "SLURM_JOB_ID": str(4242 + task_id)}


def test_slurm_script_is_valid_bash_and_its_array_covers_every_clip_once():
    subprocess.run(["bash", "-n", str(SLURM_SCRIPT)], check=True)
    first, last = slurm_array_range()
    shards = [shard_from_environment(slurm_task_environment(task, first, last)) for task in range(first, last + 1)]
    assert covered_exactly_once(shards, 1000)


def run_slurm_script(out: Path, env: dict[str, str], n_clips: int) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SLURM_SCRIPT)], capture_output=True, text=True, cwd=out.parent, env={
        **os.environ, **env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SYNTH_OUT": str(out), "SYNTH_N": str(n_clips), "SYNTH_WORKERS": "1",
        "SYNTH_ARGS": " ".join(TINY_RENDER), "SLURM_CPUS_PER_TASK": "1"})


@pytest.mark.slow  # renders a clip in Blender
def test_slurm_script_task_renders_exactly_its_clips(tmp_path, reference):
    """Task 2 of --array=1-2 (SLURM numbers tasks from the array's first index) owns clip 1 of 3."""
    out = tmp_path / "data"
    result = run_slurm_script(out, slurm_task_environment(2, 1, 2), N_CLIPS)
    assert result.returncode == 0, result.stderr
    assert sorted(clip_checksums(out)) == ["clip_00000001"]
    assert clip_checksums(out)["clip_00000001"] == clip_checksums(reference)["clip_00000001"]


def k8s_job() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML reads the manifest")
    return yaml.safe_load(K8S_MANIFEST.read_text())


def test_k8s_manifest_is_a_valid_indexed_job_whose_pods_cover_every_clip_once():
    job = k8s_job()
    validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate checks the schema offline")
    validate.validate(job, "1.29", strict=True)  # backoffLimitPerIndex: Kubernetes >= 1.29
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    container = spec["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert int(env["SYNTH_SHARD_COUNT"]) == spec["completions"]
    shards = [shard_from_environment({**env, "JOB_COMPLETION_INDEX": str(index)})
              for index in range(spec["completions"])]
    assert covered_exactly_once(shards, 1000)


@pytest.mark.slow  # renders clips in Blender
def test_k8s_pod_command_renders_exactly_its_clips(tmp_path, reference):
    """The manifest's own command and environment, as pod 0 runs them, on a dataset small enough
    here: with N shards and N + 1 clips pod 0 owns clips 0 and N."""
    container = k8s_job()["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    count = int(env["SYNTH_SHARD_COUNT"])
    command = container["command"]
    assert command[:2] == ["synth", "render"]
    out = tmp_path / "data"
    # Later options win: the dataset is made small and written here instead of the volume.
    args = [*command[2:], "--n", str(count + 1), "--out", str(out), "--workers", "1", "--threads", "1", *TINY_RENDER]
    result = subprocess.run([sys.executable, "-m", "synth_cli", "render", *args], capture_output=True, text=True,
                            env={**os.environ, **env, "JOB_COMPLETION_INDEX": "0"})
    assert result.returncode == 0, result.stderr
    assert sorted(clip_checksums(out)) == ["clip_00000000", f"clip_{count:08d}"]
    assert clip_checksums(out)["clip_00000000"] == clip_checksums(reference)["clip_00000000"]

"""A non-editable install works on its own: the built wheel carries its data files, and once
installed into a fresh virtual environment `synth assets verify` and a tiny render run from a
folder outside the repository.

The fresh environment gets the heavy dependencies (bpy, numpy, ...) from the running
interpreter's site-packages through a .pth line instead of downloading them again. Python does
not read .pth files in a folder added that way, so the repository's editable-install finder
stays off and cannot shadow the wheel; the tests check that the packages import from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from synth_core.dataset import read_clip

ROOT = Path(__file__).resolve().parent.parent
# Files the installed code reads at run time, as the wheel must hold them.
PACKAGE_DATA = ["synth_core/data/assets_manifest.json", "synth_core/data/default_body.npz",
                "blender_addon/shaders/sh.osl"]
# The work tree minus .gitignore's entries and git's own folder.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "demo_out", "*.egg-info",
                                    "__pycache__", ".pytest_cache")


def _requirement_met(text: str) -> bool:
    requirement = Requirement(text)
    try:
        return requirement.specifier.contains(version(requirement.name), prereleases=True)
    except PackageNotFoundError:
        return False


def _build_wheel(out_dir: Path, scratch: Path) -> Path:
    """Build from a copy of the sources: setuptools writes build/ and *.egg-info next to them,
    and stale files in the repository's build/lib would end up in the wheel."""
    source = scratch / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    backend = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    # Reuse this environment's setuptools when it fits; otherwise pip fetches the backend.
    isolation = ["--no-build-isolation"] if all(map(_requirement_met, backend)) else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet",
                    "--wheel-dir", str(out_dir), str(source)], check=True)
    return next(out_dir.glob("synth_humans-*.whl"))


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(subprocess.run([str(python), "-c", code], check=True, capture_output=True,
                               text=True).stdout.strip())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("scratch"))


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    """A new venv holding the wheel (no pip of its own: this interpreter's pip installs into it)."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "--quiet", str(wheel)], check=True)
    dependencies = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (_site_packages(python) / "_synth_test_dependencies.pth").write_text("\n".join(dependencies) + "\n")
    return root


def _run(venv_root: Path, *command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["COLUMNS"] = "200"  # rich wraps table cells at the terminal width
    return subprocess.run([str(venv_root / "bin" / command[0]), *command[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True)


@pytest.fixture
def outside_repo(tmp_path) -> Path:
    assert not tmp_path.resolve().is_relative_to(ROOT)
    return tmp_path


def test_wheel_holds_the_files_read_at_run_time(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        missing = [name for name in PACKAGE_DATA if name not in names]
        assert not missing, f"{wheel.name} lacks {missing}"
        for name in PACKAGE_DATA:
            assert archive.read(name) == (ROOT / name).read_bytes(), name


def test_installed_wheel_verifies_its_assets_outside_the_repo(fresh_venv, outside_repo):
    site = _site_packages(fresh_venv / "bin" / "python")
    code = ("import synth_core, blender_addon; from synth_core import assets; "
            "print(synth_core.__file__, blender_addon.__file__, assets.require('shader/sh'), "
            "assets.require('body/default'), sep='\\n')")
    located = _run(fresh_venv, "python", "-c", code, cwd=outside_repo)
    assert located.returncode == 0, located.stderr
    for path in located.stdout.split():
        assert Path(path).is_relative_to(site), f"{path} is not the wheel's copy (in {site})"

    verify = _run(fresh_venv, "synth", "assets", "verify", cwd=outside_repo)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "shader/sh" in verify.stdout and "body/default" in verify.stdout


@pytest.mark.slow
@pytest.mark.skipif(find_spec("bpy") is None, reason="rendering needs bpy (pip install -e .[blender])")
def test_installed_wheel_renders_outside_the_repo(fresh_venv, outside_repo):
    result = _run(fresh_venv, "synth", "render", "--n", "1", "--out", "OUT", "--frames", "2",
                  "--res", "64x48", "--samples", "1", cwd=outside_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    clip = read_clip(outside_repo / "OUT" / "clip_00000000")
    assert clip.n_frames == 2 and clip.frame(1)["rgb"].shape == (48, 64, 3)

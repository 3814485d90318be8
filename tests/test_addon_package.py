"""The add-on as a Blender extension (`synth addon build|install`, synth_cli/builders/addon_package.py).

Checked against independent references: Blender's own extension tooling (its manifest validator,
its wheel-platform names, its installer), hashlib for the wheels' RECORDs, scipy for the
numpy-only shadow despeckling, and the CLI's own worker and sampler for what the installed
extension renders and samples in an emulated Blender (a Python that has only the standard
library, bpy and numpy)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synth_cli.builders import addon_package
from synth_cli.builders.addon_package import blender_platforms, build_extension, make_wheel
from synth_cli.main import cli
from synth_core import assets
from synth_core.backgrounds import background_pool
from synth_core.errors import BackgroundError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "blender_scripts" / "addon_package.py"
SITE_PACKAGES = Path(importlib.util.find_spec("numpy").origin).parents[1]
BLENDER_SCRIPTS = SITE_PACKAGES / "bpy" / "5.0" / "scripts"
BLENDER_EXT = BLENDER_SCRIPTS / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
BLENDER_TAGS = BLENDER_SCRIPTS / "modules" / "_bpy_internal" / "extensions" / "tags.py"
OPTIONS = {"width": 64, "height": 48, "samples": 1, "n_frames": 2, "scene": "grounded"}
SEED = 3


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_extension(tmp_path_factory.mktemp("addon") / "dist")


def blender_ext_module():
    spec = importlib.util.spec_from_file_location("blender_ext_for_tests", BLENDER_EXT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def members(zip_bytes: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


# --- the zip ------------------------------------------------------------------------------------

def test_build_is_deterministic_and_passes_blenders_validator(built, tmp_path):
    again = build_extension(tmp_path / "again")
    assert again.path.read_bytes() == built.path.read_bytes()
    result = subprocess.run([sys.executable, str(BLENDER_EXT), "validate", str(built.path),
                             "--valid-tags", str(BLENDER_TAGS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Success" in result.stdout, result.stdout + result.stderr


def test_manifest_lists_exactly_the_wheels_in_the_zip(built):
    files = members(built.path.read_bytes())
    manifest = tomllib.loads(files["blender_manifest.toml"].decode())
    assert manifest["id"] == "synth_humans" and manifest["type"] == "add-on"
    assert sorted(w.removeprefix("./") for w in manifest["wheels"]) == sorted(n for n in files if n.startswith("wheels/"))
    names = {Path(w).name.split("-")[0] for w in manifest["wheels"]}
    assert {"synth_humans", "pillow", "openexr"} <= names and "numpy" not in names  # numpy: Blender's
    assert manifest["platforms"] == list(built.platforms)
    assert blender_ext_module().platform_from_this_system() in manifest["platforms"]
    assert "from blender_addon import register, unregister" in files["__init__.py"].decode()


def test_every_wheel_record_matches_its_files(built):
    """Each wheel's RECORD, checked with hashlib (urlsafe base64 sha256, no padding)."""
    for name, data in members(built.path.read_bytes()).items():
        if not name.endswith(".whl"):
            continue
        files = members(data)
        record_name = next(n for n in files if n.endswith(".dist-info/RECORD"))
        listed = {}
        for line in files[record_name].decode().splitlines():
            path, digest, size = line.rsplit(",", 2)
            listed[path] = (digest, size)
        assert set(listed) == set(files), name
        for path, content in files.items():
            if path == record_name:
                continue
            expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
            assert listed[path] == (expected, str(len(content))), (name, path)


def test_project_wheel_carries_the_packages_and_their_data(built):
    wheel = next(d for n, d in members(built.path.read_bytes()).items() if "synth_humans-" in n)
    files = members(wheel)
    for package in ("synth_core", "blender_addon"):
        for path in (ROOT / package).rglob("*.py"):
            assert path.relative_to(ROOT).as_posix() in files, path
    for data in ("synth_core/data/default_body.npz", "synth_core/data/assets_manifest.json",
                 "synth_core/data/photos/brick.png", "synth_core/data/photos/rocket.jpg",
                 "blender_addon/shaders/sh.osl"):
        assert files[data] == (ROOT / data).read_bytes(), data
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]


def test_repacked_binary_wheels_hold_the_installed_files(built):
    """Pillow's and OpenEXR's wheels: byte for byte the files pip installed here."""
    for name, data in members(built.path.read_bytes()).items():
        if name.startswith(("wheels/pillow-", "wheels/openexr-")):
            files = {path: content for path, content in members(data).items() if ".dist-info/" not in path}
            assert len(files) > 1
            for path, content in files.items():
                assert (SITE_PACKAGES / path).read_bytes() == content, path


@pytest.mark.parametrize("tag", ["manylinux_2_28_x86_64", "manylinux2014_aarch64", "win_amd64", "win_arm64",
                                 "macosx_11_0_arm64", "macosx_10_9_x86_64", "macosx_10_9_universal2",
                                 "linux_x86_64", "musllinux_1_2_x86_64", "any"])
def test_platform_names_agree_with_blenders(tag):
    theirs = {"any"} if tag == "any" else set(blender_ext_module().blender_platforms_from_wheel_platform(tag))
    assert blender_platforms(tag) == theirs


def fake_wheel(folder: Path, filename: str) -> Path:
    name, version = filename.split("-")[:2]
    data = make_wheel(name, version, {f"{name}/__init__.py": b""},
                      {"METADATA": f"Name: {name}\nVersion: {version}\n".encode(), "WHEEL": b"Wheel-Version: 1.0\n"})
    path = folder / filename
    path.write_bytes(data)
    return path


def test_wheel_dir_adds_platforms_every_binary_package_covers(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    fake_wheel(wheels, "pillow-13.0.0-cp311-cp311-win_amd64.whl")
    only_pillow = build_extension(tmp_path / "a", wheels)
    assert only_pillow.platforms == ("linux-x64",)  # OpenEXR has no Windows wheel yet
    fake_wheel(wheels, "openexr-3.5.3-cp311-cp311-win_amd64.whl")
    both = build_extension(tmp_path / "b", wheels)
    assert both.platforms == ("linux-x64", "windows-x64")
    manifest = tomllib.loads(members(both.path.read_bytes())["blender_manifest.toml"].decode())
    assert "./wheels/openexr-3.5.3-cp311-cp311-win_amd64.whl" in manifest["wheels"]


@pytest.mark.parametrize("filename, content, message", [
    ("notes.txt", b"hello", "is not a wheel: expected a file named"),
    ("broken-1.0-py3-none-any.whl", b"not a zip", "not a zip with a *.dist-info/WHEEL"),
    ("numpy-1.26.4-cp311-cp311-win_amd64.whl", None, "comes with Blender"),
])
def test_bad_wheel_dirs_are_refused_by_name_and_leave_nothing(tmp_path, filename, content, message):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    if content is None:
        fake_wheel(wheels, filename)
    else:
        (wheels / filename).write_bytes(content)
    result = CliRunner().invoke(cli, ["addon", "build", "--out", str(tmp_path / "out"), "--wheel-dir", str(wheels)])
    flat = result.output.replace("\n", "")  # rich wraps long lines
    assert result.exit_code == 1
    assert message in flat and filename in flat
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_missing_distribution_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(addon_package, "BUNDLED_DISTRIBUTIONS", ("Pillow", "surely-not-installed-xyz"))
    result = CliRunner().invoke(cli, ["addon", "build", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "surely-not-installed-xyz is not installed" in result.output.replace("\n", "")
    assert not list(tmp_path.glob("*.zip"))


def test_addon_help_teaches():
    output = CliRunner().invoke(cli, ["addon", "--help"], terminal_width=120).output
    for text in ("synth addon build", "--wheel-dir", "synth addon install --blender", "Install from Disk",
                 "numpy comes with", "pip download"):
        assert text in output, text


# --- numpy-only despeckling (Blender has no scipy) ----------------------------------------------

@pytest.mark.parametrize("shape", [(48, 64), (7, 5), (3, 3)])
def test_despeckle_helpers_equal_scipy(shape):
    from scipy import ndimage

    from blender_addon.render.passes import dilate_cross, gaussian_blur

    rng = np.random.default_rng(sum(shape))
    mask = rng.uniform(size=shape) > 0.9
    for iterations in (1, 2, 3):
        assert np.array_equal(dilate_cross(mask, iterations), ndimage.binary_dilation(mask, iterations=iterations))
    image = rng.uniform(size=shape).astype(np.float32)
    for sigma in (0.7, 1.5):
        np.testing.assert_allclose(gaussian_blur(image, sigma), ndimage.gaussian_filter(image, sigma), atol=1e-6)


def test_despeckle_shadow_equals_the_scipy_formulation():
    from scipy import ndimage

    from blender_addon.render import passes

    rng = np.random.default_rng(7)
    alpha = np.where(rng.uniform(size=(48, 64)) < 0.05, rng.uniform(0, 0.1, (48, 64)), 0.0).astype(np.float32)
    alpha[30:40, 10:30] = 0.6  # a cast shadow
    segmentation = np.zeros((48, 64), np.float32)
    segmentation[5:25, 20:30] = 3.0
    shadow_only = ~ndimage.binary_dilation(segmentation > 0, iterations=passes.SHADOW_BODY_REACH_PX)
    weight = ndimage.gaussian_filter(shadow_only.astype(np.float32), passes.SHADOW_SIGMA_PX)
    total = ndimage.gaussian_filter(np.where(shadow_only, alpha, 0.0).astype(np.float32), passes.SHADOW_SIGMA_PX)
    average = total / np.maximum(weight, 1e-6)
    keep = np.clip(average / passes.SHADOW_KEEP_ALPHA, 0.0, 1.0)
    expected = np.where(shadow_only, keep * alpha + (1.0 - keep) * average, alpha)
    np.testing.assert_allclose(passes.despeckle_shadow(alpha, segmentation), expected, atol=1e-6)


# --- assets inside Blender ----------------------------------------------------------------------

@pytest.fixture
def blender_datafiles(tmp_path):
    """A Blender datafiles folder holding links to the bpy module's HDRIs."""
    source = SITE_PACKAGES / "bpy" / "5.0" / "datafiles" / "studiolights" / "world"
    folder = tmp_path / "datafiles"
    (folder / "studiolights" / "world").mkdir(parents=True)
    for path in source.glob("*.exr"):
        (folder / "studiolights" / "world" / path.name).symlink_to(path)
    yield folder
    assets.use_blender_datafiles(None)


def test_blender_datafiles_hook_moves_the_hdris_and_keeps_the_pool(blender_datafiles):
    cli_pool = background_pool()
    assets.use_blender_datafiles(blender_datafiles)
    assert assets.resolve(assets.get_asset("hdri/city")) == blender_datafiles / "studiolights/world/city.exr"
    assert assets.resolve(assets.get_asset("photo/brick")).is_relative_to(ROOT / "synth_core")  # bundled
    assert background_pool() == cli_pool


def test_inside_blender_a_missing_background_is_an_error_not_a_smaller_pool(blender_datafiles):
    (blender_datafiles / "studiolights" / "world" / "forest.exr").unlink()
    assets.use_blender_datafiles(blender_datafiles)
    with pytest.raises(BackgroundError, match="hdri/forest"):
        background_pool()


# --- installed in Blender -----------------------------------------------------------------------

def emulated_blender_site(folder: Path) -> Path:
    """bpy and numpy alone, as a Blender binary has them."""
    folder.mkdir()
    for name in ("bpy", "numpy", "numpy.libs"):
        if (SITE_PACKAGES / name).exists():
            (folder / name).symlink_to(SITE_PACKAGES / name)
    return folder


def without_wheel(zip_path: Path, prefix: str, out: Path) -> Path:
    """The zip with one wheel left out of it and of its manifest."""
    files = members(zip_path.read_bytes())
    dropped = [name for name in files if name.startswith(f"wheels/{prefix}")]
    assert dropped
    manifest = tomllib.loads(files["blender_manifest.toml"].decode())
    manifest["wheels"] = [w for w in manifest["wheels"] if not w.startswith(f"./{dropped[0]}")]
    files = {name: data for name, data in files.items() if name not in dropped}
    files["blender_manifest.toml"] = addon_package._toml(manifest).encode()
    out.write_bytes(addon_package.deterministic_zip(files))
    return out


def run_in_emulated_blender(zip_path: Path, tmp_path: Path) -> dict:
    site = emulated_blender_site(tmp_path / "site")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    env.pop("PYTHONPATH", None)
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-I", "-S", str(SCRIPT), str(site), str(zip_path), str(report),
                             str(tmp_path / "clip"), str(SEED), json.dumps(OPTIONS)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert report.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(report.read_text())


@pytest.mark.slow
def test_installed_extension_samples_the_cli_plan_and_renders_like_the_cli(built, tmp_path):
    from synth_cli.commands.render import run_worker
    from synth_core.dataset import read_clip
    from synth_core.scene.plan import PlanOptions, sample_plan

    report = run_in_emulated_blender(built.path, tmp_path)
    assert "error" not in report, report.get("error")
    assert report["importable_before"] == []  # nothing but bpy and numpy until the extension is in
    assert report["enabled"] and report["unregistered_classes"] == []
    assert {"PIL", "OpenEXR", "synth_core", "blender_addon"} <= set(report["importable_after"])
    assert not {"scipy", "skimage", "synth_cli"} & set(report["importable_after"])
    assert Path(report["synth_core_file"]).is_relative_to(tmp_path / "user" / "extensions")
    assert report["declared_datafiles"] == report["datafiles"]
    assert Path(report["city_hdri"]).is_relative_to(report["datafiles"])
    plan = sample_plan(SEED, PlanOptions.from_dict(OPTIONS))
    assert report["pool"] == background_pool()
    assert report["plan"] == json.loads(plan.to_json())
    run_worker(plan, tmp_path / "cli_clip")
    extension, reference = read_clip(tmp_path / "clip"), read_clip(tmp_path / "cli_clip")
    assert extension.n_frames == reference.n_frames == OPTIONS["n_frames"]
    for frame in range(reference.n_frames):
        ours, theirs = extension.frame(frame), reference.frame(frame)
        assert sorted(ours) == sorted(theirs)
        for name in theirs:
            assert np.array_equal(ours[name], theirs[name]), (frame, name)


@pytest.mark.slow
def test_extension_without_the_pillow_wheel_fails_in_blender(built, tmp_path):
    """The check above can fail: leave Pillow out and Blender has no PIL to give the add-on."""
    report = run_in_emulated_blender(without_wheel(built.path, "pillow-", tmp_path / "no_pillow.zip"), tmp_path)
    assert "PIL" not in report["importable_after"]
    assert "error" in report and "PIL" in report["error"]


# --- synth addon install ------------------------------------------------------------------------

FAKE_BLENDER = """#!{python}
# Stands in for a Blender binary: runs Blender's own `--command extension` handler through bpy.
import sys
if sys.argv[1:3] != ["--command", "extension"]:
    sys.exit("fake blender: expected --command extension, got %r" % sys.argv[1:])
import bpy
from bl_pkg import bl_extension_cli
sys.exit(bl_extension_cli.cli_extension_handler(sys.argv[3:]))
"""


@pytest.mark.slow
def test_install_runs_blenders_installer_and_enables_the_extension(built, tmp_path):
    blender = tmp_path / "blender"
    blender.write_text(FAKE_BLENDER.format(python=sys.executable))
    blender.chmod(0o755)
    user = tmp_path / "user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
    # No ZIP given: the command builds one (the same bytes as `built`), then installs it.
    result = CliRunner(env=env).invoke(cli, ["addon", "install", "--blender", str(blender)])
    assert result.exit_code == 0, result.output
    installed = user / "extensions" / "user_default" / "synth_humans"
    assert (installed / "blender_manifest.toml").read_bytes() == members(built.path.read_bytes())["blender_manifest.toml"]
    wheels_site = user / "extensions" / ".local" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (wheels_site / "synth_core" / "data" / "photos" / "brick.png").is_file()
    assert (wheels_site / "PIL").is_dir()
    # The bpy module starts on factory preferences: read the saved ones as a Blender start would.
    check = subprocess.run([sys.executable, "-c", "import bpy; bpy.ops.wm.read_userpref(); "
                            "print('bl_ext.user_default.synth_humans' in bpy.context.preferences.addons)"],
                           capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert check.stdout.strip().splitlines()[-1] == "True", check.stdout + check.stderr  # saved as enabled


def test_install_without_blender_names_the_option(tmp_path, built):
    result = CliRunner(env={"PATH": str(tmp_path)}).invoke(cli, ["addon", "install", str(built.path)])
    assert result.exit_code == 1 and "--blender PATH" in result.output.replace("\n", "")
    result = CliRunner().invoke(cli, ["addon", "install", "--blender", str(tmp_path / "nope"), str(built.path)])
    assert result.exit_code == 1 and "no such file" in result.output.replace("\n", "")


def test_install_reports_blenders_failure(tmp_path, built):
    blender = tmp_path / "blender"
    blender.write_text("#!/bin/sh\necho 'Error: cannot install' >&2\nexit 3\n")
    blender.chmod(0o755)
    result = CliRunner().invoke(cli, ["addon", "install", "--blender", str(blender), str(built.path)])
    assert result.exit_code == 1
    assert "exit code 3" in result.output and "cannot install" in result.output

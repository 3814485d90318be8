"""`synth addon`: the Blender add-on as a Blender extension (build the zip, install it)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from synth_cli.builders.addon_package import AddonPackageError, BuiltExtension, blender_platforms, build_extension

# Blender's own command line for installing an extension file into the user's repository and
# enabling it (`blender --command extension install-file --help`); --command runs in the background.
INSTALL_ARGS = ("--command", "extension", "install-file", "--repo", "user_default", "--enable")


@click.group()
def addon() -> None:
    """The Blender add-on, packaged as a Blender extension (Blender 4.2 or newer; tested on 5.0.1).

    \b
    synth addon build                      # dist/synth_humans-0.1.0.zip for this platform
    synth addon build --out DIR --wheel-dir wheels/   # + other platforms' wheels
    synth addon install                    # build, then install into `blender` on PATH
    synth addon install --blender /opt/blender/blender dist/synth_humans-0.1.0.zip

    The zip carries synth_core, the add-on, Pillow and OpenEXR as wheels (numpy comes with
    Blender); install it in Blender with Edit > Preferences > Get Extensions > Install from Disk,
    or with `synth addon install`. Wheels for other platforms (Blender's Python is 3.11):
    `pip download --only-binary=:all: --python-version 3.11 --platform win_amd64 --no-deps
    -d wheels Pillow OpenEXR`, then `synth addon build --wheel-dir wheels`.
    """


@addon.command("build")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("dist"),
              show_default=True, help="Folder to write the extension zip into.")
@click.option("--wheel-dir", type=click.Path(path_type=Path), default=None,
              help="Folder of extra wheels to bundle (e.g. Pillow and OpenEXR for other platforms).")
def build(out_dir: Path, wheel_dir: Path | None) -> None:
    """Build the extension zip (deterministic: the same inputs give the same bytes)."""
    started = time.perf_counter()
    built = build_extension(out_dir, wheel_dir)
    _summary(built, time.perf_counter() - started)


@addon.command("install")
@click.argument("zip_path", metavar="[ZIP]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--blender", "blender", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The Blender executable (default: `blender` on PATH).")
def install(zip_path: Path | None, blender: Path | None) -> None:
    """Install the extension into Blender's user repository and enable it (builds the zip
    first when none is given). Runs `BLENDER --command extension install-file --repo
    user_default --enable ZIP`, Blender's own installer, which saves the preferences."""
    executable = _blender_executable(blender)
    if zip_path is not None and not zip_path.is_file():
        raise AddonPackageError(f"extension zip {zip_path} not found; build one with `synth addon build`")
    with tempfile.TemporaryDirectory(prefix="synth-addon-") as scratch:
        if zip_path is None:
            built = build_extension(Path(scratch))
            _summary(built, None)
            zip_path = built.path
        command = [str(executable), *INSTALL_ARGS, str(zip_path.resolve())]
        Console().print(f"Running: {escape(' '.join(command))}", highlight=False)
        result = subprocess.run(command, capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise AddonPackageError(f"Blender could not install {zip_path.name} (exit code {result.returncode}):\n"
                                + "\n".join(output.splitlines()[-20:]))
    Console().print(escape(output), highlight=False)
    Console().print(f"[green]Installed and enabled[/] synth_humans in {escape(str(executable))}", highlight=False)


def _blender_executable(blender: Path | None) -> Path:
    if blender is not None:
        if not blender.is_file():
            raise AddonPackageError(f"--blender {blender}: no such file")
        return blender
    found = shutil.which("blender")
    if found is None:
        raise AddonPackageError("no `blender` on PATH: give the Blender executable with --blender PATH "
                                "(Blender 4.2 or newer)")
    return Path(found)


def _summary(built: BuiltExtension, seconds: float | None) -> None:
    console = Console()
    took = f" in {seconds:.1f} s" if seconds is not None else ""
    console.print(f"Wrote [bold]{escape(str(built.path))}[/] ({built.size / 1e6:.1f} MB){took}", highlight=False)
    console.print(f"  platforms: {', '.join(built.platforms) or 'any'}", highlight=False)
    for wheel in built.wheels:
        runs_on = ", ".join(sorted(blender_platforms(wheel.platform_tag)))
        console.print(f"  wheels/{escape(wheel.filename)}  {len(wheel.data) / 1e6:.1f} MB  ({runs_on}; "
                      f"from {escape(wheel.origin)})", highlight=False, soft_wrap=True)

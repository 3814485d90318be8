"""The Blender extension zip (`synth addon build`): what Blender's "Install from Disk" takes.

Layout (Blender's extension format, schema 1.0.0)::

    blender_manifest.toml   blender_addon/blender_manifest.toml + ``wheels`` + ``platforms``
    __init__.py             a shim: ``from blender_addon import register, unregister``
    wheels/synth_humans-<version>-py3-none-any.whl   synth_core + blender_addon, with their data
    wheels/pillow-...whl, wheels/openexr-...whl      repacked from this Python's installed copies
    wheels/...                                       any wheels of ``--wheel-dir`` (other platforms)

Blender installs the wheels into its own site-packages, so the packages keep their names:
absolute imports (``blender_addon.scene``) and package-relative data (``synth_core/data``)
work as in a pip install. numpy is not carried: Blender ships it (a second copy would shadow
Blender's). Nothing is downloaded: the project wheel is written here and the binary ones are
rebuilt from the installed files listed in each distribution's RECORD (checked against its
hashes). The zip is deterministic (sorted entries, fixed timestamps) and written atomically.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tomllib
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from synth_core.errors import SynthError

EXTENSION_ID = "synth_humans"
PROJECT_DISTRIBUTION = "synth-humans"
ADDON_PACKAGES = ("synth_core", "blender_addon")
# What the add-on's packages read at run time besides code (pyproject.toml's package-data).
PACKAGE_FILE_SUFFIXES = (".py", ".npz", ".json", ".png", ".jpg", ".osl", ".toml")
BUNDLED_DISTRIBUTIONS = ("Pillow", "OpenEXR")  # imported by synth_core; Blender lacks them
PROVIDED_BY_BLENDER = ("numpy",)
MANIFEST_NAME = "blender_manifest.toml"
SHIM = ('"""Synth Humans as a Blender extension: the add-on lives in the blender_addon package\n'
        'of the bundled synth_humans wheel (wheels/), installed by Blender next to its modules."""\n\n'
        "from blender_addon import register, unregister  # noqa: F401\n")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same inputs give the same bytes
# Wheel platform tag -> Blender's platform names (os part, machine part).
_OS_PREFIXES = (("manylinux", "linux"), ("musllinux", "linux"), ("linux", "linux"),
                ("macosx", "macos"), ("win", "windows"))
_MACHINES = (("x86_64", ("x64",)), ("amd64", ("x64",)), ("aarch64", ("arm64",)), ("arm64", ("arm64",)),
             ("universal2", ("x64", "arm64")))


class AddonPackageError(SynthError):
    """The extension cannot be built or installed (missing distribution, bad wheel, no Blender)."""


@dataclass(frozen=True)
class Wheel:
    filename: str
    data: bytes
    origin: str  # where it came from, for the summary

    @property
    def distribution(self) -> str:
        return normalized_name(self.filename.split("-")[0])

    @property
    def platform_tag(self) -> str:
        return self.filename[:-len(".whl")].split("-")[-1]


@dataclass(frozen=True)
class BuiltExtension:
    path: Path
    size: int
    wheels: tuple[Wheel, ...]
    platforms: tuple[str, ...]


def normalized_name(name: str) -> str:
    """A distribution name as wheel file names spell it (PEP 503 + underscores)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def blender_platforms(platform_tag: str) -> set[str]:
    """Blender platforms (``linux-x64``, ``macos-arm64``, ...) a wheel platform tag runs on;
    ``any`` runs everywhere (returned as {"any"}). A compressed tag set (``a.b``) is the union."""
    if platform_tag == "any":
        return {"any"}
    found = set()
    for tag in platform_tag.split("."):
        system = next((name for prefix, name in _OS_PREFIXES if tag.startswith(prefix)), None)
        machines = next((names for suffix, names in _MACHINES if tag.endswith(suffix)), ())
        found |= {f"{system}-{machine}" for machine in machines} if system else set()
    return found


def build_extension(out_dir: Path, wheel_dir: Path | None = None) -> BuiltExtension:
    """Write ``<out_dir>/synth_humans-<version>.zip``; returns what it holds."""
    wheels = {wheel.filename: wheel for wheel in [project_wheel()] + installed_wheels(BUNDLED_DISTRIBUTIONS)}
    for wheel in extra_wheels(wheel_dir) if wheel_dir is not None else []:
        wheels[wheel.filename] = wheel  # a downloaded wheel of the same name replaces our repack
    ordered = tuple(sorted(wheels.values(), key=lambda wheel: wheel.filename))
    platforms = extension_platforms(ordered)
    manifest = extension_manifest(ordered, platforms)
    files = {MANIFEST_NAME: manifest.encode(), "__init__.py": SHIM.encode()}
    files.update({f"wheels/{wheel.filename}": wheel.data for wheel in ordered})
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{EXTENSION_ID}-{tomllib.loads(manifest)['version']}.zip"
    write_atomically(path, deterministic_zip(files))
    return BuiltExtension(path, path.stat().st_size, ordered, platforms)


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def deterministic_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


# --- wheels -------------------------------------------------------------------------------------

def record_hash(data: bytes) -> str:
    """A RECORD hash field: ``sha256=`` + urlsafe base64 without padding (the wheel spec)."""
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(name: str, version: str, files: dict[str, bytes], dist_info: dict[str, bytes]) -> bytes:
    """A wheel holding ``files`` and ``<name>-<version>.dist-info/<dist_info>`` (which must hold
    METADATA and WHEEL), with a fresh RECORD."""
    info_dir = f"{normalized_name(name)}-{version}.dist-info"
    contents = dict(files)
    contents.update({f"{info_dir}/{key}": value for key, value in dist_info.items()})
    record = "".join(f"{path},{record_hash(data)},{len(data)}\n" for path, data in sorted(contents.items()))
    contents[f"{info_dir}/RECORD"] = (record + f"{info_dir}/RECORD,,\n").encode()
    return deterministic_zip(contents)


def project_wheel() -> Wheel:
    """synth_core and blender_addon, from wherever they are imported (a checkout or a wheel)."""
    import synth_core

    files = {}
    for package in ADDON_PACKAGES:
        root = _package_root(package)
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root.parent)
            if path.is_file() and path.suffix in PACKAGE_FILE_SUFFIXES and "__pycache__" not in relative.parts:
                files[relative.as_posix()] = path.read_bytes()
    version = synth_core.__version__
    dist_info = {
        "METADATA": (f"Metadata-Version: 2.1\nName: {PROJECT_DISTRIBUTION}\nVersion: {version}\n"
                     "Summary: synth_core and blender_addon, packaged for the Blender extension\n"
                     "Requires-Dist: numpy\nRequires-Dist: Pillow\nRequires-Dist: OpenEXR\n").encode(),
        "WHEEL": ("Wheel-Version: 1.0\nGenerator: synth addon build\nRoot-Is-Purelib: true\n"
                  "Tag: py3-none-any\n").encode(),
    }
    filename = f"{normalized_name(PROJECT_DISTRIBUTION)}-{version}-py3-none-any.whl"
    return Wheel(filename, make_wheel(PROJECT_DISTRIBUTION, version, files, dist_info), "this project")


def _package_root(package: str) -> Path:
    module = __import__(package)
    return Path(module.__file__).resolve().parent


def installed_wheels(names: tuple[str, ...]) -> list[Wheel]:
    return [repacked_wheel(name) for name in names]


def repacked_wheel(name: str) -> Wheel:
    """The wheel an installed distribution came from, rebuilt from its files (RECORD) and its
    dist-info; files outside site-packages (scripts) and byte-code are left out."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError as exc:
        raise AddonPackageError(f"{name} is not installed in this Python, and the add-on needs it inside "
                                f"Blender: pip install {name} (then build again)") from exc
    version = dist.version
    info_dir = f"{normalized_name(dist.metadata['Name'])}-{version}.dist-info"
    files, dist_info = {}, {}
    for entry in dist.files or []:
        posix = entry.as_posix()
        if posix.startswith("..") or "__pycache__" in entry.parts or posix.endswith(".pyc"):
            continue
        data = Path(dist.locate_file(entry)).read_bytes()
        if entry.hash is not None and record_hash(data) != f"{entry.hash.mode}={entry.hash.value}":
            raise AddonPackageError(f"{name}: installed file {posix} differs from its RECORD; "
                                    f"reinstall it (pip install --force-reinstall {name})")
        inside_info = entry.parts[0].endswith(".dist-info")
        if inside_info:
            relative = "/".join(entry.parts[1:])
            if relative not in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                dist_info[relative] = data
        else:
            files[posix] = data
    if "WHEEL" not in dist_info:
        raise AddonPackageError(f"{name} {version} was not installed from a wheel (no {info_dir}/WHEEL)")
    tag = wheel_tag(dist_info["WHEEL"].decode())
    filename = f"{normalized_name(dist.metadata['Name'])}-{version}-{tag}.whl"
    return Wheel(filename, make_wheel(dist.metadata["Name"], version, files, dist_info), f"installed {name}")


def wheel_tag(wheel_file: str) -> str:
    """``py-abi-platform`` of a wheel's file name from the ``Tag:`` lines of its WHEEL file."""
    tags = [line.split(":", 1)[1].strip().split("-") for line in wheel_file.splitlines()
            if line.startswith("Tag:")]
    if not tags:
        raise AddonPackageError("WHEEL file without a Tag line")
    return "-".join(".".join(dict.fromkeys(tag[i] for tag in tags)) for i in range(3))


def extra_wheels(wheel_dir: Path) -> list[Wheel]:
    """Every file of ``wheel_dir``, each a wheel (e.g. other platforms' Pillow and OpenEXR)."""
    if not wheel_dir.is_dir():
        raise AddonPackageError(f"--wheel-dir {wheel_dir} is not a folder")
    wheels = []
    for path in sorted(wheel_dir.iterdir()):
        if path.name.startswith("."):
            continue
        wheel = Wheel(path.name, path.read_bytes() if path.is_file() else b"", f"{wheel_dir}")
        _check_wheel(path, wheel)
        wheels.append(wheel)
    return wheels


def _check_wheel(path: Path, wheel: Wheel) -> None:
    parts = path.name[:-len(".whl")].split("-") if path.name.endswith(".whl") else []
    if not 5 <= len(parts) <= 6:
        raise AddonPackageError(f"{path} is not a wheel: expected a file named "
                                "<name>-<version>-<python>-<abi>-<platform>.whl")
    try:
        with zipfile.ZipFile(io.BytesIO(wheel.data)) as archive:
            has_wheel_file = any(re.fullmatch(r"[^/]+\.dist-info/WHEEL", name) for name in archive.namelist())
    except zipfile.BadZipFile:
        has_wheel_file = False
    if not has_wheel_file:
        raise AddonPackageError(f"{path} is not a wheel: not a zip with a *.dist-info/WHEEL file")
    if wheel.distribution in PROVIDED_BY_BLENDER:
        raise AddonPackageError(f"{path}: {wheel.distribution} comes with Blender; a second copy would "
                                "shadow Blender's own. Remove it from --wheel-dir")


def extension_platforms(wheels: tuple[Wheel, ...]) -> tuple[str, ...]:
    """The Blender platforms every binary distribution has a wheel for (empty: all platforms)."""
    per_distribution: dict[str, set[str]] = {}
    for wheel in wheels:
        platforms = blender_platforms(wheel.platform_tag)
        if "any" not in platforms:
            per_distribution.setdefault(wheel.distribution, set()).update(platforms)
    if not per_distribution:
        return ()
    common = set.intersection(*per_distribution.values())
    if not common:
        raise AddonPackageError(
            "no platform has a wheel of every binary package: "
            + "; ".join(f"{name}: {sorted(found)}" for name, found in sorted(per_distribution.items())))
    return tuple(sorted(common))


# --- manifest -----------------------------------------------------------------------------------

def extension_manifest(wheels: tuple[Wheel, ...], platforms: tuple[str, ...]) -> str:
    """The add-on's blender_manifest.toml with the bundled wheels and their platforms."""
    template = _package_root("blender_addon") / MANIFEST_NAME
    fields = tomllib.loads(template.read_text())
    fields["wheels"] = [f"./wheels/{wheel.filename}" for wheel in wheels]
    if platforms:
        fields["platforms"] = list(platforms)
    header = f"# Written by `synth addon build` from blender_addon/{MANIFEST_NAME}.\n"
    return header + _toml(fields)


def _toml(fields: dict) -> str:
    """Top-level strings and lists of strings, then tables of them (all a manifest needs)."""
    plain = [f"{key} = {_toml_value(value)}\n" for key, value in fields.items() if not isinstance(value, dict)]
    tables = [f"\n[{key}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in value.items())
              for key, value in fields.items() if isinstance(value, dict)]
    return "".join(plain + tables)


def _toml_value(value) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for these (ASCII, JSON escapes)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "[" + ", ".join(json.dumps(item) for item in value) + "]"
    raise AddonPackageError(f"{MANIFEST_NAME}: unsupported value {value!r}")

"""The asset manifest (``synth_core/data/assets_manifest.json``): what every asset is, where it
lives, its licence.

Locations come in two kinds:

- ``package``: a file inside an installed Python package (``package`` + ``path``), found with
  importlib without importing the package. This project's own files ship as package data
  (the default body in ``synth_core/data``, the shader in ``blender_addon/shaders``), so a
  wheel install finds them as an editable one does; others come in third-party wheels, e.g.
  the CC0 HDRIs in bpy's;
- ``user``: a licensed asset the user installs. Its folder comes from the environment
  variable named in ``env`` or, failing that, from key ``config_key`` of the ``[assets]``
  table in the config file (``$SYNTH_CONFIG``, default ``~/.config/synth/config.toml``).
  ``path`` is the file inside that folder ("" for the folder itself); ``alternatives``
  lists other accepted file names.

Free assets carry ``sha256`` and ``size``; licensed ones cannot (releases differ) and are
checked for presence instead.

Inside a Blender binary, ``bpy`` is Blender's own package, not the pip module whose folder holds
Blender's data files: the add-on calls :func:`use_blender_datafiles` with
``bpy.utils.system_resource('DATAFILES')`` when it is enabled, and files of package ``bpy``
under ``<version>/datafiles/`` (the HDRIs) are then looked up there. It also makes
:func:`synth_core.backgrounds.background_pool` refuse an incomplete pool, so a plan sampled in
Blender is the CLI's plan or an error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from synth_core.errors import AssetError

MANIFEST_PATH = Path(__file__).resolve().parent / "data" / "assets_manifest.json"
DEFAULT_CONFIG_PATH = Path.home() / ".config" / "synth" / "config.toml"


@dataclass(frozen=True)
class Asset:
    id: str
    kind: str
    licence: str
    source: str
    location: dict
    free: bool
    sha256: str | None = None
    size: int | None = None
    how_to_get: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AssetStatus:
    asset: Asset
    path: Path | None
    ok: bool
    problem: str = ""


def load_manifest(path: Path | None = None) -> list[Asset]:
    """Parse the manifest (default :data:`MANIFEST_PATH`); errors name the entry and the field."""
    path = path or MANIFEST_PATH
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise AssetError(f"asset manifest not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise AssetError(f"asset manifest {path} is not valid JSON: {exc}") from exc
    assets, seen = [], set()
    for index, entry in enumerate(raw.get("assets", [])):
        try:
            asset = Asset(
                id=entry["id"], kind=entry["kind"], licence=entry["licence"], source=entry["source"],
                location=entry["location"], free=bool(entry["free"]), sha256=entry.get("sha256"),
                size=entry.get("size"), how_to_get=entry.get("how_to_get", ""),
                extra={k: v for k, v in entry.items() if k not in Asset.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise AssetError(f"{path}: asset entry {index} lacks field {exc}") from exc
        if asset.id in seen:
            raise AssetError(f"{path}: duplicate asset id '{asset.id}'")
        if asset.free and not (asset.sha256 and asset.size):
            raise AssetError(f"{path}: free asset '{asset.id}' needs sha256 and size")
        seen.add(asset.id)
        assets.append(asset)
    return assets


def get_asset(asset_id: str, manifest: list[Asset] | None = None) -> Asset:
    for asset in manifest or load_manifest():
        if asset.id == asset_id:
            return asset
    raise AssetError(f"unknown asset '{asset_id}'")


def user_asset_dir(location: dict) -> Path | None:
    """Folder of a licensed asset: its environment variable, else the config file, else None."""
    env_value = os.environ.get(location.get("env", ""), "")
    if env_value:
        return Path(env_value).expanduser()
    config_path = Path(os.environ.get("SYNTH_CONFIG", DEFAULT_CONFIG_PATH)).expanduser()
    if config_path.is_file():
        try:
            config = tomllib.loads(config_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise AssetError(f"config file {config_path} is not valid TOML: {exc}") from exc
        value = config.get("assets", {}).get(location.get("config_key", ""))
        if value:
            return Path(value).expanduser()
    return None


BLENDER_DATAFILES_MARKER = "/datafiles/"  # a bpy package path "5.0/datafiles/<file>"
_blender_datafiles: list[Path] = []  # set by the add-on inside Blender (use_blender_datafiles)


def use_blender_datafiles(folder: str | Path | None) -> None:
    """Running inside Blender: resolve bpy's data files in ``folder`` (Blender's datafiles);
    None: back to the bpy package's folder."""
    _blender_datafiles[:] = [] if folder is None else [Path(folder)]


def blender_datafiles() -> Path | None:
    """Blender's datafiles folder if the add-on declared one (see the module doc), else None."""
    return _blender_datafiles[0] if _blender_datafiles else None


def package_dir(package: str) -> Path | None:
    """Install folder of a package, found without importing it (bpy is slow to import)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve(asset: Asset) -> Path | None:
    """Where the asset should be on this machine (it may not exist), or None if unknown."""
    location = asset.location
    kind = location.get("type")
    if kind == "package":
        inside = location["path"].partition(BLENDER_DATAFILES_MARKER)[2]
        if location["package"] == "bpy" and inside and blender_datafiles() is not None:
            return blender_datafiles() / inside
        root = package_dir(location["package"])
        return None if root is None else root / location["path"]
    if kind == "user":
        folder = user_asset_dir(location)
        if folder is None:
            return None
        for name in [location.get("path", "")] + location.get("alternatives", []):
            if (folder / name).exists():
                return folder / name
        return folder / location.get("path", "")
    raise AssetError(f"asset '{asset.id}': unknown location type {kind!r}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check(asset: Asset) -> AssetStatus:
    """Is the asset present, of the right size and checksum?"""
    path = resolve(asset)
    if path is None:
        where = (f"set ${asset.location.get('env')} or '{asset.location.get('config_key')}' in the "
                 "[assets] table of the config file" if asset.location.get("type") == "user"
                 else f"install the '{asset.location.get('package')}' package")
        return AssetStatus(asset, None, False, f"location unknown: {where}")
    if not path.exists():
        return AssetStatus(asset, path, False, f"not found at {path}")
    if path.is_dir():
        if asset.extra.get("pattern") and not any(path.rglob(asset.extra["pattern"])):
            return AssetStatus(asset, path, False, f"no {asset.extra['pattern']} files under {path}")
        return AssetStatus(asset, path, True)
    if asset.size is not None and path.stat().st_size != asset.size:
        return AssetStatus(asset, path, False, f"size {path.stat().st_size} bytes, expected {asset.size}")
    if asset.sha256 is not None and sha256_of(path) != asset.sha256:
        return AssetStatus(asset, path, False, "sha256 mismatch (corrupt or a different version)")
    return AssetStatus(asset, path, True)


def require(asset_id: str) -> Path:
    """Path of an asset that must be present and intact; AssetError says how to get it."""
    status = check(get_asset(asset_id))
    if not status.ok:
        raise AssetError(f"asset '{asset_id}': {status.problem}. {status.asset.how_to_get}".strip())
    return status.path


def update_entry(asset_id: str, path: Path, manifest_path: Path | None = None) -> None:
    """Record a rebuilt file's size and checksum in the manifest (atomic rewrite)."""
    manifest_path = manifest_path or MANIFEST_PATH
    raw = json.loads(manifest_path.read_text())
    for entry in raw["assets"]:
        if entry["id"] == asset_id:
            entry["sha256"], entry["size"] = sha256_of(path), path.stat().st_size
            break
    else:
        raise AssetError(f"unknown asset '{asset_id}'")
    tmp = manifest_path.with_name(manifest_path.name + ".tmp")
    tmp.write_text(json.dumps(raw, indent=2) + "\n")
    tmp.replace(manifest_path)

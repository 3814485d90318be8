"""The asset manifest and `synth assets list|verify`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from synth_core import assets
from synth_core.body.catalog import load_body_model
from synth_core.errors import AssetError
from synth_cli.main import cli
from tests.conftest import make_smpl_arrays, write_pkl


def test_manifest_lists_free_and_licensed_assets():
    manifest = assets.load_manifest()
    ids = {a.id for a in manifest}
    assert {"body/default", "shader/sh", "body/smpl-neutral", "body/smpl-male", "body/smpl-female",
            "motion/amass", "texture/surreal", "background/lsun"} <= ids
    assert sum(a.kind == "hdri" for a in manifest) == 8
    assert sum(a.kind == "background_photo" for a in manifest) >= 5
    for asset in manifest:
        assert asset.licence and asset.source and asset.how_to_get
        if not asset.free:
            assert asset.location["type"] == "user" and asset.location["env"].startswith("SYNTH_")


def test_every_free_asset_is_present_and_intact():
    for asset in assets.load_manifest():
        if asset.free:
            status = assets.check(asset)
            assert status.ok, (asset.id, status.problem)
            # Independent of check(): the recorded checksum is the file's.
            assert assets.sha256_of(status.path) == asset.sha256


def test_corrupt_asset_is_reported(tmp_path, monkeypatch):
    copy = tmp_path / "shaders" / "sh.osl"
    copy.parent.mkdir()
    copy.write_text("shader broken() {}\n")
    real = assets.package_dir
    monkeypatch.setattr(assets, "package_dir", lambda name: tmp_path if name == "blender_addon" else real(name))
    status = assets.check(assets.get_asset("shader/sh"))
    assert not status.ok and "size" in status.problem
    with pytest.raises(AssetError, match="asset 'shader/sh': size"):
        assets.require("shader/sh")


def test_licensed_smpl_found_through_env_and_config(tmp_path, monkeypatch):
    write_pkl(tmp_path / "basicmodel_f_lbs_10_207_0_v1.1.0.pkl", make_smpl_arrays(num_vertices=500))
    assert not assets.check(assets.get_asset("body/smpl-female")).ok
    monkeypatch.setenv("SYNTH_SMPL_DIR", str(tmp_path))
    status = assets.check(assets.get_asset("body/smpl-female"))
    assert status.ok and status.path.name.startswith("basicmodel_f")
    load_body_model.cache_clear()
    assert load_body_model("smpl", "female").num_vertices == 500

    monkeypatch.delenv("SYNTH_SMPL_DIR")
    config = tmp_path / "config.toml"
    config.write_text(f'[assets]\nsmpl_dir = "{tmp_path}"\n')
    monkeypatch.setenv("SYNTH_CONFIG", str(config))
    assert assets.check(assets.get_asset("body/smpl-female")).ok
    config.write_text("[assets\nbroken")
    with pytest.raises(AssetError, match="not valid TOML"):
        assets.check(assets.get_asset("body/smpl-female"))
    load_body_model.cache_clear()


def test_verify_cli_reports_missing_licensed_assets_and_passes(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps table cells at the terminal width
    result = CliRunner().invoke(cli, ["assets", "verify"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "body/smpl-neutral" in result.output and "SYNTH_SMPL_DIR" in result.output
    assert "'smpl_dir' in the [assets] table" in " ".join(result.output.split())  # not eaten as markup
    strict = CliRunner().invoke(cli, ["assets", "verify", "--strict"], terminal_width=200)
    assert strict.exit_code == 1


def test_verify_cli_fails_on_a_corrupt_free_asset(tmp_path, monkeypatch):
    raw = json.loads(assets.MANIFEST_PATH.read_text())
    for entry in raw["assets"]:
        if entry["id"] == "hdri/forest":
            entry["sha256"] = "0" * 64
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps(raw))
    monkeypatch.setattr(assets, "MANIFEST_PATH", bad)
    result = CliRunner().invoke(cli, ["assets", "verify"], terminal_width=200)
    assert result.exit_code == 1
    assert "hdri/forest" in result.output and "sha256 mismatch" in result.output


def test_malformed_manifest(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(AssetError, match="not valid JSON"):
        assets.load_manifest(path)
    path.write_text(json.dumps({"assets": [{"id": "x", "kind": "hdri"}]}))
    with pytest.raises(AssetError, match="entry 0 lacks field"):
        assets.load_manifest(path)


def test_list_cli():
    result = CliRunner().invoke(cli, ["assets", "list", "--kind", "hdri"], terminal_width=200)
    assert result.exit_code == 0 and "hdri/sunset" in result.output and "CC0" in result.output
    assert np.sum(["hdri/" in line for line in result.output.splitlines()]) == 8
    wide = CliRunner().invoke(cli, ["assets", "list", "--kind", "background_photo"], env={"COLUMNS": "400"})
    astronaut = next(line for line in wide.output.splitlines() if "photo/astronaut" in line)
    assert "not a background: a portrait of a person" in astronaut

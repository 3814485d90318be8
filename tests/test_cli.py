"""The `synth` command line: help everywhere, the body preview, user errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import trimesh
from click.testing import CliRunner

from synth_core.body.catalog import load_body_model
from synth_cli.main import cli

COMMANDS = [[], ["assets"], ["assets", "list"], ["assets", "verify"], ["assets", "build-default-body"],
            ["body"], ["body", "preview"], ["render"], ["preview"], ["export"], ["texture"], ["texture", "transfer"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "synth")
def test_every_command_has_help(command):
    result = CliRunner().invoke(cli, command + ["--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "synth_cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "assets" in result.stdout


def test_body_preview_writes_mesh_files_and_png(tmp_path):
    result = CliRunner().invoke(cli, ["body", "preview", "--out", str(tmp_path), "--gender", "male",
                                      "--height", "1.80", "--weight", "0.3"])
    assert result.exit_code == 0, result.output
    assert "previews the body model" in " ".join(result.output.split())
    model = load_body_model("default")
    rest = trimesh.load(tmp_path / "body_rest.obj", process=False)  # splits UV seams
    assert len(np.unique(np.round(rest.vertices, 6), axis=0)) == model.num_vertices
    assert rest.visual.uv is not None and len(rest.faces) == len(model.faces)
    assert abs(np.ptp(rest.vertices[:, 1]) - 1.80) < 2e-3  # the requested height
    posed = trimesh.load(tmp_path / "body_posed_parts.ply", process=False)
    np.testing.assert_array_equal(posed.faces, model.faces)
    assert len(np.unique(posed.visual.vertex_colors[:, :3], axis=0)) == 24
    png = (tmp_path / "body_preview.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    assert not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("args, message", [
    (["--height", "3.5"], "outside what this description reaches"),
    (["--weight", "enormous"], "unknown weight level"),
    (["--source", "smpl"], "SYNTH_SMPL_DIR"),
])
def test_user_errors_are_one_line_and_exit_1(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["body", "preview", "--out", str(tmp_path)] + args)
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_bad_choice_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["body", "preview", "--out", str(tmp_path), "--gender", "robot"])
    assert result.exit_code == 2 and "robot" in result.output


def test_debug_flag_shows_the_exception(tmp_path):
    result = CliRunner().invoke(cli, ["--debug", "body", "preview", "--out", str(tmp_path), "--height", "3.5"])
    assert result.exit_code == 1 and result.exception is not None

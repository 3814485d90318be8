"""The add-on's artist UI (blender_addon/ui): registration, panels drawn into a layout recorder,
every operator on Blender's default scene, and a clip rendered from the UI equal bit for bit to
the CLI worker's render of the same plan.

The Blender checks run in a fresh process each (tests/blender_scripts/addon_ui.py), as the
other Blender tests do: building a scene resets Blender's whole state."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from synth_cli.commands.render import run_worker
from synth_core.dataset import read_clip
from synth_core.scene.plan import PASSES, ScenePlan
from tests.conftest import run_blender_check

ROOT = Path(__file__).resolve().parents[1]
UI_MODULES = sorted((ROOT / "blender_addon" / "ui").rglob("*.py"))


def run_check(check: str, *args) -> str:
    return run_blender_check("addon_ui", check, *args)


def test_register_and_unregister_cleanly_twice():
    run_check("register")


def test_every_panel_draws_only_real_properties_and_operators_and_every_setting():
    run_check("panels")


def test_layout_recorder_fails_on_misspelt_names():
    output = run_check("misspelt")
    assert output.count("caught:") == 4


def test_settings_defaults_and_ranges_are_what_a_plan_accepts():
    run_check("ranges")


@pytest.mark.slow  # builds scenes and renders a clip in Blender twice
def test_every_operator_on_the_default_scene_and_ui_render_equals_cli_render(tmp_path):
    """Sample scene, sample SH, export -> import (same plan JSON), a bad plan file refused,
    render clip; then the exported plan rendered by the CLI's worker gives the same pixels on
    every pass and the same annotations."""
    run_check("operators", str(tmp_path))
    plan = ScenePlan.from_json((tmp_path / "plan.json").read_text())
    assert (plan.render["width"], plan.render["height"], plan.motion["n_frames"]) == (64, 48, 1)
    run_worker(plan, tmp_path / "cli" / f"clip_{plan.seed:08d}")
    addon = read_clip(tmp_path / "addon" / f"clip_{plan.seed:08d}")
    cli = read_clip(tmp_path / "cli" / f"clip_{plan.seed:08d}")
    assert addon.n_frames == cli.n_frames == 1
    frame_addon, frame_cli = addon.frame(0), cli.frame(0)
    assert sorted(frame_addon) == sorted(frame_cli) == sorted(PASSES)
    assert (frame_addon["segmentation"] > 0).sum() > 50  # the body is in view
    for name in PASSES:
        assert np.array_equal(frame_addon[name], frame_cli[name]), name
    for key, value in cli.annotations.items():
        assert np.array_equal(addon.annotations[key], value), key
    assert addon.meta["plan"] == cli.meta["plan"] == plan.to_dict()


@pytest.mark.slow  # builds a scene in Blender
def test_an_enabled_addon_survives_building_a_scene():
    run_check("enabled")


def test_headless_worker_never_imports_the_ui():
    code = ("import sys, blender_addon.worker, blender_addon.scene, blender_addon.render.passes; "
            "print(sorted(m for m in sys.modules if m.startswith('blender_addon')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "blender_addon.worker" in result.stdout and "blender_addon.ui" not in result.stdout
    # Nor does any module outside the UI but the add-on's register() name it.
    for path in sorted((ROOT / "blender_addon").rglob("*.py")):
        if "ui" in path.relative_to(ROOT / "blender_addon").parts or path.name == "__init__.py" and \
                path.parent.name == "blender_addon":
            continue
        assert "blender_addon.ui" not in path.read_text() and "from .ui" not in path.read_text(), path


def test_ui_builds_no_scene_of_its_own():
    """The UI creates no Blender data and resets no file: scenes come from blender_addon.scene."""
    for path in UI_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("new", "read_factory_settings", "read_homefile"):
                raise AssertionError(f"{path.name}:{node.lineno} calls {ast.unparse(node)}")

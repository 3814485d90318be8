"""Checks of the add-on's Ground truth panel inside Blender (run as a script by
tests/test_addon_ground_truth.py), each in a fresh process:

    python addon_ground_truth.py frame OUT_DIR     Render This Frame at the timeline's frame 1
    python addon_ground_truth.py modal OUT_DIR     Render Clip: execute(), then the modal steps
    python addon_ground_truth.py cancel OUT_DIR    Render Clip: Esc after one modal step
    python addon_ground_truth.py bad_input OUT_DIR

Each writes what pytest compares with the CLI's clip into OUT_DIR and prints "OK <check>".
"""

import json
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bpy  # noqa: E402

import blender_addon  # noqa: E402
from addon_ui import LayoutRecorder  # noqa: E402

TIMER = SimpleNamespace(type="TIMER", value="NOTHING")
ESC = SimpleNamespace(type="ESC", value="PRESS")


def sample_tiny_scene(frames: int) -> None:
    """Sample Scene at 64 x 48, 1 sample; the plan's RGB stored as PNG (lossless: comparable
    bit for bit). Writes nothing."""
    blender_addon.register()
    settings = bpy.context.scene.synth
    settings.seed, settings.width, settings.height, settings.samples, settings.frames = 5, 64, 48, 1, frames
    assert bpy.ops.synth.sample_scene() == {"FINISHED"}
    settings = bpy.context.scene.synth
    plan = json.loads(settings.plan_json)
    plan["render"]["rgb_format"] = "png"
    settings.plan_json = json.dumps(plan)


def image_rgb(image) -> np.ndarray:
    """An image's pixels as H x W x 3 uint8, row 0 on top."""
    width, height = image.size
    rgba = np.empty(width * height * 4, dtype=np.float32)
    image.pixels.foreach_get(rgba)
    return np.round(rgba.reshape(height, width, 4)[::-1, :, :3] * 255).astype(np.uint8)


def check_frame(out_dir: Path) -> None:
    from blender_addon.scene import built_scene_in
    from blender_addon.ui.operators.common import plan_to_write
    from blender_addon.ui.operators.ground_truth import PASSES_IMAGE
    from blender_addon.worker import render_frame

    sample_tiny_scene(frames=3)
    bpy.context.scene.frame_set(1)
    assert bpy.ops.synth.render_frame() == {"FINISHED"}
    np.save(out_dir / "sheet.npy", image_rgb(bpy.data.images[PASSES_IMAGE]))
    plan = plan_to_write(bpy.context.scene.synth)
    (out_dir / "plan.json").write_text(plan.to_json())
    assert bpy.context.scene.render.use_border is False, "the frame render left its border on the scene"
    # The worker's frame function itself, on the scene the operator updated in place.
    (out_dir / "work").mkdir()
    _, arrays = render_frame(plan, 1, out_dir / "work", previous=built_scene_in(bpy.context.scene, plan))
    np.savez(out_dir / "frame.npz", **arrays)


def start_modal(out_dir: Path, reports: list):
    """A stand-in for the operator Blender makes when the button's file browser confirms; its
    execute's first part (checks, scene, clip folder started)."""
    from blender_addon.ui.operators.ground_truth import begin_clip

    operator = SimpleNamespace(directory=str(out_dir), interactive=True,
                               report=lambda kind, message: reports.append((sorted(kind)[0], message)))
    assert begin_clip(operator, bpy.context), reports
    return operator


def draw_ground_truth_panel() -> dict:
    from blender_addon.ui.panels.ground_truth import VIEW3D_PT_synth_ground_truth

    class Recorder(LayoutRecorder):
        def progress(self, factor=0.0, type="BAR", text=""):
            assert 0 <= factor <= 1 and text
            self.drawn.setdefault("progress", []).append(factor)

    layout = Recorder()
    VIEW3D_PT_synth_ground_truth.draw(SimpleNamespace(layout=layout), bpy.context)
    return layout.drawn


def check_modal(out_dir: Path) -> None:
    from blender_addon.ui.operators.ground_truth import ClipProgress, SYNTH_OT_render_clip

    from blender_addon.ui.operators.common import plan_to_write

    sample_tiny_scene(frames=2)
    bpy.context.scene.frame_set(1)  # the timeline's frame: a clip renders all of its frames
    before = bpy.context.scene.synth.plan_json
    (out_dir / "plan.json").write_text(plan_to_write(bpy.context.scene.synth).to_json())
    assert bpy.ops.synth.render_clip(directory=str(out_dir / "execute")) == {"FINISHED"}
    assert "progress" not in draw_ground_truth_panel()
    reports = []
    operator = start_modal(out_dir / "modal", reports)
    progress = [draw_ground_truth_panel()["progress"]]
    results = []
    while (result := SYNTH_OT_render_clip.modal(operator, bpy.context, TIMER)) == {"RUNNING_MODAL"}:
        results.append(result)
        progress.append(draw_ground_truth_panel()["progress"])
        assert SYNTH_OT_render_clip.modal(operator, bpy.context, SimpleNamespace(type="MOUSEMOVE", value="NOTHING")) \
            == {"PASS_THROUGH"}
    assert result == {"FINISHED"}, reports
    # 2 frames, RGB + labels each: a step renders one frame, or one pass of it (OSL shading
    # renders every frame's RGB first).
    factors = [factor for (factor,) in progress]
    steps = np.diff(factors)
    assert factors[0] == 0 and factors[-1] == 1 and np.all((steps == 0.25) | (steps == 0.5)), factors
    assert ClipProgress.out is None and "progress" not in draw_ground_truth_panel()
    assert reports[-1][0] == "INFO" and "Rendered" in reports[-1][1], reports
    assert json.loads(bpy.context.scene.synth.plan_json) == json.loads(before)
    print(json.dumps({"ticks": len(results) + 1}))


def check_cancel(out_dir: Path) -> None:
    from blender_addon.ui.operators.ground_truth import ClipProgress, SYNTH_OT_render_clip
    from blender_addon.ui.properties import snapshot

    sample_tiny_scene(frames=3)
    settings = snapshot(bpy.context.scene.synth)
    reports = []
    operator = start_modal(out_dir / "cancel", reports)
    assert SYNTH_OT_render_clip.modal(operator, bpy.context, TIMER) == {"RUNNING_MODAL"}
    assert any((out_dir / "cancel").iterdir()), "no partial clip folder while rendering"
    assert SYNTH_OT_render_clip.modal(operator, bpy.context, ESC) == {"CANCELLED"}
    assert reports[-1][0] == "WARNING" and "cancelled" in reports[-1][1], reports
    left = sorted(path.name for path in (out_dir / "cancel").iterdir())
    assert not left, f"cancelling left {left}"
    assert ClipProgress.out is None and "progress" not in draw_ground_truth_panel()
    assert snapshot(bpy.context.scene.synth) == settings, "cancelling changed the scene's settings"
    assert bpy.context.scene.render.use_border is False


def expect_error(call, text: str) -> None:
    try:
        call()
    except RuntimeError as exc:  # bpy.ops raises an operator's ERROR report, and a poll's message
        assert text in str(exc) and "Traceback" not in str(exc), exc
        print("refused:", str(exc).splitlines()[0])
    else:
        raise AssertionError(f"no error containing {text!r}")


def check_bad_input(out_dir: Path) -> None:
    from blender_addon.ui.properties import plan_options
    from synth_core.scene.plan import sample_plan

    blender_addon.register()
    settings = bpy.context.scene.synth
    expect_error(lambda: bpy.ops.synth.render_frame(), "no plan yet")
    expect_error(lambda: bpy.ops.synth.render_clip(directory=str(out_dir)), "no plan yet")
    settings.seed, settings.width, settings.height, settings.samples, settings.frames = 5, 64, 48, 1, 1
    plan = sample_plan(5, plan_options(settings))
    settings.plan_json = plan.to_json()  # a plan, no scene built for it: nothing may be built either
    existing = out_dir / f"clip_{plan.seed:08d}"
    existing.mkdir()
    expect_error(lambda: bpy.ops.synth.render_clip(directory=str(out_dir)), f"{existing} already exists")
    expect_error(lambda: bpy.ops.synth.render_clip(directory=""), "choose a folder")
    settings.pass_rgb = settings.pass_depth = settings.pass_segmentation = False
    settings.pass_flow_forward = settings.pass_flow_backward = settings.pass_normals = False
    expect_error(lambda: bpy.ops.synth.render_frame(), "no pass chosen")
    assert "Body" not in bpy.data.objects and settings.plan_json == plan.to_json()
    assert sorted(path.name for path in out_dir.iterdir()) == [existing.name]
    settings.plan_json = replace(plan, render={**plan.render, "width": 8}).to_json()  # past the plan's limits
    settings.pass_rgb = True
    expect_error(lambda: bpy.ops.synth.render_frame(), "width")


def main(argv) -> None:
    checks = {"frame": check_frame, "modal": check_modal, "cancel": check_cancel, "bad_input": check_bad_input}
    checks[argv[0]](Path(argv[1]))
    print("OK", argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])

"""The add-on's Ground truth panel: Render This Frame gives the CLI clip's frame bit for bit and
shows every pass side by side; Render Clip's modal steps give the same clip as execute(), Esc
leaves no clip folder; bad input is refused by name. The pass colourings (synth_core.visualize,
shared with `synth preview`) against independent computations.

The Blender checks run in a fresh process each (tests/blender_scripts/addon_ground_truth.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synth_core.body.parts import part_palette
from synth_core.dataset import format as fmt
from synth_core.scene.plan import PASSES, ScenePlan
from synth_core.visualize import TITLE_PX, depth_to_colour, pass_sheet, turbo_table
from tests.conftest import run_blender_check



def run_check(check: str, *args) -> str:
    return run_blender_check("addon_ground_truth", check, *args)


def cli_clip(plan: ScenePlan, out_dir: Path):
    from synth_cli.commands.render import run_worker
    from synth_core.dataset import read_clip

    run_worker(plan, out_dir / f"clip_{plan.seed:08d}")
    return read_clip(out_dir / f"clip_{plan.seed:08d}")


def labels_of_colours(tile: np.ndarray) -> np.ndarray:
    """Part labels back from palette colours (every colour of the palette is distinct)."""
    palette = part_palette()
    assert len({tuple(colour) for colour in palette}) == len(palette)
    codes = (tile.astype(np.int64) * [65536, 256, 1]).sum(axis=-1)
    palette_codes = (palette.astype(np.int64) * [65536, 256, 1]).sum(axis=-1)
    order = np.argsort(palette_codes)
    found = np.searchsorted(palette_codes[order], codes)
    assert np.all(palette_codes[order][np.minimum(found, len(order) - 1)] == codes), "a colour not in the palette"
    return order[found]


@pytest.mark.slow  # renders a frame in the add-on and a 3-frame clip with the CLI's worker
def test_render_this_frame_equals_the_cli_clip_frame_and_shows_every_pass(tmp_path):
    run_check("frame", tmp_path)
    plan = ScenePlan.from_json((tmp_path / "plan.json").read_text())
    assert (plan.render["width"], plan.render["height"], plan.motion["n_frames"]) == (64, 48, 3)
    cli = cli_clip(plan, tmp_path / "cli").frame(1)  # the timeline was at frame 1
    frame = dict(np.load(tmp_path / "frame.npz"))
    assert sorted(frame) == sorted(cli) == sorted(PASSES)
    assert (cli["segmentation"] > 0).sum() > 50  # the body is in view
    for name in PASSES:  # as the clip stores them: label passes quantised by the format
        stored = frame[name] if name == "rgb" else fmt.decode_label(name, fmt.encode_label(name, 1, frame[name], 48, 64))
        assert stored.dtype == cli[name].dtype and np.array_equal(stored, cli[name]), name

    # The image the operator made: one tile per pass, side by side, each the frame enlarged 3x
    # (64 px -> 192 px, at least 160) under a title band.
    sheet = np.load(tmp_path / "sheet.npy")
    scale, height, width = 3, 48, 64
    assert sheet.shape == (TITLE_PX + height * scale, len(PASSES) * width * scale, 3)
    tiles = [sheet[TITLE_PX:, i * width * scale:(i + 1) * width * scale] for i in range(len(PASSES))]
    for tile in tiles:  # nearest-neighbour enlargement: every 3x3 block one colour
        assert np.array_equal(tile, np.repeat(np.repeat(tile[::scale, ::scale], scale, 0), scale, 1))
    tiles = dict(zip(PASSES, (tile[::scale, ::scale] for tile in tiles)))
    assert np.array_equal(tiles["rgb"], cli["rgb"])
    assert np.array_equal(labels_of_colours(tiles["segmentation"]), cli["segmentation"])
    background = cli["depth"] == 0
    assert np.all(tiles["depth"][background] == 0) and np.all(tiles["depth"][~background].any(axis=-1))
    normals = np.round(np.clip((cli["normals"].astype(np.float64) + 1) / 2, 0, 1) * 255)
    assert np.abs(tiles["normals"][~background] - normals[~background]).max() <= 1
    for name in ("flow_forward", "flow_backward"):  # still pixels are white, moving ones coloured
        still = np.all(cli[name] == 0, axis=-1)
        assert np.all(tiles[name][still] == 255) and not np.all(tiles[name][~still] == 255), name


@pytest.mark.slow  # renders a 2-frame clip twice in Blender, and once with the CLI's worker
def test_modal_render_clip_steps_give_the_same_clip_as_execute_and_the_cli(tmp_path):
    from synth_core.dataset import read_clip

    run_check("modal", tmp_path)
    plan = ScenePlan.from_json((tmp_path / "plan.json").read_text())
    cli = cli_clip(plan, tmp_path / "cli")
    addon = read_clip(tmp_path / "execute" / f"clip_{plan.seed:08d}")
    assert addon.n_frames == cli.n_frames == 2
    for index in range(2):  # every frame, not the timeline's (frame 1) alone
        frame, expected = addon.frame(index), cli.frame(index)
        for name in PASSES:
            assert np.array_equal(frame[name], expected[name]), (index, name)
    for key, value in cli.annotations.items():
        assert np.array_equal(addon.annotations[key], value), key
    seed_dirs = [sorted((tmp_path / kind).iterdir()) for kind in ("execute", "modal")]
    assert [[path.name for path in dirs] for dirs in seed_dirs] == [["clip_00000005"]] * 2
    execute, modal = (dirs[0] for dirs in seed_dirs)
    files = sorted(path.relative_to(execute) for path in execute.rglob("*") if path.is_file())
    assert files == sorted(path.relative_to(modal) for path in modal.rglob("*") if path.is_file())
    assert len(files) > 5
    for name in files:
        assert (execute / name).read_bytes() == (modal / name).read_bytes(), name


@pytest.mark.slow  # builds a scene and renders a frame in Blender
def test_cancelling_the_modal_render_leaves_no_clip_and_the_settings(tmp_path):
    run_check("cancel", tmp_path)


def test_bad_input_is_refused_by_name(tmp_path):
    output = run_check("bad_input", tmp_path)
    assert output.count("refused:") == 6


def test_turbo_table_is_matplotlibs():
    from matplotlib import colormaps

    expected = np.round(np.asarray(colormaps["turbo"].colors) * 255).astype(np.uint8)
    assert np.array_equal(turbo_table(), expected)
    depth = np.concatenate([np.linspace(0.5, 5.5, 10_001), [0.0, 1.0, 5.0, 1.0 + 4 * 255.5 / 256]])
    mapped = colormaps["turbo"](np.clip((5.0 - depth) / 4.0, 0, 1))[:, :3]
    mapped[depth <= 0] = 0
    assert np.array_equal(depth_to_colour(depth, 1.0, 5.0), np.round(mapped * 255).astype(np.uint8))


def test_pass_sheet_tiles_are_the_passes_enlarged():
    rng = np.random.default_rng(1)
    segmentation = rng.integers(0, 25, (30, 40)).astype(np.uint8)
    rgb = rng.integers(0, 256, (30, 40, 3)).astype(np.uint8)
    sheet, boxes = pass_sheet({"segmentation": segmentation, "rgb": rgb})
    assert list(boxes) == ["segmentation", "rgb"]  # in the order given
    assert sheet.shape == (TITLE_PX + 30 * 4, 2 * 40 * 4, 3)  # 40 px -> 160 px: 4x
    left, right = sheet[TITLE_PX:, :160], sheet[TITLE_PX:, 160:]
    assert np.array_equal(right, np.kron(rgb, np.ones((4, 4, 1), dtype=np.uint8)))
    assert np.array_equal(labels_of_colours(left[1::4, 2::4]), segmentation)
    assert len(np.unique(sheet[:TITLE_PX].reshape(-1, 3), axis=0)) > 1  # the titles are drawn

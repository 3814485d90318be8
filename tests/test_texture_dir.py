"""`--texture-dir`: plans draw UV texture files from a folder, bad folders fail before rendering,
and the file's colours reach the rendered body pixels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from synth_core.errors import TextureError
from synth_core.imaging import srgb_to_linear
from synth_core.scene.plan import PlanOptions, sample_plan

SHORT = PlanOptions(n_frames=2, texture_size=64)


def _flat_texture(path, rgb, size=32):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), rgb, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def texture_folder(tmp_path):
    folder = tmp_path / "textures"
    for index in range(5):
        _flat_texture(folder / f"t{index}.png", (40 * index, 100, 200 - 30 * index))
    _flat_texture(folder / "sub" / "t5.jpg", (10, 20, 30))
    (folder / "notes.txt").write_text("not an image, ignored")
    _flat_texture(folder / ".hidden" / "t6.png", (1, 2, 3))   # hidden: skipped
    return folder


def test_gendered_folders_dress_each_body_in_its_gender(tmp_path):
    """SURREAL's layout: female/ and male/ folders, the gender also in the names ("male" is
    inside "female": words are matched, not substrings)."""
    folder = tmp_path / "textures"
    for gender in ("female", "male"):
        for index in range(3):
            _flat_texture(folder / gender / f"nongrey_{gender}_{index:04d}.jpg", (90, 90, 90))
    options = dataclasses.replace(SHORT, texture_dir=str(folder))
    plans = [sample_plan(seed, options) for seed in range(30)]
    genders = {plan.body["gender"] for plan in plans}
    assert genders == {"female", "male"}
    for plan in plans:
        assert Path(plan.texture["path"]).parent.name == plan.body["gender"], plan.texture["path"]


def test_plans_draw_every_file_of_the_folder_deterministically(texture_folder):
    options = dataclasses.replace(SHORT, texture_dir=str(texture_folder))
    expected = {str(p.resolve()) for p in texture_folder.rglob("t*.*") if ".hidden" not in p.parts}
    drawn = [sample_plan(seed, options).texture for seed in range(40)]
    assert all(t["kind"] == "file" for t in drawn)
    assert {t["path"] for t in drawn} == expected          # 40 draws over 6 files: all of them
    assert [sample_plan(seed, options).texture for seed in range(5)] == drawn[:5]
    # The texture's own stream: the rest of the plan is the procedural plan's.
    procedural, from_file = sample_plan(3, SHORT), sample_plan(3, options)
    assert procedural.body == from_file.body and procedural.camera == from_file.camera


def test_missing_folder_and_folder_without_images_are_refused(tmp_path):
    with pytest.raises(TextureError, match="texture folder not found: .*nowhere"):
        sample_plan(0, dataclasses.replace(SHORT, texture_dir=str(tmp_path / "nowhere")))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(TextureError, match="no texture images .* in texture folder .*empty"):
        sample_plan(0, dataclasses.replace(SHORT, texture_dir=str(empty)))


@pytest.mark.parametrize("name, make, message", [
    ("corrupt.png", lambda p: p.write_bytes(b"\x89PNG not really"), "not a readable image file"),
    ("wide.png", lambda p: Image.new("RGB", (64, 32)).save(p), "64 x 32 pixels; UV textures must be square"),
    ("tiny.png", lambda p: Image.new("RGB", (8, 8)).save(p), "8 x 8 pixels; the side must be 16..8192"),
    ("grey.png", lambda p: Image.new("L", (32, 32)).save(p), "must be an 8-bit RGB image, got mode 'L'"),
])
def test_bad_files_are_named_when_the_plan_is_sampled(tmp_path, name, make, message):
    folder = tmp_path / "textures"
    _flat_texture(folder / "good.png", (1, 2, 3))
    make(folder / name)
    with pytest.raises(TextureError, match=message) as info:
        sample_plan(0, dataclasses.replace(SHORT, texture_dir=str(folder)))
    assert name in str(info.value)


def test_truncated_file_fails_in_the_plan_that_draws_it(tmp_path):
    folder = tmp_path / "textures"
    path = folder / "cut.jpg"
    folder.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:3000])    # the header is intact, the data is not
    with pytest.raises(TextureError, match="cut.jpg: not a readable image file"):
        sample_plan(0, dataclasses.replace(SHORT, texture_dir=str(folder)))


def test_render_cli_refuses_a_bad_texture_folder_before_making_anything(tmp_path):
    from synth_cli.main import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "--n", "1", "--frames", "2", "--out", str(out),
                                      "--texture-dir", str(tmp_path / "missing")])
    assert result.exit_code == 1, result.output
    assert "texture folder not found" in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.slow  # one Blender render
def test_the_file_texture_colours_the_rendered_body(tmp_path):
    """A flat albedo under grey SH light: every lit body pixel has the albedo's chromaticity
    (linear R/G and B/G), which no procedural outfit (skin plus garments) has."""
    from synth_cli.commands.render import run_worker
    from synth_core.dataset import read_clip

    albedo = (60, 150, 90)
    folder = tmp_path / "textures"
    _flat_texture(folder / "green.png", albedo)
    options = PlanOptions(width=96, height=72, samples=2, n_frames=1, camera_distance_mean=3.5,
                          camera_distance_std=0.0, rgb_format="png", texture_dir=str(folder))
    plan = sample_plan(2, options)
    assert plan.texture == {"kind": "file", "path": str((folder / "green.png").resolve())}
    plan = dataclasses.replace(plan, lighting={"sh": [0.9, 0.1, 0.2, 0.1, 0, 0, 0, 0, 0]})
    run_worker(plan, tmp_path / "clip")
    frame = read_clip(tmp_path / "clip").frame(0, ["rgb", "segmentation"])
    body = frame["segmentation"] > 0
    inner = body & np.roll(body, 1, 0) & np.roll(body, -1, 0) & np.roll(body, 1, 1) & np.roll(body, -1, 1)
    linear = srgb_to_linear(frame["rgb"][inner].astype(np.float64) / 255.0)
    lit = linear[:, 1] > 0.02
    assert lit.sum() > 100
    ratios = linear[lit][:, [0, 2]] / linear[lit][:, 1:2]
    expected = srgb_to_linear(np.array(albedo) / 255.0)
    expected = expected[[0, 2]] / expected[1]
    error = np.abs(np.median(ratios, axis=0) - expected)
    print(f"median chromaticity {np.median(ratios, axis=0)}, albedo {expected}")
    assert np.all(error < 0.05), error


# --- SMPL bodies with SURREAL's UV layout (smpl_uv.obj) ------------------------------------------

def _small_smpl(num_vertices=300):
    """A small SMPL-format model (no UVs) with distinct, non-degenerate triangles."""
    from tests.conftest import make_smpl_arrays

    arrays = make_smpl_arrays(num_vertices=num_vertices)
    arrays["f"] = np.stack([np.arange(num_vertices - 2), np.arange(1, num_vertices - 1),
                            np.arange(2, num_vertices)], axis=1)
    return arrays


def _uv_obj(path, arrays, rng, shuffle=True):
    """An OBJ of the model's mesh with random per-corner UVs, its faces shuffled and their corners
    rotated (as another tool may write them); returns the UV of each model face's corners."""
    from synth_core.mesh_io import write_obj

    faces = arrays["f"]
    corner_uv = rng.uniform(0, 1, size=faces.shape + (2,))
    order = rng.permutation(len(faces)) if shuffle else np.arange(len(faces))
    shift = rng.integers(0, 3, size=len(faces)) if shuffle else np.zeros(len(faces), dtype=int)
    obj_faces = np.stack([np.roll(faces[i], s) for i, s in zip(order, shift)])
    obj_uv = np.stack([np.roll(corner_uv[i], s, axis=0) for i, s in zip(order, shift)])
    write_obj(path, arrays["v_template"], obj_faces, vt=obj_uv.reshape(-1, 2),
              ft=np.arange(obj_uv.shape[0] * 3).reshape(-1, 3))
    return corner_uv


@pytest.fixture
def smpl_dir(tmp_path, monkeypatch):
    from synth_core.body.catalog import load_body_model

    folder = tmp_path / "smpl"
    folder.mkdir()
    arrays = _small_smpl()
    np.savez(folder / "SMPL_NEUTRAL.npz", **arrays)
    monkeypatch.setenv("SYNTH_SMPL_DIR", str(folder))
    load_body_model.cache_clear()
    yield folder, arrays
    load_body_model.cache_clear()


def test_smpl_model_gets_the_uv_layout_of_smpl_uv_obj(smpl_dir):
    from synth_core.body.catalog import load_body_model

    folder, arrays = smpl_dir
    assert load_body_model("smpl", "neutral").data.vt is None      # not installed: no UVs
    load_body_model.cache_clear()
    corner_uv = _uv_obj(folder / "smpl_uv.obj", arrays, np.random.default_rng(1))
    data = load_body_model("smpl", "neutral").data
    assert data.ft.shape == data.faces.shape
    # Every corner of every model face carries the UV written for that corner (to the
    # 6 decimals of the OBJ), whatever the OBJ's face order and corner rotation.
    assert np.abs(data.vt[data.ft] - corner_uv).max() < 1e-6


@pytest.mark.parametrize("edit, message", [
    (lambda text: text.replace("vt ", "# vt "), "no 'vt' lines: the OBJ has no UV coordinates"),
    (lambda text: "v 0 0 0\n" + text, "UV mesh has 301 vertices and 298 faces, the body model .* has 300 and 298"),
    (lambda text: text.rsplit("\nf ", 1)[0] + "\n", "UV mesh has 300 vertices and 297 faces"),
    (lambda text: text.replace("f 1/", "f 5/", 1), "face .* is not in the UV file"),
    (lambda text: text + "f 1/1 2/2 3/3 4/4\n", "face with 4 corners; only triangles"),
    (lambda text: text + "f 1 2 3\n", "face without UV indices"),
    (lambda text: text + "vt nan-ish 0\n", "cannot parse 'vt nan-ish 0'"),
])
def test_bad_uv_files_are_refused_naming_the_problem(smpl_dir, edit, message):
    from synth_core.body.catalog import load_body_model
    from synth_core.errors import BodyModelFileError

    folder, arrays = smpl_dir
    path = folder / "smpl_uv.obj"
    _uv_obj(path, arrays, np.random.default_rng(2), shuffle=False)
    path.write_text(edit(path.read_text()))
    with pytest.raises(BodyModelFileError, match=message) as info:
        load_body_model("smpl", "neutral")
    assert "smpl_uv.obj" in str(info.value)


def test_texture_folder_with_smpl_needs_surreals_uv_layout(texture_folder):
    options = dataclasses.replace(SHORT, texture_dir=str(texture_folder), body_source="smpl")
    with pytest.raises(TextureError, match="--body smpl needs the UV layout .*smpl_uv.obj.*SYNTH_SMPL_DIR"):
        sample_plan(0, options)

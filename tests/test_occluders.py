"""Occluders (Doersch & Zisserman): the free bank is SLIC superpixels of the free images and
rebuilds bit for bit; an occluded frame's passes agree with each other (depth order, the card's
own flow checked by warping, normals, segmentation id, joint visibility); total occlusion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from synth_core.occluders import (DEFAULT_BANK, OCCLUDER_ID, OccluderBank, OccluderError, apply_occluders,
                                  card_layer, load_occluder_bank, sample_occluders, totally_occluded)

H, W = 60, 80


def test_the_free_bank_rebuilds_bit_for_bit_and_holds_single_superpixels(tmp_path):
    from synth_cli.builders.occluder_bank import build_bank

    committed = load_occluder_bank(DEFAULT_BANK)
    rebuilt = build_bank()
    assert rebuilt.save(tmp_path / "bank.npz").read_bytes() == DEFAULT_BANK.read_bytes()
    assert len(committed) == len(rebuilt) >= 100
    for a, b in zip(committed.patches, rebuilt.patches):
        assert np.array_equal(a, b)
    assert committed.sources == rebuilt.sources
    for patch in committed.patches:
        alpha = patch[..., 3]
        assert set(np.unique(alpha)) <= {0, 255}
        assert ndimage.label(alpha > 0)[1] == 1  # one blob
        assert alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any()  # cropped tight
        assert max(patch.shape[:2]) <= 96


def test_superpixels_are_slic_segments_of_their_image():
    """A patch cut from a synthetic image of flat colour regions is exactly one region."""
    from synth_cli.builders.occluder_bank import superpixel_patches

    image = np.zeros((240, 320, 3), dtype=np.uint8)
    image[:, :160] = (200, 40, 40)
    image[:120, 160:] = (40, 200, 40)
    image[120:, 160:] = (40, 40, 200)
    image[100:140, 60:100] = (230, 230, 30)  # a 40 x 40 square: 2% of the image
    patches = superpixel_patches(image, np.random.default_rng(0), per_view=20)
    assert patches
    for patch in patches:
        colours = np.unique(patch[patch[..., 3] > 0][:, :3], axis=0)
        assert len(colours) == 1, colours  # never across a colour edge
    square = [p for p in patches if tuple(p[p[..., 3] > 0][0, :3]) == (230, 230, 30)]
    assert square and square[0].shape[:2] == (40, 40) and square[0][..., 3].all()


def card(depth: float, centre=(40.0, 30.0), velocity=(3.0, -2.0), height=20.0) -> dict:
    return {"patch": 0, "height_px": height, "centre_px": list(centre), "velocity_px": list(velocity),
            "depth_m": depth, "flip": False}


def square_bank() -> OccluderBank:
    patch = np.zeros((10, 10, 4), dtype=np.uint8)
    patch[..., 0] = np.arange(10)[None] * 20  # a horizontal ramp: warping is checkable
    patch[..., 1] = np.arange(10)[:, None] * 20
    patch[..., 3] = 255
    return OccluderBank([patch], ["test"])


def person_frame() -> dict:
    """A 'person': a box at 5 m with part 3, flow (1, 0), normals +x; background elsewhere."""
    person = np.zeros((H, W), dtype=bool)
    person[10:50, 30:50] = True
    frame = {"rgb": np.full((H, W, 3), 90, dtype=np.uint8),
             "segmentation": np.where(person, 3, 0).astype(np.uint8),
             "depth": np.where(person, 5.0, 0.0).astype(np.float32),
             "flow_forward": np.where(person[..., None], [1.0, 0.0], 0.0).astype(np.float32),
             "flow_backward": np.where(person[..., None], [-1.0, 0.0], 0.0).astype(np.float32),
             "normals": np.where(person[..., None], [1.0, 0.0, 0.0], 0.0).astype(np.float32)}
    frame["rgb"][person] = (200, 150, 100)
    return frame


def test_a_card_in_front_overwrites_every_pass_consistently():
    bank, frame = square_bank(), person_frame()
    spec = {"cards": [card(2.0)], "total": None}
    apply_occluders(frame, spec, bank, 0, np.zeros((H, W, 3), np.uint8))
    mask, rgb = card_layer(spec["cards"][0], bank.patches[0], 0, H, W)
    assert mask.sum() == 400  # 20 x 20 px
    assert np.all(frame["segmentation"][mask] == OCCLUDER_ID) and np.all(frame["depth"][mask] == 2.0)
    assert np.array_equal(frame["rgb"][mask], rgb[mask])
    assert np.allclose(frame["normals"][mask], [0, 0, -1]) and np.allclose(frame["flow_forward"][mask], [3, -2])
    assert np.allclose(frame["flow_backward"][mask], [-3, 2])
    untouched = ~mask
    assert np.array_equal(frame["segmentation"][untouched], person_frame()["segmentation"][untouched])


def test_a_card_behind_the_person_shows_only_around_it():
    bank, frame = square_bank(), person_frame()
    spec = {"cards": [card(8.0)], "total": None}
    apply_occluders(frame, spec, bank, 0, np.zeros((H, W, 3), np.uint8))
    mask, _ = card_layer(spec["cards"][0], bank.patches[0], 0, H, W)
    person = person_frame()["segmentation"] > 0
    assert np.all(frame["segmentation"][mask & person] == 3) and np.all(frame["depth"][mask & ~person] == 8.0)


def test_card_flow_warps_each_frame_onto_the_next():
    """Forward-warping frame t's card pixels by their flow lands on frame t+1's card pixels of
    the same colour (and backward flow brings them back): an independent check of the flow."""
    bank = square_bank()
    spec = card(2.0, centre=(30.2, 25.7), velocity=(2.0, 1.0))
    mask0, rgb0 = card_layer(spec, bank.patches[0], 0, H, W)
    mask1, rgb1 = card_layer(spec, bank.patches[0], 1, H, W)
    ys, xs = np.nonzero(mask0)
    xs1, ys1 = xs + 2, ys + 1
    assert np.all(mask1[ys1, xs1]) and np.array_equal(rgb1[ys1, xs1], rgb0[ys, xs])
    assert mask0.sum() == mask1.sum()


def test_total_occlusion_removes_the_person_from_every_pass():
    bank, frame = square_bank(), person_frame()
    spec = {"cards": [], "total": {"start": 1, "frames": 2}}
    background = np.full((H, W, 3), 17, dtype=np.uint8)
    apply_occluders(frame, spec, bank, 1, background)
    assert not frame["segmentation"].any() and not frame["depth"].any() and not frame["flow_forward"].any()
    person = person_frame()["segmentation"] > 0
    assert np.all(frame["rgb"][person] == 17)
    assert totally_occluded(spec, 5).tolist() == [False, True, True, False, False]


def test_sampling_is_seeded_and_cards_cross_the_person():
    box = (90.0, 30.0, 110.0, 90.0)  # where the person is
    a = sample_occluders(np.random.default_rng(3), 4, 30, 320, 240, 4.0, bank_size=162, person_box_px=box)
    b = sample_occluders(np.random.default_rng(3), 4, 30, 320, 240, 4.0, bank_size=162, person_box_px=box)
    assert a == b and len(a["cards"]) == 4
    for c in a["cards"]:
        middle = np.asarray(c["centre_px"]) + np.asarray(c["velocity_px"]) * 14.5
        assert 90 <= middle[0] <= 110 and 30 <= middle[1] <= 90
        assert 0 < c["depth_m"] < 4.0 and 0 <= c["patch"] < 162


def test_bad_banks_are_refused(tmp_path):
    with pytest.raises(OccluderError, match="does not exist"):
        load_occluder_bank(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(OccluderError, match="not an occluder bank"):
        load_occluder_bank(tmp_path / "bad.npz")
    np.savez(tmp_path / "short.npz", pixels=np.zeros(10, np.uint8), shapes=np.array([[2, 2]]), sources=np.array(["x"]))
    with pytest.raises(OccluderError, match="do not agree"):
        load_occluder_bank(tmp_path / "short.npz")


def test_occluders_build_cli_from_a_folder(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from synth_cli.main import cli

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((120, 160, 3)) * 40 + np.linspace(0, 200, 160)[None, :, None]).astype(np.uint8)).save(
        images / "a.png")
    result = CliRunner().invoke(cli, ["occluders", "build", "--images", str(images), "--out", str(tmp_path / "b.npz")])
    assert result.exit_code == 0, result.output
    bank = load_occluder_bank(tmp_path / "b.npz")
    assert len(bank) >= 1 and all(source.endswith("a.png") for source in bank.sources)
    result = CliRunner().invoke(cli, ["occluders", "build", "--images", str(tmp_path / "none"), "--out", "x.npz"])
    assert result.exit_code != 0 and "not found" in result.output


@pytest.mark.slow  # renders a 4-frame clip in Blender
def test_a_rendered_clip_with_occluders_keeps_every_pass_consistent(tmp_path):
    """Checked from the written clip alone: occluder pixels agree across passes, their flow
    carries each card pixel onto the same colour next frame, joints under a nearer card are not
    visible, and a totally occluded frame has no person and no visible joint."""
    import dataclasses

    from synth_cli.commands.render import run_worker
    from synth_cli.commands.validate import frame_problems
    from synth_core.dataset import read_clip
    from synth_core.scene.plan import PlanOptions, sample_plan

    options = PlanOptions(width=96, height=72, samples=1, n_frames=4, shading="nodes", rgb_format="png",
                          texture_size=256, occluders=3, camera_distance_mean=4.0, camera_distance_std=0.0)
    plan = sample_plan(2, options)
    cards = [dict(card, centre_px=[48.0 - 10.0 + 8.0 * i, 36.0], velocity_px=[2.0, 1.0], height_px=30.0)
             for i, card in enumerate(plan.occluders["cards"])]  # over the person, moving
    plan = dataclasses.replace(plan, occluders={"cards": cards, "total": {"start": 3, "frames": 1}})
    run_worker(plan, tmp_path / "clip")
    clip = read_clip(tmp_path / "clip")
    a = clip.annotations
    assert a["totally_occluded"].tolist() == [False, False, False, True]
    depths = {card["depth_m"] for card in cards}
    hidden_joints = 0
    for t in range(3):
        frame = clip.frame(t)
        assert frame_problems(frame) == []
        card = frame["segmentation"] == OCCLUDER_ID
        distance = np.min([np.abs(frame["depth"][card] - d) for d in depths], axis=0)
        assert card.sum() > 100 and distance.max() <= 0.0006  # a card's own depth (stored in mm)
        assert np.allclose(frame["normals"][card], [0, 0, -1], atol=0.01)
        ys, xs = np.nonzero(card)
        flow = frame["flow_forward"][ys, xs]
        assert np.allclose(flow, [2.0, 1.0], atol=0.02)
        if t < 2:  # where the next frame still shows the card there (no other card or the person nearer)
            later = clip.frame(t + 1)
            x1, y1 = xs + 2, ys + 1
            inside = (x1 < 96) & (y1 < 72)
            same = inside & (later["segmentation"][np.minimum(y1, 71), np.minimum(x1, 95)] == OCCLUDER_ID)
            moved = later["rgb"][y1[same], x1[same]].astype(int) - frame["rgb"][ys[same], xs[same]].astype(int)
            assert np.mean(np.abs(moved).max(axis=1) == 0) > 0.9
        uv = np.rint(a["joints2d"][t]).astype(int)
        on_card = np.array([0 <= u < 96 and 0 <= v < 72 and card[v, u] and frame["depth"][v, u] + 0.15 <
                            a["joints3d_camera"][t, j, 2] for j, (u, v) in enumerate(uv)])
        assert not np.any(a["joints_visible"][t][on_card])
        hidden_joints += on_card.sum()
    assert hidden_joints > 0  # the cards did hide joints
    last = clip.frame(3)
    assert not np.any((last["segmentation"] > 0) & (last["segmentation"] <= 24))
    assert not a["joints_visible"][3].any()


def test_trainers_treat_occluder_pixels_as_not_the_person():
    from synth_core.body.parts import parts_to_classes14, person_mask
    from trainers.data.datasets import passes_needed

    parts = np.array([[0, 3, OCCLUDER_ID]])
    assert parts_to_classes14(parts).tolist() == [[0, 9, 0]]
    assert person_mask(parts).tolist() == [[False, True, False]]
    assert "segmentation" in passes_needed(("depth",))  # depth classes need to know the person's pixels
    from synth_core.visualize import segmentation_to_colour

    assert segmentation_to_colour(parts).tolist()[0][2] == [128, 128, 128]  # previews draw occluders grey
    with pytest.raises(ValueError, match="occluder"):
        parts_to_classes14(np.array([26]))


def test_a_bank_of_ones_own_is_used_by_plans_and_named_when_bad(tmp_path):
    from synth_core.errors import PlanError
    from synth_core.scene.plan import PlanOptions, ScenePlan, sample_plan

    patch = np.zeros((8, 8, 4), np.uint8)
    patch[..., 3] = 255
    bank = OccluderBank([patch], ["mine"]).save(tmp_path / "mine.npz")
    options = PlanOptions(width=64, height=48, n_frames=3, texture_size=64, occluders=4, occluder_bank=str(bank))
    plan = sample_plan(1, options)
    assert plan.occluders["bank"] == str(bank) and {c["patch"] for c in plan.occluders["cards"]} == {0}
    assert ScenePlan.from_json(plan.to_json()) == plan
    default = sample_plan(1, PlanOptions(width=64, height=48, n_frames=3, texture_size=64, occluders=4))
    assert "bank" not in default.occluders and len({c["patch"] for c in default.occluders["cards"]}) > 1
    broken = default.to_dict()
    broken["occluders"]["bank"] = str(bank)  # patch numbers past a one-patch bank
    with pytest.raises(PlanError, match="not a card of the occluder bank"):
        ScenePlan.from_dict(broken)
    with pytest.raises(OccluderError, match="does not exist"):
        sample_plan(1, PlanOptions(width=64, height=48, n_frames=3, occluders=1, occluder_bank=str(tmp_path / "x.npz")))

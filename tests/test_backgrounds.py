"""Backgrounds and colour helpers: sRGB, premultiplied over, image reading, pools, specs, plates."""

from __future__ import annotations

import json
import math

import numpy as np
import OpenEXR
import pytest
from PIL import Image

from synth_core import assets, backgrounds
from synth_core.backgrounds import (
    background_id, background_pool, load_background, sample_background_spec,
)
from synth_core.errors import BackgroundError
from synth_core.imaging import composite_over, linear_to_srgb_uint8, read_image, srgb_to_linear

# The free backgrounds that are scenes without people, as a person judged them by looking
# (issue 10); the manifest says why each other one is left out of the pool.
HDRI_IDS = ["hdri/city", "hdri/courtyard", "hdri/forest", "hdri/interior", "hdri/night",
            "hdri/studio", "hdri/sunrise"]
PHOTO_IDS = ["photo/brick", "photo/rocket"]
NOT_SCENES = ["hdri/sunset", "photo/astronaut", "photo/camera", "photo/chelsea", "photo/coffee",
              "photo/grass", "photo/gravel", "photo/hubble_deep_field"]
REC709 = np.array([0.2126, 0.7152, 0.0722])


def write_exr(path, channels: dict) -> None:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    OpenEXR.File(header, {name: np.ascontiguousarray(plane) for name, plane in channels.items()}).write(str(path))


def ramp_exr(path, height: int, width: int) -> None:
    """R = horizontal position, G = vertical position of each pixel centre, in (0, 1)."""
    cols, rows = np.meshgrid((np.arange(width) + 0.5) / width, (np.arange(height) + 0.5) / height)
    write_exr(path, {"R": cols.astype(np.float32), "G": rows.astype(np.float32),
                     "B": np.full((height, width), 0.5, np.float32)})


def spec_for(path, projection: str, crop: dict, flip: bool = False, exposure=None) -> dict:
    return {"id": f"file:{path}", "projection": projection, "crop": crop, "flip": flip,
            "exposure": exposure}


# --- sRGB and compositing ---------------------------------------------------------------------

def test_srgb_round_trips_every_code_value():
    codes = np.arange(256, dtype=np.uint8)
    linear = srgb_to_linear(codes)
    assert linear.dtype == np.float32
    assert np.all(np.diff(linear) > 0)
    np.testing.assert_array_equal(linear_to_srgb_uint8(linear), codes)


def test_srgb_matches_published_values():
    # IEC 61966-2-1 reference points: code 128 is 21.586 % linear; 18 % grey encodes to 118.
    assert srgb_to_linear(np.uint8(128)) == pytest.approx(0.2158605, abs=1e-6)
    assert srgb_to_linear(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
    assert linear_to_srgb_uint8(np.array([0.18, 0.5, 0.0031308])).tolist() == [118, 188, 10]
    below, above = srgb_to_linear(np.array([0.04045 - 1e-9, 0.04045 + 1e-9]))
    assert below == pytest.approx(above, abs=1e-6)  # the two pieces meet


def test_linear_to_srgb_clips_and_zeroes_nan():
    assert linear_to_srgb_uint8(np.array([-1.0, 2.0, np.nan, np.inf])).tolist() == [0, 255, 0, 255]


@pytest.mark.parametrize("coverage", [0.0, 1.0, 0.5])
def test_composite_over_is_premultiplied(coverage):
    rng = np.random.default_rng(1)
    colour = rng.uniform(0, 1, (4, 5, 3))
    background = rng.uniform(0, 1, (4, 5, 3))
    alpha = np.full((4, 5), coverage)
    out = composite_over(colour * coverage, alpha, background)
    expected = {0.0: background, 1.0: colour, 0.5: 0.5 * colour + 0.5 * background}[coverage]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert out.dtype == np.float32


def test_composite_over_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes disagree"):
        composite_over(np.zeros((4, 5, 3)), np.zeros((4, 4)), np.zeros((4, 5, 3)))


# --- reading images ---------------------------------------------------------------------------

def test_read_png_and_jpeg_decode_srgb(tmp_path):
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.png"), srgb_to_linear(rgb))

    grey = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    rgba = np.dstack([rgb, np.zeros((6, 7), np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "grey.png"), srgb_to_linear(np.dstack([grey] * 3)))
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png"), srgb_to_linear(rgb))

    Image.new("RGB", (16, 16), (200, 100, 50)).save(tmp_path / "flat.JPG", quality=95)
    jpeg = read_image(tmp_path / "flat.JPG")
    assert jpeg.shape == (16, 16, 3)
    np.testing.assert_allclose(jpeg, np.broadcast_to(srgb_to_linear(np.array([200, 100, 50], np.uint8)),
                                                     (16, 16, 3)), atol=0.01)


def test_read_16_bit_png(tmp_path):
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    image = read_image(tmp_path / "deep.png")
    np.testing.assert_allclose(image[0, :, 0], srgb_to_linear(values[0] / 65535.0), atol=1e-6)


@pytest.mark.parametrize("layout", ["rgb", "layer", "grey", "half"])
def test_read_exr_channel_layouts(tmp_path, layout):
    rng = np.random.default_rng(3)
    planes = rng.uniform(0, 8, (3, 5, 6)).astype(np.float32)
    if layout == "rgb":
        write_exr(tmp_path / "a.exr", dict(zip("RGB", planes)))
        expected = planes
    elif layout == "layer":  # Blender multilayer naming; the Combined layer wins over others
        write_exr(tmp_path / "a.exr", {"ViewLayer.Combined.R": planes[0], "ViewLayer.Combined.G": planes[1],
                                       "ViewLayer.Combined.B": planes[2], "ViewLayer.Combined.A": planes[0],
                                       "ViewLayer.Albedo.R": planes[2], "ViewLayer.Albedo.G": planes[2],
                                       "ViewLayer.Albedo.B": planes[2]})
        expected = planes
    elif layout == "grey":
        write_exr(tmp_path / "a.exr", {"Y": planes[0]})
        expected = planes[[0, 0, 0]]
    else:
        half = planes.astype(np.float16)
        write_exr(tmp_path / "a.exr", dict(zip("RGBA", [*half, half[0]])))
        expected = half.astype(np.float32)
    image = read_image(tmp_path / "a.exr")
    assert image.dtype == np.float32 and image.shape == (5, 6, 3)
    np.testing.assert_array_equal(image, np.moveaxis(expected, 0, 2))


def test_read_image_errors_name_the_path(tmp_path):
    with pytest.raises(BackgroundError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "anim.gif").write_bytes(b"GIF89a")
    with pytest.raises(BackgroundError, match="anim.gif.*unsupported"):
        read_image(tmp_path / "anim.gif")
    (tmp_path / "junk.png").write_bytes(b"not a png at all" * 8)
    with pytest.raises(BackgroundError, match="junk.png"):
        read_image(tmp_path / "junk.png")
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (64, 64, 3), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:2000])
    with pytest.raises(BackgroundError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    (tmp_path / "junk.exr").write_bytes(b"\x76\x2f\x31\x01garbage" * 8)
    with pytest.raises(BackgroundError, match="junk.exr"):
        read_image(tmp_path / "junk.exr")
    write_exr(tmp_path / "depth.exr", {"Z": np.zeros((2, 2), np.float32), "A": np.ones((2, 2), np.float32)})
    with pytest.raises(BackgroundError, match="depth.exr has no RGB channels"):
        read_image(tmp_path / "depth.exr")


# --- pools ------------------------------------------------------------------------------------

def test_default_pool_is_every_free_background():
    assert background_pool() == sorted(HDRI_IDS + PHOTO_IDS)
    assert background_pool(kinds=("hdri",)) == HDRI_IDS
    assert background_pool(kinds=("photo",)) == PHOTO_IDS


def test_pool_leaves_out_non_scenes_and_the_manifest_says_why():
    manifest = {asset.id: asset for asset in assets.load_manifest()}
    for background in NOT_SCENES:
        reason = manifest[background].extra.get(backgrounds.EXCLUDED_FIELD, "")
        assert len(reason) > 10, f"{background} is left out without a reason"
    pool = background_pool()
    assert not set(NOT_SCENES) & set(pool)
    # Only those: every other free image in the manifest is in the pool.
    free = {i for i, a in manifest.items() if a.free and a.kind in backgrounds.POOL_KINDS.values()}
    assert set(pool) == free - set(NOT_SCENES)


def test_pool_leaves_out_backgrounds_whose_package_is_missing(monkeypatch):
    real = assets.package_dir
    monkeypatch.setattr(assets, "package_dir", lambda name: None if name == "bpy" else real(name))
    assert background_pool() == PHOTO_IDS
    with pytest.raises(BackgroundError, match="no backgrounds available"):
        background_pool(kinds=("hdri",))


def test_pool_rejects_bad_kinds_and_folders(tmp_path):
    with pytest.raises(BackgroundError, match="unknown background kind"):
        background_pool(kinds=("video",))
    with pytest.raises(BackgroundError, match="no backgrounds available"):
        background_pool(kinds=())
    with pytest.raises(BackgroundError, match="nowhere"):
        background_pool(user_dir=tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(BackgroundError, match=f"no background images .* in background folder {tmp_path}"):
        background_pool(kinds=(), user_dir=tmp_path)


def user_folder(tmp_path):
    """A folder with a PNG, a JPEG in a subfolder, a flat EXR, a 2:1 EXR and non-images."""
    rng = np.random.default_rng(5)
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8)).save(folder / "b.png")
    Image.fromarray(rng.integers(0, 256, (50, 30, 3), np.uint8)).save(folder / "sub" / "a.jpg")
    write_exr(folder / "flat.exr", dict(zip("RGB", rng.uniform(0, 5, (3, 20, 30)).astype(np.float32))))
    write_exr(folder / "pano.exr", dict(zip("RGB", rng.uniform(0, 5, (3, 16, 32)).astype(np.float32))))
    (folder / "readme.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    return folder


def test_user_folder_pool_specs_and_plates(tmp_path):
    folder = user_folder(tmp_path)
    pool = background_pool(kinds=(), user_dir=folder)
    names = ["b.png", "flat.exr", "pano.exr", "sub/a.jpg"]
    assert pool == [f"file:{folder.resolve() / name}" for name in names]
    assert background_pool(user_dir=folder)[-4:] == pool

    expected = {"b.png": ("flat", False), "flat.exr": ("flat", True), "pano.exr": ("equirect", True),
                "sub/a.jpg": ("flat", False)}
    for name, entry in zip(names, pool):
        spec = sample_background_spec(np.random.default_rng(0), [entry])
        projection, hdr = expected[name]
        assert (spec["projection"], spec["exposure"] is not None) == (projection, hdr)
        assert background_id(spec) == "user/" + ("sub/a.jpg" if name == "sub/a.jpg" else f"mine/{name}")
        plate = load_background(spec, 48, 64)
        assert plate.shape == (48, 64, 3) and np.all(np.isfinite(plate))
        assert 0 <= plate.min() and plate.max() <= 1 and plate.std() > 0.01


def test_broken_user_files_raise_with_their_path(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 10)
    (tmp_path / "junk.exr").write_bytes(b"broken" * 10)
    pool = background_pool(kinds=(), user_dir=tmp_path)
    png_spec = sample_background_spec(np.random.default_rng(0), [pool[1]])
    with pytest.raises(BackgroundError, match="junk.png"):
        load_background(png_spec, 48, 64)
    with pytest.raises(BackgroundError, match="junk.exr"):
        sample_background_spec(np.random.default_rng(0), [pool[0]])
    gone = spec_for(tmp_path / "gone.png", "flat", {"scale": 1.0, "x": 0.5, "y": 0.5})
    with pytest.raises(BackgroundError, match="gone.png"):
        load_background(gone, 48, 64)


# --- specs ------------------------------------------------------------------------------------

def test_specs_are_seeded_json_and_varied():
    pool = background_pool()
    specs = [sample_background_spec(np.random.default_rng(seed), pool) for seed in range(40)]
    assert specs[3] == sample_background_spec(np.random.default_rng(3), pool)
    assert all(json.loads(json.dumps(spec)) == spec for spec in specs)
    assert len({json.dumps(spec, sort_keys=True) for spec in specs}) == len(specs)
    assert len({spec["id"] for spec in specs}) > 8
    assert {spec["flip"] for spec in specs} == {True, False}
    for spec in specs:
        crop = spec["crop"]
        if spec["id"].startswith("hdri/"):
            assert spec["projection"] == "equirect"
            assert 30 <= crop["fov_deg"] <= 70 and abs(crop["pitch_deg"]) <= 10
            assert 0.18 <= spec["exposure"]["median_luminance"] <= 0.30
        else:
            assert spec["projection"] == "flat" and spec["exposure"] is None
            assert 0 < crop["scale"] <= 1 and 0 <= crop["x"] <= 1 and 0 <= crop["y"] <= 1


@pytest.mark.parametrize("field, value, message", [
    ("projection", "cube", "projection"),
    ("crop", {"yaw_deg": 0.0, "pitch_deg": 0.0, "fov_deg": 200.0}, "crop.fov_deg"),
    ("flip", "yes", "flip"),
    ("exposure", {"median_luminance": -1}, "exposure"),
    ("id", "hdri/unknown", "unknown background 'hdri/unknown'"),
])
def test_bad_specs_name_the_field(field, value, message):
    spec = sample_background_spec(np.random.default_rng(0), ["hdri/city"])
    spec[field] = value
    with pytest.raises(BackgroundError, match=message):
        load_background(spec, 48, 64)


# --- plates -----------------------------------------------------------------------------------

@pytest.mark.parametrize("background", HDRI_IDS + PHOTO_IDS + NOT_SCENES)
def test_every_free_background_loads(background):
    spec = sample_background_spec(np.random.default_rng(7), [background])
    for height, width in [(240, 320), (48, 64)]:
        plate = load_background(spec, height, width)
        assert plate.shape == (height, width, 3) and plate.dtype == np.float32
        assert np.all(np.isfinite(plate)) and plate.min() >= 0 and plate.max() <= 1
        assert plate.std() > 0.01, "a constant plate"
        if spec["exposure"] and width >= 128:
            # Exposure is measured on a 128-px-wide view; smaller plates are prefiltered, which
            # spreads highlights and so moves the median (the mean is what averaging keeps).
            median = float(np.median(plate @ REC709))
            assert median == pytest.approx(spec["exposure"]["median_luminance"], rel=0.25)
    np.testing.assert_array_equal(load_background(spec, 48, 64), plate)
    backgrounds._linear_source.cache_clear()
    np.testing.assert_array_equal(load_background(json.loads(json.dumps(spec)), 48, 64), plate)


def test_whole_photo_view_of_any_size_loads(tmp_path):
    # 400 rows -> a 533.3 x 400 crop for 4:3, whose height rounds to 400.00000000000006.
    Image.fromarray(np.full((400, 600, 3), 90, np.uint8)).save(tmp_path / "wide.png")
    spec = spec_for(tmp_path / "wide.png", "flat", {"scale": 1.0, "x": 0.5, "y": 0.5})
    plate = load_background(spec, 480, 640)
    assert plate.shape == (480, 640, 3)
    np.testing.assert_allclose(plate, srgb_to_linear(np.full((480, 640, 3), 90 / 255.0)), atol=1e-5)


def test_different_views_give_different_plates():
    pool = ["hdri/forest", "photo/coffee"]
    plates = [load_background(sample_background_spec(np.random.default_rng(seed), pool), 48, 64)
              for seed in range(4)]
    for i in range(4):
        for j in range(i):
            assert np.abs(plates[i] - plates[j]).mean() > 0.01


def test_equirect_view_looks_along_the_expected_rays(tmp_path):
    ramp_exr(tmp_path / "pano.exr", 64, 128)  # R = longitude / 360 deg, G = (90 deg - latitude) / 180 deg
    height, width, fov, yaw, pitch = 41, 65, 60.0, 90.0, 20.0
    spec = spec_for(tmp_path / "pano.exr", "equirect", {"yaw_deg": yaw, "pitch_deg": 0.0, "fov_deg": fov})
    plate = load_background(spec, height, width)
    focal = (width / 2) / math.tan(math.radians(fov / 2))
    x = np.arange(width) + 0.5 - width / 2
    y = height / 2 - np.arange(height)[:, None] - 0.5
    longitude = yaw + np.degrees(np.arctan(x / focal))
    latitude = np.degrees(np.arctan2(y, np.hypot(x, focal)))
    np.testing.assert_allclose(plate[..., 0], np.broadcast_to(longitude / 360, (height, width)), atol=1e-5)
    np.testing.assert_allclose(plate[..., 1], (90 - latitude) / 180, atol=1e-5)

    # Tilting the camera up by `pitch` moves the centre column's rays up by exactly `pitch`.
    spec["crop"]["pitch_deg"] = pitch
    tilted = load_background(spec, height, width)
    centre_latitude = pitch + np.degrees(np.arctan(y[:, 0] / focal))
    np.testing.assert_allclose(tilted[:, width // 2, 1], (90 - centre_latitude) / 180, atol=1e-5)
    np.testing.assert_allclose(tilted[:, width // 2, 0], yaw / 360, atol=1e-5)

    spec["flip"] = True
    np.testing.assert_array_equal(load_background(spec, height, width), tilted[:, ::-1])


def test_flat_crop_keeps_the_output_aspect(tmp_path):
    ramp_exr(tmp_path / "photo.exr", 60, 90)  # R = x / 90 px, G = y / 60 px (pixel centres)
    path = tmp_path / "photo.exr"
    inner = (slice(2, -2), slice(2, -2))  # Pillow renormalises its filter at the borders

    def check(crop, height, width, left, top, right, bottom):
        plate = load_background(spec_for(path, "flat", crop), height, width)
        expected_r = (left + (np.arange(width) + 0.5) / width * (right - left)) / 90
        expected_g = (top + (np.arange(height) + 0.5) / height * (bottom - top)) / 60
        # Pillow's filter windows snap to whole source pixels: positions agree to ~0.05 px.
        np.testing.assert_allclose(plate[..., 0][inner] * 90, np.broadcast_to(expected_r, (height, width))[inner] * 90,
                                   atol=0.05)
        np.testing.assert_allclose(plate[..., 1][inner] * 60,
                                   np.broadcast_to(expected_g[:, None], (height, width))[inner] * 60, atol=0.05)

    check({"scale": 1.0, "x": 0.3, "y": 0.7}, 20, 30, 0, 0, 90, 60)       # same aspect: everything
    check({"scale": 0.5, "x": 1.0, "y": 0.0}, 20, 30, 45, 0, 90, 30)      # top-right quarter
    check({"scale": 1.0, "x": 0.5, "y": 0.5}, 24, 24, 15, 0, 75, 60)      # square: centred 60 x 60
    check({"scale": 1.0, "x": 0.0, "y": 1.0}, 200, 40, 0, 0, 12, 60)      # tall, upsampled, left edge


def test_exposure_sets_the_median_luminance(tmp_path):
    write_exr(tmp_path / "bright.exr", {c: np.full((20, 30), 4.0, np.float32) for c in "RGB"})
    spec = spec_for(tmp_path / "bright.exr", "flat", {"scale": 0.8, "x": 0.5, "y": 0.5},
                    exposure={"median_luminance": 0.1})
    np.testing.assert_allclose(load_background(spec, 12, 16), 0.1, rtol=1e-5)
    spec["exposure"] = None
    np.testing.assert_array_equal(load_background(spec, 12, 16), 1.0)  # HDR values clip to white

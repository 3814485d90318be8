"""Checks of the add-on's Look (texture, background) and Camera panels inside Blender (run as a
script by tests/test_addon_look_camera.py):

    python addon_look_camera.py operators OUT_DIR

Every operator of the two panels on Blender's default scene, checked against independent
computations; then a scene with a texture file, a pool background and a rolled camera is
exported (OUT_DIR/plan.json), rendered by the add-on (OUT_DIR/addon) and its viewport background
saved (OUT_DIR/preview.npy) for the test to compare with the CLI's render. Exits 0 when every
check passes; an AssertionError names the first that fails.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import bpy  # noqa: E402

import blender_addon  # noqa: E402


def plan_dict() -> dict:
    return json.loads(bpy.context.scene.synth.plan_json)


def body_vertices() -> np.ndarray:
    mesh = bpy.data.objects["Body"].data
    coords = np.empty(len(mesh.vertices) * 3)
    mesh.vertices.foreach_get("co", coords)
    return coords.reshape(-1, 3)


def expected_camera_matrix(target, distance, yaw, elevation, roll) -> np.ndarray:
    """Blender's camera matrix_world from the angles, composed of rotations (not look_at): a
    camera looks down its local -Z; turned +90 deg - elevation about X it looks along world +Y,
    tilted down by the elevation; then the yaw about world Z; the roll is about the viewing axis
    (local -Z), right-handed about that forward axis: local Z by -roll."""
    def rx(a):
        return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])

    def rz(a):
        return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])

    matrix = np.eye(4)
    matrix[:3, :3] = rz(yaw) @ rx(math.pi / 2 - elevation) @ rz(-roll)
    matrix[:3, 3] = np.asarray(target) + distance * np.array(
        [math.sin(yaw) * math.cos(elevation), -math.cos(yaw) * math.cos(elevation), math.sin(elevation)])
    return matrix


def expect_refused(operator, message: str, **kwargs) -> None:
    """``operator`` reports an error naming ``message`` and leaves the plan as it was."""
    before = bpy.context.scene.synth.plan_json
    try:
        operator(**kwargs)
    except RuntimeError as exc:  # bpy.ops raises an operator's ERROR report
        assert message in str(exc), exc
        print("refused:", str(exc).strip().splitlines()[-1])
    else:
        raise AssertionError(f"{operator} accepted bad input {kwargs}")
    assert bpy.context.scene.synth.plan_json == before, "a refused edit changed the plan"


def check_camera(out_dir: Path) -> None:
    settings = bpy.context.scene.synth
    camera_object = bpy.context.scene.camera
    plan = plan_dict()
    vertices = body_vertices()
    target = plan["camera"]["target"]
    offset = np.subtract(plan["camera"]["location"], target)  # the sampled camera's angles
    angles = {"distance": float(np.linalg.norm(offset)), "yaw": math.atan2(offset[0], -offset[1]),
              "elevation": math.asin(offset[2] / np.linalg.norm(offset)), "roll": 0.0}
    # Each slider moves only the camera, to where the angles put it.
    for name, value in (("distance", 6.5), ("yaw", 0.7), ("elevation", 0.25), ("roll", 0.4)):
        angles[name] = float(np.float32(value))  # what a slider holds
        setattr(settings.camera, name, value)
        settings = bpy.context.scene.synth
        assert not settings.camera.error, settings.camera.error
        edited = plan_dict()
        assert {k: v for k, v in edited.items() if k != "camera"} == {k: v for k, v in plan.items() if k != "camera"}
        assert edited["camera"]["target"] == target and edited["camera"]["lens_mm"] == plan["camera"]["lens_mm"]
        assert np.array_equal(body_vertices(), vertices), f"editing {name} moved the body"
        expected = expected_camera_matrix(target, *angles.values())
        actual = np.array(bpy.context.scene.camera.matrix_world)
        assert np.allclose(actual, expected, atol=1e-5), (name, actual, expected)
    assert bpy.context.scene.camera == camera_object, "a camera edit rebuilt the scene"
    assert math.isclose(plan_dict()["camera"]["roll"], 0.4, abs_tol=1e-6)

    # SURREAL placement: the camera sample_plan gives the same seed and options (no roll).
    from blender_addon.ui.properties import plan_options
    from synth_core.scene.plan import sample_plan

    assert bpy.ops.synth.place_camera_surreal() == {"FINISHED"}
    sampled = sample_plan(settings.seed, plan_options(bpy.context.scene.synth))
    assert plan_dict()["camera"] == sampled.to_dict()["camera"]
    assert bpy.context.scene.synth.camera.roll == 0.0


def check_texture(out_dir: Path) -> None:
    from PIL import Image

    from blender_addon.scene.materials import body_image
    from blender_addon.ui.operators.common import body_materials
    from synth_core.textures import sample_texture_spec

    look = bpy.context.scene.synth.look
    seed = look.texture_seed
    assert bpy.ops.synth.randomize_texture() == {"FINISHED"}
    texture = plan_dict()["texture"]
    assert texture["kind"] == "procedural" and texture["spec"] == sample_texture_spec(np.random.default_rng(seed))
    assert bpy.context.scene.synth.look.texture_seed == seed + 1

    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = out_dir / "texture.png"
    Image.fromarray(pixels).save(path)
    assert bpy.ops.synth.load_texture(filepath=str(path)) == {"FINISHED"}
    assert plan_dict()["texture"] == {"kind": "file", "path": str(path.resolve())}
    image = body_image(body_materials()[0])
    width, height = image.size
    shown = np.array(image.pixels[:]).reshape(height, width, 4)[::-1, :, :3]  # Blender's rows go bottom up
    with Image.open(path) as read:  # the file read again, independently
        expected = np.asarray(read.convert("RGB"))
    assert np.array_equal(np.rint(shown * 255).astype(np.uint8), expected), "the body does not show the file"

    (out_dir / "notes.txt").write_text("not an image")
    expect_refused(bpy.ops.synth.load_texture, "is not a texture image", filepath=str(out_dir / "notes.txt"))
    (out_dir / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    expect_refused(bpy.ops.synth.load_texture, "not a readable image file", filepath=str(out_dir / "corrupt.png"))
    expect_refused(bpy.ops.synth.load_texture, "texture file not found", filepath=str(out_dir / "missing.png"))
    Image.fromarray(pixels[:, :40]).save(out_dir / "oblong.png")
    expect_refused(bpy.ops.synth.load_texture, "must be square", filepath=str(out_dir / "oblong.png"))


def preview_pixels() -> np.ndarray:
    """The camera's background image as uint8 rows top down."""
    camera = bpy.context.scene.camera.data
    assert camera.show_background_images and len(camera.background_images) == 1
    image = camera.background_images[0].image
    width, height = image.size
    pixels = np.array(image.pixels[:]).reshape(height, width, 4)[::-1, :, :3]
    return np.rint(pixels * 255).astype(np.uint8)


def check_background(out_dir: Path) -> None:
    from synth_core.backgrounds import background_pool, sample_background_spec

    look = bpy.context.scene.synth.look
    pool = background_pool(kinds=("hdri", "photo"))
    seed = look.background_seed
    assert bpy.ops.synth.randomize_background() == {"FINISHED"}
    assert plan_dict()["background"] == sample_background_spec(np.random.default_rng(seed), pool)
    assert bpy.context.scene.synth.look.background_seed == seed + 1
    first = preview_pixels()

    expect_refused(bpy.ops.synth.load_background, "background file not found", filepath=str(out_dir / "sky.exr"))
    expect_refused(bpy.ops.synth.load_background, "is not a background image", filepath=str(out_dir / "notes.txt"))
    expect_refused(bpy.ops.synth.load_background, "cannot read image", filepath=str(out_dir / "corrupt.png"))

    # A pool choice: that image, a view of it drawn from the background seed; shown in the viewport.
    look = bpy.context.scene.synth.look
    other = next(id_ for id_ in pool if id_ != plan_dict()["background"]["id"] and id_.startswith("hdri/"))
    look.background_seed = 11
    look.background = other
    assert not bpy.context.scene.synth.look.error, bpy.context.scene.synth.look.error
    assert plan_dict()["background"] == sample_background_spec(np.random.default_rng(11), [other])
    assert not np.array_equal(preview_pixels(), first), "the viewport still shows the old background"


def check_operators(out_dir: Path) -> None:
    bpy.ops.wm.read_factory_settings()  # the default scene: cube, camera, light
    blender_addon.register()
    settings = bpy.context.scene.synth
    settings.seed, settings.width, settings.height, settings.samples, settings.frames = 7, 64, 48, 1, 1
    for operator in ("place_camera_surreal", "load_texture", "randomize_texture", "load_background",
                     "randomize_background"):  # before any scene: refused by name, nothing changes
        try:
            getattr(bpy.ops.synth, operator)(**({"filepath": str(out_dir / "x.png")} if "load" in operator else {}))
        except RuntimeError as exc:
            assert "no plan yet" in str(exc) or "context is incorrect" in str(exc), exc
    assert not bpy.context.scene.synth.plan_json
    assert bpy.ops.synth.sample_scene() == {"FINISHED"}

    check_camera(out_dir)
    check_texture(out_dir)
    check_background(out_dir)
    settings = bpy.context.scene.synth
    for name, value in (("yaw", -0.5), ("elevation", 0.2), ("distance", 7.5), ("roll", 0.45)):
        setattr(settings.camera, name, value)
    assert not bpy.context.scene.synth.camera.error

    np.save(out_dir / "preview.npy", preview_pixels())
    assert bpy.ops.synth.export_plan(filepath=str(out_dir / "plan.json")) == {"FINISHED"}
    render_frame_in_place(out_dir)
    assert bpy.ops.synth.render_clip(directory=str(out_dir / "addon")) == {"FINISHED"}
    check_grounded_camera()


def render_frame_in_place(out_dir: Path) -> None:
    """Frame 0 rendered in the artist's scene, its background preview on (as Render This Frame
    renders it: the worker's frame function, the scene updated in place), into OUT_DIR/frame.npz."""
    from blender_addon.scene import built_scene_in
    from blender_addon.ui.operators.common import plan_to_write
    from blender_addon.worker import render_frame

    plan = plan_to_write(bpy.context.scene.synth)
    previous = built_scene_in(bpy.context.scene, plan)
    assert previous is not None and len(previous.camera.data.background_images) == 1
    (out_dir / "work").mkdir()
    _, arrays = render_frame(plan, 0, out_dir / "work", previous=previous)
    np.savez(out_dir / "frame.npz", **arrays)


def check_grounded_camera() -> None:
    """A grounded scene refuses a camera below its ground: the slider goes back, the panel says why."""
    settings = bpy.context.scene.synth
    settings.scene_kind = "grounded"
    assert bpy.ops.synth.sample_scene() == {"FINISHED"}
    settings = bpy.context.scene.synth
    before, elevation = settings.plan_json, settings.camera.elevation
    settings.camera.elevation = -0.6  # 7 m away: about 4 m below the pelvis
    settings = bpy.context.scene.synth
    assert "not above the ground" in settings.camera.error, settings.camera.error
    assert settings.plan_json == before and settings.camera.elevation == elevation
    settings.camera.elevation = 0.3
    assert not bpy.context.scene.synth.camera.error and bpy.context.scene.synth.plan_json != before


def main(argv) -> None:
    checks = {"operators": lambda: check_operators(Path(argv[1]))}
    checks[argv[0]]()
    print("OK", argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])

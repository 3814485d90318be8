"""The add-on's Body and Motion panels inside Blender (run as a script by
tests/test_addon_body_motion.py). Each check drives the operators and sliders on Blender's default
scene and saves what the scene shows (the Body mesh's vertices, the camera, the plans, the
reports) into OUT_DIR; the test compares them with computations of its own.

    python addon_body_motion.py shape OUT_DIR
    python addon_body_motion.py smpl OUT_DIR MODEL_FILE
    python addon_body_motion.py motion OUT_DIR AMASS_FILE
    python addon_body_motion.py snap_render OUT_DIR
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import bpy  # noqa: E402

import blender_addon  # noqa: E402

PASSES_RENDERED = ("rgb", "segmentation", "depth")


def start(frames: int = 3, passes=None):
    """The default scene (cube, camera, light), the add-on, a tiny clip of seed 7 built."""
    bpy.ops.wm.read_factory_settings()
    blender_addon.register()
    settings = bpy.context.scene.synth
    settings.seed, settings.width, settings.height, settings.samples, settings.frames = 7, 64, 48, 1, frames
    settings.shading = "nodes"
    if passes is not None:
        from blender_addon.ui.properties import pass_property
        from synth_core.scene.plan import PASSES

        for name in PASSES:
            setattr(settings, pass_property(name), name in passes)
    assert bpy.ops.synth.sample_scene() == {"FINISHED"}
    return bpy.context.scene.synth


def synth():
    return bpy.context.scene.synth


def plan_dict() -> dict:
    return json.loads(synth().plan_json)


def body_vertices() -> np.ndarray:
    mesh = bpy.data.objects["Body"].data
    co = np.empty(len(mesh.vertices) * 3, dtype=np.float32)
    mesh.vertices.foreach_get("co", co)
    return co.reshape(-1, 3).astype(np.float64)


def body_faces() -> np.ndarray:
    mesh = bpy.data.objects["Body"].data
    faces = np.empty(len(mesh.polygons) * 3, dtype=np.int64)
    mesh.polygons.foreach_get("vertices", faces)
    return faces.reshape(-1, 3)


def camera_space(vertices: np.ndarray) -> np.ndarray:
    """The vertices in the Blender camera's frame (what the image is made of)."""
    world_to_camera = np.linalg.inv(np.array(bpy.context.scene.camera.matrix_world))
    return vertices @ world_to_camera[:3, :3].T + world_to_camera[:3, 3]


def refused(call, *words) -> str:
    """Run an operator that must refuse its input with an ERROR report naming ``words``."""
    before = synth().plan_json
    try:
        call()
    except RuntimeError as exc:  # bpy.ops raises an operator's ERROR report
        message = str(exc)
    else:
        raise AssertionError(f"accepted bad input ({words})")
    for word in words:
        assert word in message, (word, message)
    assert synth().plan_json == before, "a refused input changed the plan"
    return message


def scrub(frame: int) -> np.ndarray:
    bpy.context.scene.frame_set(frame)
    return body_vertices()


def check_shape(out: Path) -> None:
    start()
    results, arrays = {}, {}
    body, motion = synth().body, synth().motion
    arrays["faces"] = body_faces()
    results["plan_before_beta"] = plan_dict()
    body_object = bpy.data.objects["Body"].as_pointer()
    body.betas[3] = 1.7  # a live slider edit
    results["plan_beta"] = plan_dict()
    results["same_object"] = bpy.data.objects["Body"].as_pointer() == body_object
    arrays["beta_frame0"] = scrub(0)
    arrays["beta_frame2"] = scrub(2)
    arrays["beta_frame_past_end"] = scrub(9)  # the timeline past the clip: its last frame
    bpy.context.scene.frame_set(0)

    motion.amplitude = 0.0  # a standing body: measure heights on it
    motion.kind = "idle"
    for name, low, high in (("height", 0.15, 0.85), ("weight", 0.15, 0.85)):
        for level, value in (("low", low), ("high", high)):
            setattr(body, name, value)
            assert body.error == "", body.error
            arrays[f"{name}_{level}"] = body_vertices()
            results[f"plan_{name}_{level}"] = plan_dict()
        setattr(body, name, 0.5)

    body.shape_seed = 5
    assert bpy.ops.synth.randomize_shape() == {"FINISHED"}
    results["random_a"], results["seed_after"] = plan_dict(), synth().body.shape_seed
    arrays["random_a"] = body_vertices()
    assert bpy.ops.synth.randomize_shape() == {"FINISHED"}
    results["random_next"] = plan_dict()
    synth().body.shape_seed = 5
    assert bpy.ops.synth.randomize_shape() == {"FINISHED"}
    results["random_b"] = plan_dict()

    assert bpy.ops.synth.set_body_gender(gender="female") == {"FINISHED"}
    results["female"] = plan_dict()
    refused(lambda: bpy.ops.synth.use_body(source="smpl"), "smpl")  # no licensed SMPL installed here
    (out / "results.json").write_text(json.dumps(results))
    np.savez(out / "arrays.npz", **arrays)


def check_smpl(out: Path, model_file: Path) -> None:
    """An SMPL-format file: loaded as the body, pose correctives on and off, bad files refused,
    back to the default body; the clip rendered with correctives off, its plan exported."""
    start(frames=1, passes=PASSES_RENDERED)
    results, arrays = {}, {}
    bad_text = out / "model.txt"
    bad_text.write_text("not a model")
    refused(lambda: bpy.ops.synth.load_body_model(filepath=str(bad_text)), "model.txt", "not an SMPL-format")
    refused(lambda: bpy.ops.synth.load_body_model(filepath=str(out / "missing.npz")), "not found")
    refused(lambda: bpy.ops.synth.load_body_model(filepath=str(out / "smplx_joints.npz")), "55 joints")

    assert bpy.ops.synth.load_body_model(filepath=str(model_file)) == {"FINISHED"}
    results["plan_on"] = plan_dict()
    arrays["on"] = body_vertices()
    synth().body.pose_correctives = False  # live
    assert synth().body.error == "", synth().body.error
    results["plan_off"] = plan_dict()
    arrays["off"] = body_vertices()
    assert bpy.ops.synth.render_clip(directory=str(out / "addon")) == {"FINISHED"}
    assert bpy.ops.synth.export_plan(filepath=str(out / "plan.json")) == {"FINISHED"}

    assert bpy.ops.synth.use_body(source="default") == {"FINISHED"}
    results["plan_default"] = plan_dict()
    results["default_vertices"] = len(bpy.data.objects["Body"].data.vertices)
    (out / "results.json").write_text(json.dumps(results))
    np.savez(out / "arrays.npz", **arrays)


def check_motion(out: Path, amass_file: Path, bvh_file: Path) -> None:
    start()
    results = {"plan_start": plan_dict()}
    motion = synth().motion
    motion.kind = "squat"  # live
    results["plan_squat"] = plan_dict()
    results["camera_squat"] = [list(row) for row in bpy.context.scene.camera.matrix_world]

    bad = {"motion.txt": "is not a motion file", "motion.bvh": "no ROOT joint",
           "no_keys.npz": "missing key 'poses'", "joints.npz": "99 values per frame",
           "missing.npz": "does not exist"}
    for name, words in bad.items():
        results[name] = refused(lambda: bpy.ops.synth.load_motion(filepath=str(out / name)), words)

    assert bpy.ops.synth.load_motion(filepath=str(bvh_file)) == {"FINISHED"}
    results["plan_bvh"] = plan_dict()
    results["bvh_frames"] = {str(frame): scrub(frame).tolist() for frame in (0, 2)}
    bpy.context.scene.frame_set(0)
    synth().motion.source = "prior"  # live: key poses of the pose prior
    results["plan_prior"] = plan_dict()
    synth().motion.hold_s = 0.0  # one still pose
    results["plan_still"] = plan_dict()
    for name in ("prior_random_a", "prior_random_b"):
        synth().motion.motion_seed = 5
        assert bpy.ops.synth.randomize_motion() == {"FINISHED"}
        results[name] = plan_dict()

    assert bpy.ops.synth.load_motion(filepath=str(amass_file)) == {"FINISHED"}
    results["plan_amass"] = plan_dict()
    results["amass_frames"] = {str(frame): scrub(frame).tolist() for frame in (0, 2)}
    bpy.context.scene.frame_set(0)
    synth().motion.start = 4  # live
    results["plan_start4"] = plan_dict()
    synth().motion.start = 500  # past the file: refused, the slider shows the plan's again
    results["start_error"], results["start_after_error"] = synth().motion.error, synth().motion.start
    results["plan_after_error"] = plan_dict()

    synth().motion.motion_seed = 11
    for name in ("amass_random_a", "amass_random_b"):
        synth().motion.motion_seed = 11
        assert bpy.ops.synth.randomize_motion() == {"FINISHED"}
        results[name] = plan_dict()
    synth().motion.source = "procedural"  # back: the panel's procedural settings
    results["plan_procedural"] = plan_dict()
    for name in ("procedural_random_a", "procedural_random_b"):
        synth().motion.motion_seed = 3
        assert bpy.ops.synth.randomize_motion() == {"FINISHED"}
        results[name] = plan_dict()
    (out / "results.json").write_text(json.dumps(results))


def check_snap_render(out: Path) -> None:
    """Snap to ground: the body's lowest point over the clip at z = 0, the same camera view;
    the clip rendered before and after."""
    start(frames=2, passes=PASSES_RENDERED)
    arrays, results = {}, {}
    for stage in ("before", "after"):
        if stage == "after":
            assert bpy.ops.synth.snap_to_ground() == {"FINISHED"}
        results[stage] = plan_dict()
        for frame in (0, 1):
            vertices = scrub(frame)
            arrays[f"{stage}_world_{frame}"] = vertices
            arrays[f"{stage}_camera_{frame}"] = camera_space(vertices)
        assert bpy.ops.synth.render_clip(directory=str(out / stage)) == {"FINISHED"}
    (out / "results.json").write_text(json.dumps(results))
    np.savez(out / "arrays.npz", **arrays)


def main(argv) -> None:
    checks = {"shape": lambda: check_shape(Path(argv[1])),
              "smpl": lambda: check_smpl(Path(argv[1]), Path(argv[2])),
              "motion": lambda: check_motion(Path(argv[1]), Path(argv[2]), Path(argv[3])),
              "snap_render": lambda: check_snap_render(Path(argv[1]))}
    checks[argv[0]]()
    print("OK", argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])

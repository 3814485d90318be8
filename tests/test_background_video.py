"""Background videos for a moving camera: the free ones `synth backgrounds video` makes (with
their exact camera track), estimated tracks of other videos, plans that follow a video's camera,
and a rendered clip whose background flow warps the next frame onto this one."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from synth_cli.builders.background_videos import build_video
from synth_core.background_video import (TRACK_SUFFIX, estimate_track, rotation_and_zoom, video_length,
                                         video_track, video_window)
from synth_core.errors import BackgroundError, PlanError
from synth_core.scene import camera as cam
from synth_core.scene.plan import PlanOptions, sample_plan

FRAMES, WIDTH, HEIGHT = 24, 192, 144


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    for seed in (0, 1):
        build_video(folder / f"video_{seed}.mp4", seed, FRAMES, 30.0, WIDTH, HEIGHT)
    return folder


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(Rotation.from_matrix(a @ b.T).magnitude()))


def test_rotation_and_zoom_undo_the_homography_of_a_turning_zooming_camera():
    k0, k1 = cam.intrinsics(40.0, 32.0, 320, 240), cam.intrinsics(44.0, 32.0, 320, 240)
    turn = Rotation.from_euler("xyz", [2.0, -5.0, 1.5], degrees=True).as_matrix()
    homography = 3.7 * k1 @ turn @ np.linalg.inv(k0)  # any scale
    rotation, zoom = rotation_and_zoom(homography, k0[0, 0], 320, 240)
    assert np.abs(rotation - turn).max() < 1e-12 and zoom == pytest.approx(1.1, abs=1e-12)


def test_a_free_video_has_the_frames_and_the_exact_track_of_its_virtual_camera(video_folder):
    path = video_folder / "video_0.mp4"
    assert video_length(path) == FRAMES
    rotations, focal, exact = video_track(path, 1.0)
    assert exact and rotations.shape == (FRAMES, 3, 3) and np.allclose(rotations[0], np.eye(3))
    turned = _angle_deg(rotations[-1], rotations[0])
    assert turned > 1.0, "the virtual camera must move for these tests to mean anything"
    # the video's frames move as the track says: frame t+1 warped back by the track's
    # infinite homography is frame t
    frames = video_window(path, 0, FRAMES)
    k = [np.array([[f, 0, (WIDTH - 1) / 2], [0, f, (HEIGHT - 1) / 2], [0, 0, 1.0]]) for f in focal]
    t = FRAMES // 2
    homography = k[t + 1] @ rotations[t + 1] @ rotations[t].T @ np.linalg.inv(k[t])
    flow = cam.homography_flow(homography, HEIGHT, WIDTH)
    grid = np.indices((HEIGHT, WIDTH))[::-1].transpose(1, 2, 0).astype(np.float32)
    warped = cv2.remap(frames[t + 1].astype(np.float32), *(grid + flow).transpose(2, 0, 1), cv2.INTER_LINEAR)
    inner = (slice(6, -6), slice(6, -6))
    error = np.abs(warped - frames[t])[inner].mean()
    unwarped = np.abs(frames[t + 1].astype(np.float32) - frames[t])[inner].mean()
    assert error < 0.35 * unwarped, (error, unwarped)


def test_the_estimated_track_of_a_video_follows_its_exact_track(video_folder):
    for seed in (0, 1):
        path = video_folder / f"video_{seed}.mp4"
        rotations, focal, _ = video_track(path, 1.0)
        estimated, estimated_focal = estimate_track(video_window(path, 0, FRAMES), focal[0])
        error = max(_angle_deg(a, b) for a, b in zip(estimated, rotations))
        turned = _angle_deg(rotations[-1], rotations[0])
        print(f"video {seed}: turned {turned:.2f} deg; estimate off by at most {error:.3f} deg, "
              f"focal by {np.abs(estimated_focal / focal - 1).max():.4f}")
        assert error < 0.1 * turned + 0.1
        assert np.abs(estimated_focal / focal - 1).max() < 0.01


def test_plans_follow_their_videos_camera(video_folder):
    options = PlanOptions(camera="moving", background_videos=str(video_folder), n_frames=10, width=160, height=120)
    for seed in range(4):
        plan = sample_plan(seed, options)
        spec = plan.background
        assert spec["projection"] == "video" and 0 <= spec["start"] <= FRAMES - 12
        rotations, focal, exact = video_track(spec["id"].split(":", 1)[1], 1.0)
        assert exact and plan.camera["track"]["exact"]
        ks, rts = plan.cameras()
        window = slice(spec["start"], spec["start"] + 12)
        for t in range(11):  # each step of the render camera is the video camera's step
            render_step = rts[t + 1][:, :3] @ rts[t][:, :3].T
            video_step = rotations[window][t + 1] @ rotations[window][t].T
            assert _angle_deg(render_step, video_step) < 1e-6
        # and its focal length, in render pixels (the frames cover the render size)
        scale = max(160 / WIDTH, 120 / HEIGHT)
        assert np.allclose(ks[:, 0, 0], focal[window] * scale)


def test_bad_background_videos_are_named(video_folder, tmp_path):
    with pytest.raises(PlanError, match="camera 'moving'"):
        PlanOptions(background_videos=str(video_folder))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BackgroundError, match="holds no video"):
        sample_plan(0, PlanOptions(camera="moving", background_videos=str(empty), n_frames=5))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "clip.mp4").write_bytes(b"not a video at all")
    with pytest.raises(BackgroundError, match="clip.mp4"):
        sample_plan(0, PlanOptions(camera="moving", background_videos=str(broken), n_frames=5))
    with pytest.raises(BackgroundError, match=f"has {FRAMES} frames; clips of 40 frames need 42"):
        sample_plan(0, PlanOptions(camera="moving", background_videos=str(video_folder), n_frames=40))
    short_track = tmp_path / "track"
    short_track.mkdir()
    shutil.copy(video_folder / "video_0.mp4", short_track / "video_0.mp4")
    track = json.loads((video_folder / ("video_0.mp4" + TRACK_SUFFIX)).read_text())
    track["rotations"], track["focal_px"] = track["rotations"][:5], track["focal_px"][:5]
    (short_track / ("video_0.mp4" + TRACK_SUFFIX)).write_text(json.dumps(track))
    with pytest.raises(BackgroundError, match=f"holds 5 frames; its video has {FRAMES}"):
        sample_plan(0, PlanOptions(camera="moving", background_videos=str(short_track), n_frames=5))


@pytest.mark.slow
@pytest.mark.parametrize("with_track", [True, False])
def test_a_clip_over_a_video_has_background_flow_that_warps_the_next_frame_onto_this_one(video_folder, tmp_path,
                                                                                         with_track):
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(video_folder / "video_1.mp4", folder)
    if with_track:
        shutil.copy(video_folder / ("video_1.mp4" + TRACK_SUFFIX), folder)
    out = tmp_path / "data"
    result = subprocess.run([sys.executable, "-m", "synth_cli", "render", "--out", str(out), "--n", "1",
                             "--frames", "4", "--res", "160x120", "--samples", "2", "--camera", "moving",
                             "--background-videos", str(folder), "--rgb-format", "png"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    from synth_core.dataset import read_clip

    clip = read_clip(next(out.glob("clip_*")))
    assert clip.meta["background_flow"] == ("exact" if with_track else "estimated")
    for t in range(clip.n_frames - 1):
        here, following = clip.frame(t), clip.frame(t + 1)
        flow = here["flow_forward"]
        grid = np.indices(flow.shape[:2])[::-1].transpose(1, 2, 0).astype(np.float32)
        target = grid + flow
        warped = cv2.remap(following["rgb"].astype(np.float32), *target.transpose(2, 0, 1), cv2.INTER_LINEAR)
        inside = np.all((target >= 1) & (target <= np.array([159, 119]) - 1), axis=-1)
        background = (here["segmentation"] == 0) & inside
        error = np.abs(warped - here["rgb"])[background].mean()
        unwarped = np.abs(following["rgb"].astype(np.float32) - here["rgb"])[background].mean()
        print(f"frame {t}: background warped {error:.2f} vs unwarped {unwarped:.2f} levels; "
              f"flow {np.linalg.norm(flow[background], axis=-1).mean():.2f} px")
        assert np.linalg.norm(flow[background], axis=-1).mean() > 0.3
        assert error < 0.5 * unwarped

"""The posed body of a plan, frame by frame, computed with the numpy body model.

The renderer drives its armature from :func:`evaluate_clip` and the tests compare what
Blender rendered against it. Frames are padded by one before and one after the rendered
ones, so optical flow at the first and last frame describes real motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth_core.body.catalog import load_body_model
from synth_core.body.model import BodyModel
from synth_core.scene import camera as cam

PAD = 1  # motion frames evaluated before and after the rendered ones


@dataclass(frozen=True, eq=False)
class ClipGeometry:
    """Arrays over the padded frames (T + 2); ``rendered`` selects the T rendered ones."""

    pose: np.ndarray                 # T+2 x 24 x 3 axis-angle (body frame, no yaw)
    transl: np.ndarray               # T+2 x 3 metres, body frame
    betas: np.ndarray                # K
    body_to_world: np.ndarray        # 4 x 4
    joints_world: np.ndarray         # T+2 x 24 x 3
    skinning_transforms: np.ndarray  # T+2 x 24 x 4 x 4, body frame (rest point -> posed point)
    rest_joints: np.ndarray          # 24 x 3 body frame, shaped body
    shaped_vertices: np.ndarray      # V x 3 body frame, before posing
    vertices_world: np.ndarray | None  # T+2 x V x 3 when asked for
    motion_frames: np.ndarray        # T+2 frame numbers in the motion clip

    @property
    def rendered(self) -> slice:
        return slice(PAD, self.pose.shape[0] - PAD)


def body_model_of(plan) -> BodyModel:
    return load_body_model(plan.body["source"], _model_gender(plan))


def _model_gender(plan) -> str:
    # The default body is one model for all genders (gender lives in its betas).
    return "neutral" if plan.body["source"] == "default" else plan.body["gender"]


def motion_window(plan):
    """The plan's motion as a MotionClip of ``n_frames + 2 * PAD`` frames and the motion-clip
    frame number of each (edge frames repeat where the source has no frame to give)."""
    from synth_core.motion import load_amass, motion_from_params

    m = plan.motion
    n = int(m["n_frames"])
    if m["source"] == "procedural":
        clip = motion_from_params(m["params"], n + 2 * PAD, float(m["fps"]))
        return clip, np.arange(n + 2 * PAD) - PAD + int(m["start"])
    # The Z-up -> Y-up turn is about this body's rest pelvis, so it stays a rigid motion.
    pelvis = body_model_of(plan)(betas=plan.body["betas"]).rest_joints[0, 0]
    clip = load_amass(m["path"], target_fps=float(m["fps"]), pelvis_rest=pelvis)
    frames = np.arange(int(m["start"]) - PAD, int(m["start"]) + n + PAD)
    index = np.clip(frames, 0, clip.n_frames - 1)
    return _select(clip, index), frames


def _select(clip, index):
    from synth_core.motion import MotionClip

    return MotionClip(pose=clip.pose[index], transl=clip.transl[index], fps=clip.fps,
                      source=clip.source, name=clip.name)


def evaluate_clip(plan, with_vertices: bool = True) -> ClipGeometry:
    """The plan's body over its padded frames."""
    motion, frames = motion_window(plan)
    return pose_body(body_model_of(plan), plan.body["betas"], motion.pose, motion.transl,
                     plan.body_to_world, frames, with_vertices)


def pose_body(model: BodyModel, betas, pose: np.ndarray, transl: np.ndarray, body_to_world: np.ndarray,
              motion_frames: np.ndarray, with_vertices: bool = True) -> ClipGeometry:
    """Shape and pose ``model`` over a sequence (pose T x 24 x 3, transl T x 3)."""
    betas = np.asarray(betas, dtype=np.float64)
    out = model(betas=betas, pose=pose, transl=transl)
    return ClipGeometry(
        pose=np.asarray(pose), transl=np.asarray(transl), betas=betas, body_to_world=body_to_world,
        joints_world=cam.transform_points(body_to_world, out.joints),
        skinning_transforms=out.skinning_transforms,
        rest_joints=out.rest_joints[0], shaped_vertices=out.shaped_vertices[0],
        vertices_world=cam.transform_points(body_to_world, out.vertices) if with_vertices else None,
        motion_frames=np.asarray(motion_frames),
    )

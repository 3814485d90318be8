"""The posed body of a plan, frame by frame, computed with the numpy body model.

The renderer writes the posed vertices of :func:`evaluate_clip` into its mesh, and the tests
compare what Blender rendered against it. Frames are padded by one before and one after the rendered
ones, so optical flow at the first and last frame describes real motion (sampled AMASS
windows leave a real frame on each side; :func:`motion_edges` says whether a plan does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth_core.body import lbs
from synth_core.body.catalog import load_body_model, load_model_path, without_pose_correctives
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
    """The plan's body model: the file ``body["model_path"]`` names (an SMPL-format file the
    artist chose), else the installed model of its source and gender."""
    if plan.body.get("model_path"):
        return load_model_path(plan.body["model_path"])
    return load_body_model(plan.body["source"], _model_gender(plan))


def posing_model_of(plan) -> BodyModel:
    """The model that poses the plan's body: its body model, without the pose-corrective blend
    shapes when ``body["pose_correctives"]`` is false (absent: on)."""
    model = body_model_of(plan)
    return model if plan.body.get("pose_correctives", True) else without_pose_correctives(model)


def _model_gender(plan) -> str:
    # The default body is one model for all genders (gender lives in its betas).
    return "neutral" if plan.body["source"] == "default" else plan.body["gender"]


def motion_window(plan):
    """The plan's motion as a MotionClip of ``n_frames + 2 * PAD`` frames and the motion-clip
    frame number of each (edge frames repeat where the source has no frame to give, which
    only a hand-made plan asks for: see :func:`motion_edges`)."""
    from synth_core.motion import load_amass, load_bvh, motion_from_params
    from synth_core.motion.prior import motion_from_keys

    m = plan.motion
    n = int(m["n_frames"])
    if m["source"] in ("procedural", "prior"):  # generated for every padded frame
        if m["source"] == "procedural":
            clip = motion_from_params(m["params"], n + 2 * PAD, float(m["fps"]))
        else:
            clip = motion_from_keys(m["keys"], n + 2 * PAD, float(m["fps"]), float(m["hold_s"]))
        return clip, np.arange(n + 2 * PAD) - PAD + int(m["start"])
    rest_joints = body_model_of(plan)(betas=plan.body["betas"]).rest_joints[0]
    if m["source"] == "bvh":  # retargeted onto this body's skeleton
        clip = load_bvh(m["path"], target_fps=float(m["fps"]), rest_joints=rest_joints)
    else:  # the Z-up -> Y-up turn is about this body's rest pelvis, so it stays a rigid motion
        clip = load_amass(m["path"], target_fps=float(m["fps"]), pelvis_rest=rest_joints[0])
    frames = np.arange(int(m["start"]) - PAD, int(m["start"]) + n + PAD)
    index = np.clip(frames, 0, clip.n_frames - 1)
    return _select(clip, index), frames


def motion_edges(plan) -> dict:
    """Whether the first frame's backward flow and the last frame's forward flow come from
    real motion frames (a padded frame that repeats the edge pose would give zero flow)."""
    m = plan.motion
    n, start = int(m["n_frames"]), int(m["start"])
    if m["source"] in ("procedural", "prior"):  # generated for every padded frame
        before, after = True, True
    else:
        from synth_core.scene.plan import motion_file_frames

        available = m.get("available_frames") or motion_file_frames(m["source"], m["path"], float(m["fps"]))
        before, after = start - PAD >= 0, start + n + PAD <= int(available)
    return {"first_backward_flow_real": before, "last_forward_flow_real": after}


def _select(clip, index):
    from synth_core.motion import MotionClip

    return MotionClip(pose=clip.pose[index], transl=clip.transl[index], fps=clip.fps,
                      source=clip.source, name=clip.name)


def evaluate_clip(plan, with_vertices: bool = True) -> ClipGeometry:
    """The plan's body over its padded frames."""
    motion, frames = motion_window(plan)
    return pose_body(posing_model_of(plan), plan.body["betas"], motion.pose, motion.transl,
                     plan.body_to_world, frames, with_vertices)


def pose_body(model: BodyModel, betas, pose: np.ndarray, transl: np.ndarray, body_to_world: np.ndarray,
              motion_frames: np.ndarray, with_vertices: bool = True) -> ClipGeometry:
    """Shape and pose ``model`` over a sequence (pose T x 24 x 3, transl T x 3). Without
    vertices only the joints are posed: the mesh is shaped once and never skinned."""
    betas = np.asarray(betas, dtype=np.float64)
    if with_vertices:
        out = model(betas=betas, pose=pose, transl=transl)
        joints, skinning, vertices = out.joints, out.skinning_transforms, out.vertices
        rest_joints, shaped = out.rest_joints[0], out.shaped_vertices[0]
    else:
        rest = model(betas=betas)
        rest_joints, shaped = rest.rest_joints[0], rest.shaped_vertices[0]
        joints, skinning = _posed_joints(model, rest_joints, pose, transl)
    return ClipGeometry(
        pose=np.asarray(pose), transl=np.asarray(transl), betas=betas, body_to_world=body_to_world,
        joints_world=cam.transform_points(body_to_world, joints), skinning_transforms=skinning,
        rest_joints=rest_joints, shaped_vertices=shaped,
        vertices_world=cam.transform_points(body_to_world, vertices) if with_vertices else None,
        motion_frames=np.asarray(motion_frames),
    )


def _posed_joints(model: BodyModel, rest_joints: np.ndarray, pose, transl) -> tuple[np.ndarray, np.ndarray]:
    """(T x 24 x 3 joints, T x 24 x 4 x 4 skinning transforms): the model's forward kinematics."""
    pose = np.asarray(pose, dtype=np.float64).reshape(-1, rest_joints.shape[0], 3)
    transl = np.broadcast_to(np.asarray(transl, dtype=np.float64).reshape(-1, 3), (pose.shape[0], 3))
    world, skinning = lbs.rigid_transforms(lbs.axis_angle_to_matrix(pose),
                                           np.broadcast_to(rest_joints, (pose.shape[0],) + rest_joints.shape).copy(),
                                           model.data.parents)
    skinning[:, :, :3, 3] += transl[:, None]
    return world[:, :, :3, 3] + transl[:, None], skinning


def body_extent_spheres(model: BodyModel, geometry: ClipGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Spheres whose convex hull holds every vertex of the body in every rendered frame,
    from the joints alone: (T x S x 3 world centres, T x S radii).

    Why it holds: a skinned vertex is sum_k w_k S_k(v) with w_k >= 0 summing to 1, and S_k
    moves joint k's bone (the segments from joint k to its children) rigidly. So S_k(v) lies
    within r_k = max over vertices weighted to k of their distance to that rest bone of the
    posed bone, i.e. in the hull of two spheres of radius r_k at the bone's ends, and a
    weighted mean of such points lies in the hull of all of them. Pose correctives move a
    rest vertex by at most |posedirs_v|_F |f| (f = the pose features R_j - I), added to r_k.
    """
    data, rendered = model.data, geometry.rendered
    bones = [(k, _bone_ends(data.parents, k)) for k in range(data.parents.shape[0])]
    radius = [_bone_radius(geometry.shaped_vertices[data.weights[:, k] > 0], geometry.rest_joints, k, ends)
              for k, ends in bones]
    ends = np.array([end for k, children in bones for child in children for end in (k, child)])
    radii = np.array([radius[k] for k, children in bones for _ in children for _ in (0, 1)])
    corrective = _pose_corrective_bound(data.posedirs, geometry.pose[rendered])  # T
    return geometry.joints_world[rendered][:, ends], radii[None] + corrective[:, None]


def _bone_ends(parents: np.ndarray, k: int) -> np.ndarray:
    """The joints that end joint k's bones: its children, or itself for a leaf."""
    children = np.flatnonzero(parents == k)
    return children if len(children) else np.array([k])


def _bone_radius(points: np.ndarray, rest_joints: np.ndarray, k: int, ends: np.ndarray) -> float:
    """The farthest of ``points`` from joint k's nearest rest bone."""
    distance = np.min([_segment_distance(points, rest_joints[k], rest_joints[end]) for end in ends], axis=0)
    return float(distance.max(initial=0.0))


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each of N x 3 points to the segment a-b (a point when a == b)."""
    ab = b - a
    t = np.clip((points - a) @ ab / max(float(ab @ ab), 1e-300), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _pose_corrective_bound(posedirs: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """Per frame, the most any pose corrective moves a vertex: max_v |P_v|_F * |f|, where
    |R - I|_F^2 = 4 (1 - cos angle) for each non-root joint's rotation."""
    if not np.any(posedirs):
        return np.zeros(pose.shape[0])
    angles = np.linalg.norm(pose[:, 1:], axis=-1)
    feature_norm = np.sqrt(np.sum(4.0 * (1.0 - np.cos(angles)), axis=1))
    return np.sqrt(np.sum(posedirs ** 2, axis=(1, 2))).max() * feature_norm

"""Scene plans: a JSON-serialisable description of one clip, sampled from a seed alone.

A plan is the contract between the CLI and the Blender worker: any process on any machine
rebuilds the same plan from ``(seed, PlanOptions)``, and the worker turns a plan into pixels
without drawing a single random number of its own. Every random choice comes from its own
stream (``component_rng(seed, "camera")``, ...), so adding a component never changes the
others.

Defaults follow SURREAL (Varol et al. 2017): 320 x 240, 60 mm lens on a 32 mm sensor,
camera distance ~ N(8 m, 1 m) looking at the pelvis, random yaw, 100 frames at 30 fps, SH
coefficients sampled as in :func:`~synth_core.scene.lighting.sample_sh`. Unlike SURREAL, the
camera then moves back (and aside) just enough that the whole body stays in view in every
frame, unless ``PlanOptions.keep_body_in_view`` is False.
"""

from __future__ import annotations

import functools
import json
import zlib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from synth_core.body.catalog import BODY_SOURCES, load_body_model
from synth_core.body.phenotype import GENDERS, Phenotype, PhenotypeSpace
from synth_core.errors import MotionError, PlanError
from synth_core.scene import camera as cam
from synth_core.scene.lighting import sample_sh

PLAN_VERSION = 1
PASSES = ("rgb", "depth", "segmentation", "flow_forward", "flow_backward", "normals")
SHADINGS = ("osl", "nodes")
# Render engines: Cycles (every label exact, OSL or nodes) or Eevee (rasterized through OpenGL;
# nodes shading only, the part labels from an AOV).
ENGINES = ("cycles", "eevee")
# Scenes: "composite" (SURREAL: the body alone, composited over a 2-D background) or "grounded"
# (a shadow-catcher ground plane under the feet, lit from the SH; Cycles only).
SCENES = ("composite", "grounded")
MOTION_SOURCES = ("procedural", "amass", "bvh", "prior")
FILE_MOTION_SOURCES = ("amass", "bvh")  # motion read from the user's files
# Cycles devices (chosen per worker, not per plan); only the CPU and OptiX run OSL.
RENDER_DEVICES = ("cpu", "cuda", "optix", "hip", "metal", "oneapi")
OSL_DEVICES = ("cpu", "optix")
MAX_RESOLUTION = 4096
MAX_OCCLUDERS = 20
# Cameras: "static" (SURREAL's placement) or "perturbed" (Chen et al. 2016: Gaussian perturbations
# of elevation, azimuth and in-plane rotation with standard deviations of 15, 45 and 15 degrees,
# and a focal length drawn from PERTURBED_LENS_MM).
# "moving" (Doersch & Zisserman 2019): SURREAL's placement at the clip's middle frame, then panned,
# tilted, zoomed and dollied at constant rates drawn from N(0, CAMERA_MOTION_STD) (a hand-held or
# operated camera; the paper takes them from real videos), halved until the body stays in view.
CAMERAS = ("static", "perturbed", "moving")
CAMERA_MOTION_STD = {"pan_deg_s": 6.0, "tilt_deg_s": 2.0, "zoom_per_s": 0.1, "dolly_m_s": 0.3}
CAMERA_MOTION_HALVINGS = 6  # then the camera is still
MAX_MOVING_STEP_BACK = 1.5  # a moving camera may step back to this times its distance
PERTURBATION_STD_DEG = {"elevation": 15.0, "azimuth": 45.0, "roll": 15.0}
PERTURBED_LENS_MM = (35.0, 85.0)
MAX_ELEVATION_DEG = 80.0  # a perturbed camera never looks straight down or up
OPTIONAL_PARTS = ("occluders",)  # ScenePlan fields a plan may lack
MAX_SAMPLES = 4096


@dataclass(frozen=True)
class PlanOptions:
    """Everything a user may configure about the sampled distribution (SURREAL defaults)."""

    width: int = 320
    height: int = 240
    samples: int = 16
    shading: str = "osl"                 # "osl": sh.osl (Cycles CPU); "nodes": node group
    engine: str = "cycles"               # or "eevee" (needs shading "nodes")
    passes: tuple[str, ...] = PASSES
    persistent_data: bool = True
    rgb_format: str = "jpeg"
    n_frames: int = 100
    fps: float = 30.0
    lens_mm: float = 60.0
    sensor_width_mm: float = 32.0
    camera_distance_mean: float = 8.0
    camera_distance_std: float = 1.0
    camera_distance_min: float = 2.0
    camera_height: float = 0.0           # camera above (+) or below the target, metres
    camera_target: str = "mean_pelvis"   # or "first_pelvis" (SURREAL)
    keep_body_in_view: bool = True       # False: SURREAL's placement, the body may leave the frame
    body_source: str = "default"         # or "smpl" (licensed files)
    motion_source: str = "procedural"    # or "amass" (licensed files), "bvh", "prior" (Chen et al.)
    amass_files: tuple[str, ...] = ()    # motion files; with "prior", poses it learns from too
    bvh_files: tuple[str, ...] = ()
    prior_hold_s: float = 2.0            # "prior": a new key pose every this many seconds (0: still)
    background_kinds: tuple[str, ...] = ("hdri", "photo")
    background_dir: str | None = None
    background_videos: str | None = None  # a folder of videos (needs camera "moving": it follows them)
    texture_size: int = 1024
    texture_dir: str | None = None       # folder of UV texture images (None: procedural)
    visibility_margin_m: float = 0.15
    scene: str = "composite"             # or "grounded" (shadow catcher under the feet)
    occluders: int = 0                   # superpixel cards moved over the person (+ total occlusion)
    occluder_bank: str | None = None     # a bank from `synth occluders build` (None: the free one)
    camera: str = "static"               # or "perturbed", "moving" (CAMERAS)

    def __post_init__(self) -> None:
        validate_render_options(self.width, self.height, self.samples, self.passes,
                                self.shading, self.rgb_format, self.engine)
        if self.n_frames < 1 or self.n_frames > 100_000:
            raise PlanError(f"n_frames must be in 1..100000, got {self.n_frames}")
        if not self.fps > 0:
            raise PlanError(f"fps must be positive, got {self.fps}")
        if self.body_source not in BODY_SOURCES:
            raise PlanError(f"unknown body source {self.body_source!r}; expected one of {BODY_SOURCES}")
        if self.motion_source not in MOTION_SOURCES:
            raise PlanError(f"unknown motion source {self.motion_source!r}; expected one of {MOTION_SOURCES}")
        if self.motion_source == "amass" and not self.amass_files:
            raise PlanError("motion source 'amass' needs at least one AMASS .npz file")
        if self.motion_source == "bvh" and not self.bvh_files:
            raise PlanError("motion source 'bvh' needs at least one BVH file")
        if not self.prior_hold_s >= 0:
            raise PlanError(f"prior_hold_s must be >= 0 seconds, got {self.prior_hold_s}")
        if self.camera_target not in ("mean_pelvis", "first_pelvis"):
            raise PlanError(f"camera_target must be 'mean_pelvis' or 'first_pelvis', got {self.camera_target!r}")
        if not (self.lens_mm > 0 and self.sensor_width_mm > 0 and self.camera_distance_min > 0):
            raise PlanError("lens, sensor width and minimum camera distance must be positive")
        if not isinstance(self.keep_body_in_view, bool):
            raise PlanError(f"keep_body_in_view must be true or false, got {self.keep_body_in_view!r}")
        validate_scene(self.scene, self.engine)
        if self.camera not in CAMERAS:
            raise PlanError(f"unknown camera {self.camera!r}; expected one of {CAMERAS}")
        if self.background_videos and self.camera != "moving":
            raise PlanError("background videos move: the camera must follow them (camera 'moving')")
        if self.camera == "moving" and self.scene == "grounded":
            raise PlanError("a moving camera needs scene 'composite': its background plate moves as if at "
                            "infinity, which a grounded scene's ground plane does not")
        from synth_core.textures import MAX_SIZE, MIN_SIZE

        if not isinstance(self.texture_size, int) or not MIN_SIZE <= self.texture_size <= MAX_SIZE:
            raise PlanError(f"texture_size must be a whole number of texels in {MIN_SIZE}..{MAX_SIZE}, "
                            f"got {self.texture_size!r}")
        if not isinstance(self.occluders, int) or not 0 <= self.occluders <= MAX_OCCLUDERS:
            raise PlanError(f"occluders must be a whole number in 0..{MAX_OCCLUDERS}, got {self.occluders!r}")

    def to_dict(self) -> dict:
        """Plain JSON types (tuples become lists): what workers and config files carry."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "PlanOptions":
        """The inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise PlanError(f"unknown plan option(s) {', '.join(unknown)}")
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in data.items()})


def validate_render_options(width, height, samples, passes, shading, rgb_format, engine="cycles") -> None:
    """Raise :class:`PlanError` naming the first render option out of range."""
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, int) or not 16 <= value <= MAX_RESOLUTION:
            raise PlanError(f"{name} must be an integer in 16..{MAX_RESOLUTION}, got {value!r}")
    if not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise PlanError(f"samples must be an integer in 1..{MAX_SAMPLES}, got {samples!r}")
    unknown = [p for p in passes if p not in PASSES]
    if unknown or not passes:
        raise PlanError(f"unknown pass name(s) {unknown or passes!r}; choose from {', '.join(PASSES)}")
    if shading not in SHADINGS:
        raise PlanError(f"unknown shading {shading!r}; expected one of {SHADINGS}")
    if engine not in ENGINES:
        raise PlanError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    if engine == "eevee" and shading == "osl":
        raise PlanError("Eevee cannot run OSL shaders: use shading 'nodes' with engine 'eevee'")
    if rgb_format not in ("jpeg", "png"):
        raise PlanError(f"rgb_format must be 'jpeg' or 'png', got {rgb_format!r}")


def validate_scene(scene, engine: str = "cycles") -> None:
    """Raise :class:`PlanError` for an unknown scene, or one the engine cannot render."""
    if scene not in SCENES:
        raise PlanError(f"unknown scene {scene!r}; expected one of {SCENES}")
    if scene == "grounded" and engine != "cycles":
        raise PlanError("scene 'grounded' needs engine 'cycles' (its ground plane is a Cycles shadow catcher)")


@dataclass(frozen=True)
class ScenePlan:
    """One clip. All lists are plain JSON numbers; world coordinates are Z up (see
    :mod:`synth_core.scene.camera`)."""

    seed: int
    body: dict        # source, gender, betas
    motion: dict      # source, params (procedural) or path (amass), start, n_frames, fps;
                      # amass also requested_frames, available_frames (the file's, at fps)
    placement: dict   # yaw (radians about world Z)
    camera: dict      # lens_mm, sensor_width_mm, distance (to target), sampled_distance,
                      # location, target (world); optional roll, and motion (a moving camera:
                      # the rates of cam.CAMERA_MOTION_FIELDS from the middle rendered frame)
    lighting: dict    # sh: 9 coefficients, SURREAL order
    texture: dict     # procedural spec (synth_core.textures) or {"kind": "file", "path": ...}
    background: dict  # spec (synth_core.backgrounds)
    render: dict      # width, height, samples, shading, engine, passes, persistent_data, rgb_format, ...
    version: int = PLAN_VERSION
    occluders: dict | None = None  # cards and total occlusion (synth_core.occluders); None: none

    def to_dict(self) -> dict:
        """Plain JSON types; optional parts a plan does not have are left out (plans without
        them read and write as before)."""
        data = asdict(self)
        return {key: value for key, value in data.items() if not (key in OPTIONAL_PARTS and value is None)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "ScenePlan":
        names = {f.name for f in fields(cls)}
        missing = names - set(data) - {"version"} - set(OPTIONAL_PARTS)
        if missing:
            raise PlanError(f"scene plan lacks {sorted(missing)}")
        if data.get("version", PLAN_VERSION) != PLAN_VERSION:
            raise PlanError(f"scene plan version {data['version']} is not {PLAN_VERSION}")
        plan = cls(**{k: v for k, v in data.items() if k in names})
        validate_plan(plan)
        return plan

    @classmethod
    def from_json(cls, text: str) -> "ScenePlan":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"scene plan is not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @property
    def body_to_world(self) -> np.ndarray:
        """The body's yaw, and its ``placement["lift"]`` metres up world Z (snap to ground)."""
        matrix = cam.body_to_world(self.placement["yaw"])
        matrix[2, 3] = float(self.placement.get("lift", 0.0))
        return matrix

    @property
    def intrinsics(self) -> np.ndarray:
        c, r = self.camera, self.render
        return cam.intrinsics(c["lens_mm"], c["sensor_width_mm"], r["width"], r["height"])

    @property
    def extrinsics(self) -> np.ndarray:
        """World -> camera ``R|t``: at ``location`` looking at ``target``, turned by the optional
        ``camera["roll"]`` (radians about the viewing axis; absent: 0, :func:`cam.look_at`)."""
        return cam.look_at(self.camera["location"], self.camera["target"], roll=float(self.camera.get("roll", 0.0)))

    @property
    def moving_camera(self) -> bool:
        return "motion" in self.camera or "track" in self.camera

    def cameras(self) -> tuple[np.ndarray, np.ndarray]:
        """(K: N x 3 x 3, Rt: N x 3 x 4) of every padded frame (N = n_frames + 2, as
        :func:`synth_core.scene.clip.evaluate_clip`'s frames). A static camera repeats
        :attr:`intrinsics` / :attr:`extrinsics`; a moving one is that camera at the middle
        rendered frame, moved by ``camera["motion"]`` (:func:`cam.moved_camera`)."""
        from synth_core.scene.clip import PAD  # imported late: clip imports this module's users

        n = int(self.motion["n_frames"]) + 2 * PAD
        if not self.moving_camera:
            return np.repeat(self.intrinsics[None], n, axis=0), np.repeat(self.extrinsics[None], n, axis=0)
        c, r = self.camera, self.render
        if "track" in c:  # a background video's: turned and zoomed as its camera, about the same centre
            from synth_core.background_video import rotation_matrices

            turns = rotation_matrices(c["track"]["rotations"])
            rts = [np.concatenate([turn @ self.extrinsics[:, :3], (turn @ self.extrinsics[:, 3])[:, None]], axis=1)
                   for turn in turns]
            ks = [cam.intrinsics(focal * c["sensor_width_mm"] / r["width"], c["sensor_width_mm"], r["width"],
                                 r["height"]) for focal in c["track"]["focal_px"]]
            return np.array(ks), np.array(rts)
        seconds = (np.arange(n) - PAD - (int(self.motion["n_frames"]) - 1) / 2) / float(self.motion["fps"])
        moved = [cam.moved_camera(self.extrinsics, float(c["lens_mm"]), c["motion"], float(t)) for t in seconds]
        ks = np.array([cam.intrinsics(lens, c["sensor_width_mm"], r["width"], r["height"]) for _, lens in moved])
        return ks, np.array([rt for rt, _ in moved])


def validate_plan(plan: ScenePlan) -> None:
    """Check a plan's render options, sizes and values before any rendering starts."""
    r = plan.render
    validate_render_options(r["width"], r["height"], r["samples"], tuple(r["passes"]),
                            r["shading"], r["rgb_format"], r.get("engine", "cycles"))
    validate_scene(r.get("scene", "composite"), r.get("engine", "cycles"))
    if len(plan.lighting.get("sh", ())) != 9:
        raise PlanError("lighting.sh must hold 9 spherical-harmonics coefficients")
    if plan.motion.get("source") not in MOTION_SOURCES:
        raise PlanError(f"unknown motion source {plan.motion.get('source')!r}")
    if int(plan.motion["n_frames"]) < 1:
        raise PlanError(f"motion.n_frames must be >= 1, got {plan.motion['n_frames']}")
    values = [plan.placement["yaw"], plan.placement.get("lift", 0.0), *plan.camera["location"],
              *plan.camera["target"], plan.camera.get("roll", 0.0), *plan.lighting["sh"], *plan.body["betas"]]
    if not np.all(np.isfinite(np.asarray(values, dtype=np.float64))):
        raise PlanError("scene plan holds a non-finite number")
    if np.allclose(plan.camera["location"], plan.camera["target"], rtol=0.0, atol=1e-9):
        raise PlanError("camera.location and camera.target must differ (the camera looks from one to the other)")
    if plan.moving_camera:
        _validate_camera_motion(plan)
    _validate_body_options(plan.body)
    if plan.occluders is not None:
        _validate_occluders(plan.occluders)
    if plan.motion["source"] == "prior":
        keys = np.asarray(plan.motion.get("keys", ()), dtype=np.float64)
        if keys.ndim != 3 or keys.shape[1:] != (24, 3) or not np.all(np.isfinite(keys)):
            raise PlanError(f"motion.keys of a prior motion must be K x 24 x 3 finite axis-angles, got {keys.shape}")


def _validate_camera_motion(plan: ScenePlan) -> None:
    if "track" in plan.camera:
        _validate_camera_track(plan)
        return
    motion = plan.camera["motion"]
    if not isinstance(motion, dict) or sorted(motion) != sorted(cam.CAMERA_MOTION_FIELDS):
        raise PlanError(f"camera.motion must hold exactly {', '.join(cam.CAMERA_MOTION_FIELDS)}, got {motion!r}")
    if not all(isinstance(v, (int, float)) and np.isfinite(v) for v in motion.values()):
        raise PlanError(f"camera.motion holds a non-finite or non-numeric rate: {motion!r}")
    if plan.render.get("scene", "composite") == "grounded":
        raise PlanError("a moving camera needs scene 'composite' (a grounded scene's ground is not at infinity)")


def _validate_camera_track(plan: ScenePlan) -> None:
    track, n = plan.camera["track"], int(plan.motion["n_frames"]) + 2
    try:
        rotations = np.asarray(track["rotations"], dtype=np.float64)
        focal = np.asarray(track["focal_px"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise PlanError(f"camera.track must hold rotations ({n} x 3) and focal_px ({n}), got {track!r}") from None
    if rotations.shape != (n, 3) or focal.shape != (n,) or not np.all(np.isfinite(rotations)) or \
            not np.all(focal > 0):
        raise PlanError(f"camera.track must hold {n} finite rotation vectors and {n} positive focal lengths "
                        f"(the clip's frames and one more at each end), got {rotations.shape} and {focal.shape}")
    if plan.render.get("scene", "composite") == "grounded":
        raise PlanError("a moving camera needs scene 'composite' (a grounded scene's ground is not at infinity)")


def _validate_occluders(occluders: dict) -> None:
    from synth_core.occluders import load_occluder_bank

    cards = occluders.get("cards") if isinstance(occluders, dict) else None
    if not isinstance(cards, list) or "total" not in occluders:
        raise PlanError("occluders must be {'cards': [...], 'total': null or {'start', 'frames'}}")
    bank = len(load_occluder_bank(occluders.get("bank")))
    for card in cards:
        try:
            values = [card["height_px"], *card["centre_px"], *card["velocity_px"], card["depth_m"]]
            ok = 0 <= int(card["patch"]) < bank and card["height_px"] > 0 and card["depth_m"] > 0
        except (KeyError, TypeError, ValueError):
            ok, values = False, []
        if not ok or len(values) != 6 or not np.all(np.isfinite(values)):
            raise PlanError(f"occluder card {card!r} is not a card of the occluder bank ({bank} patches)")


def _validate_body_options(body: dict) -> None:
    """The optional body keys: ``model_path`` (an SMPL-format file, source "smpl") and
    ``pose_correctives`` (true or false; absent: true)."""
    path = body.get("model_path")
    if path is not None and (not isinstance(path, str) or not path or body.get("source") != "smpl"):
        raise PlanError(f"body.model_path must name an SMPL-format model file with source 'smpl', got {path!r}")
    if not isinstance(body.get("pose_correctives", True), bool):
        raise PlanError(f"body.pose_correctives must be true or false, got {body['pose_correctives']!r}")


def component_rng(seed: int, component: str) -> np.random.Generator:
    """An independent, platform-stable random stream for one component of a plan."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PlanError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(component.encode())]))


def sample_plan(seed: int, options: PlanOptions = PlanOptions()) -> ScenePlan:
    """The plan of clip ``seed``: the same on every machine for the same options."""
    body = _sample_body(component_rng(seed, "body"), options)
    motion = _sample_motion(component_rng(seed, "motion"), options)
    yaw = float(component_rng(seed, "placement").uniform(0.0, 2.0 * np.pi))
    plan = ScenePlan(
        seed=int(seed),
        body=body,
        motion=motion,
        placement={"yaw": yaw},
        camera={},
        lighting={"sh": sample_sh(component_rng(seed, "lighting")).tolist()},
        texture=_sample_texture(component_rng(seed, "texture"), options, body["gender"]),
        background=_sample_background(component_rng(seed, "background"), options),
        render={"width": options.width, "height": options.height, "samples": options.samples,
                "shading": options.shading, "engine": options.engine, "passes": list(options.passes),
                "persistent_data": options.persistent_data, "rgb_format": options.rgb_format,
                "visibility_margin_m": options.visibility_margin_m, "scene": options.scene},
    )
    plan = replace(plan, camera=_place_camera(component_rng(seed, "camera"), plan, options))
    if options.occluders:
        plan = replace(plan, occluders=_sample_occluders(component_rng(seed, "occluders"), plan, options))
    validate_plan(plan)
    return plan


def _sample_occluders(rng: np.random.Generator, plan: ScenePlan, options: PlanOptions) -> dict:
    from synth_core.occluders import load_occluder_bank, sample_occluders

    from synth_core.scene.clip import evaluate_clip

    geometry = evaluate_clip(plan, with_vertices=False)  # the cards cross where the person is
    ks, rts = plan.cameras()
    rendered = geometry.rendered
    joints_px = np.array([cam.project(k, rt, joints)[0] for k, rt, joints in
                          zip(ks[rendered], rts[rendered], geometry.joints_world[rendered])])
    box = (*joints_px.reshape(-1, 2).min(axis=0), *joints_px.reshape(-1, 2).max(axis=0))
    bank = options.occluder_bank
    occluders = sample_occluders(rng, options.occluders, options.n_frames, options.width, options.height,
                                 float(plan.camera["distance"]), len(load_occluder_bank(bank)),
                                 person_box_px=tuple(float(v) for v in box))
    return {**occluders, "bank": bank} if bank else occluders


def follow_body(previous: ScenePlan, plan: ScenePlan) -> ScenePlan:
    """``plan``, an edit of ``previous``'s body or motion, with its camera moved as the body
    moved: by the change of the pelvis' mean over the rendered frames (the point SURREAL's
    camera looks at). The camera keeps its distance, direction and lens: the artist's framing."""
    shift = _mean_pelvis(plan) - _mean_pelvis(previous)
    return camera_moved(plan, shift) if np.any(shift) else plan


def snap_to_ground(plan: ScenePlan) -> ScenePlan:
    """``plan`` with its body lifted (``placement["lift"]``) so that its lowest vertex over the
    rendered frames is at world z = 0, and the camera lifted with it: the same images, with the
    ground the feet reach at z = 0 in every 3-D label (joints, camera pose, body_to_world)."""
    from synth_core.scene.clip import evaluate_clip  # imported late, as in _place_camera

    geometry = evaluate_clip(plan)
    lowest = float(geometry.vertices_world[geometry.rendered, :, 2].min())
    plan = replace(plan, placement={**plan.placement, "lift": float(plan.placement.get("lift", 0.0)) - lowest})
    return camera_moved(plan, np.array([0.0, 0.0, -lowest]))


def camera_moved(plan: ScenePlan, shift) -> ScenePlan:
    """``plan`` with its camera's location and target moved by ``shift`` (world metres)."""
    camera = {**plan.camera, "location": (np.asarray(plan.camera["location"]) + shift).tolist(),
              "target": (np.asarray(plan.camera["target"]) + shift).tolist()}
    return replace(plan, camera=camera)


def _mean_pelvis(plan: ScenePlan) -> np.ndarray:
    from synth_core.scene.clip import evaluate_clip

    geometry = evaluate_clip(plan, with_vertices=False)
    return geometry.joints_world[geometry.rendered, 0].mean(axis=0)


def _sample_body(rng: np.random.Generator, options: PlanOptions) -> dict:
    gender = str(rng.choice(["female", "male"]))
    betas = sample_betas(rng, options.body_source, gender)
    return {"source": options.body_source, "gender": gender, "betas": betas}


def sample_betas(rng: np.random.Generator, source: str, gender: str) -> list[float]:
    """A random body shape of ``gender`` as sample_plan draws one: SMPL's 10 betas from a
    standard normal; the default body's from a random adult phenotype."""
    if source == "smpl":
        betas = rng.standard_normal(10)
    else:
        space = PhenotypeSpace(load_body_model("default"))
        phenotype = Phenotype(gender=GENDERS[gender],  # anny's order: 0 male, 1 female
                              age=space.age_parameter(float(rng.uniform(18.0, 70.0))),
                              muscle=float(rng.uniform(0.2, 0.8)), weight=float(rng.uniform(0.15, 0.85)),
                              height=float(rng.uniform(0.15, 0.85)),
                              proportions=float(rng.uniform(0.3, 0.7)))
        betas = space.betas(phenotype)
    return np.asarray(betas).ravel().tolist()


def _sample_motion(rng: np.random.Generator, options: PlanOptions) -> dict:
    if options.motion_source == "procedural":
        from synth_core.motion import sample_procedural_params
        return {"source": "procedural", "params": sample_procedural_params(rng), "start": 0,
                "n_frames": options.n_frames, "fps": options.fps}
    if options.motion_source == "prior":
        return prior_motion(rng, options.n_frames, options.fps, options.prior_hold_s, options.amass_files,
                            options.bvh_files)
    files = options.amass_files if options.motion_source == "amass" else options.bvh_files
    path = str(Path(files[int(rng.integers(len(files)))]).resolve())
    return file_motion(options.motion_source, path, options.fps, options.n_frames, rng=rng)


def prior_motion(rng: np.random.Generator, n_frames: int, fps: float, hold_s: float,
                 amass_files: tuple[str, ...] = (), bvh_files: tuple[str, ...] = ()) -> dict:
    """A pose-prior motion: key poses of the prior (learned from the procedural motions and the
    given AMASS and BVH files) for the padded frames, in the plan itself, so evaluating the plan
    needs no prior. ``hold_s``: seconds between key poses (0: one still pose)."""
    from synth_core.motion.prior import default_prior, sample_prior_keys
    from synth_core.scene.clip import PAD

    prior = default_prior(tuple(amass_files), tuple(bvh_files), float(fps))
    keys = sample_prior_keys(prior, rng, n_frames + 2 * PAD, fps, hold_s)
    return {"source": "prior", "keys": keys.tolist(), "hold_s": float(hold_s), "start": 0,
            "n_frames": int(n_frames), "fps": float(fps)}


def file_motion(source: str, path: str, fps: float, requested: int, start: int | None = None,
                rng: np.random.Generator | None = None) -> dict:
    """The motion of an AMASS or BVH file: ``requested`` frames (all of a shorter file but its
    first and last frame) from ``start``, else from a window drawn by ``rng``, else from the
    first; every window keeps a real motion frame before and after it, so the first frame's
    backward flow and the last frame's forward flow are real. MotionError names a file or
    window that cannot give that."""
    from synth_core.scene.clip import PAD

    available = motion_file_frames(source, path, fps)
    n_frames = min(requested, available - 2 * PAD)
    if n_frames < 1:
        raise MotionError(f"{path}: {source.upper()} file has {available} frame(s) at the clip's frame rate; "
                          f"a clip needs at least {1 + 2 * PAD} (one before and one after each rendered frame)")
    last = available - n_frames - PAD
    if start is None:
        start = int(rng.integers(PAD, last + 1)) if rng is not None else PAD
    elif not PAD <= int(start) <= last:
        raise MotionError(f"{path}: start frame {start} is outside {PAD}..{last}: the {n_frames}-frame clip needs "
                          f"a real frame before and after it in the file's {available} frames")
    return {"source": source, "path": path, "start": int(start), "n_frames": n_frames, "fps": fps,
            "requested_frames": requested, "available_frames": available}


def motion_file_frames(source: str, path: str, fps: float) -> int:
    """Frames of an AMASS or BVH file at ``fps``: read once per process (and again if it changes)."""
    if source not in FILE_MOTION_SOURCES:
        raise PlanError(f"motion source {source!r} has no file; expected one of {FILE_MOTION_SOURCES}")
    return _file_frames(source, path, float(fps), modified_ns(path))


@functools.lru_cache(maxsize=4096)
def _file_frames(source: str, path: str, fps: float, modified: int) -> int:
    from synth_core.motion import load_amass, load_bvh

    return (load_amass if source == "amass" else load_bvh)(path, target_fps=fps).n_frames


def modified_ns(path) -> int:
    """A file's change time in ns (a cache key that sees edits), -1 when it cannot be read (the
    loaders then name the missing file)."""
    try:
        return Path(path).stat().st_mtime_ns if path else -1
    except OSError:
        return -1


def _sample_texture(rng: np.random.Generator, options: PlanOptions, gender: str) -> dict:
    if options.texture_dir is not None:
        from synth_core.texture_dir import sample_texture_file
        return sample_texture_file(rng, options.texture_dir, options.body_source, gender)
    from synth_core.textures import sample_texture_spec
    return {"kind": "procedural", "size": options.texture_size, "spec": sample_texture_spec(rng)}


def _sample_background(rng: np.random.Generator, options: PlanOptions) -> dict:
    from synth_core.backgrounds import background_pool, sample_background_spec

    if options.background_videos:
        from synth_core.background_video import sample_video_spec, video_pool

        return sample_video_spec(rng, video_pool(options.background_videos), options.n_frames)
    pool = background_pool(kinds=options.background_kinds, user_dir=options.background_dir)
    return sample_background_spec(rng, pool)


def surreal_camera(plan: ScenePlan, options: PlanOptions = PlanOptions()) -> dict:
    """The camera :func:`sample_plan` places for ``plan``'s seed and ``options`` (SURREAL's rule,
    :func:`_place_camera`), around ``plan``'s body and motion as they are now: an edited plan's
    camera put back where sampling puts it (no roll)."""
    return _place_camera(component_rng(plan.seed, "camera"), plan, options)


def _place_camera(rng: np.random.Generator, plan: ScenePlan, options: PlanOptions) -> dict:
    """SURREAL's camera: the sampled distance in front of the pelvis (world -Y side); a
    "perturbed" camera then turns about the target by Chen et al.'s perturbations of azimuth and
    elevation, rolls, and takes a focal length from PERTURBED_LENS_MM (drawn from their own
    stream: static plans are as before). With ``keep_body_in_view`` it is finally moved back and
    aside just enough to see the whole body."""
    from synth_core.scene.clip import body_extent_spheres, body_model_of, evaluate_clip  # imported late

    geometry = evaluate_clip(plan, with_vertices=False)
    pelvis = geometry.joints_world[geometry.rendered, 0]
    target = pelvis.mean(axis=0) if options.camera_target == "mean_pelvis" else pelvis[0]
    sampled = max(float(rng.normal(options.camera_distance_mean, options.camera_distance_std)),
                  options.camera_distance_min)
    location = target + np.array([0.0, -sampled, options.camera_height])
    lens, roll = options.lens_mm, 0.0
    if options.camera == "perturbed":
        location, lens, roll = _perturbed(component_rng(plan.seed, "camera_perturbation"), location, target,
                                          grounded=plan.render.get("scene") == "grounded")
    if options.keep_body_in_view:
        centres, radii = body_extent_spheres(body_model_of(plan), geometry)
        rt = cam.look_at(location, target, roll=roll)
        k = cam.intrinsics(lens, options.sensor_width_mm, options.width, options.height)
        move = cam.move_to_contain(k, rt, options.width, options.height, centres.reshape(-1, 3), radii.ravel())
        location = location + rt[:, :3].T @ move
        target = target + rt[:, :3].T @ (move * [1.0, 1.0, 0.0])  # same view direction
    camera = {"lens_mm": lens, "sensor_width_mm": options.sensor_width_mm,
              "distance": float(np.linalg.norm(target - location)), "sampled_distance": sampled,
              "location": location.tolist(), "target": target.tolist(), **({"roll": roll} if roll else {})}
    if options.camera == "moving":
        camera = _moving(component_rng(plan.seed, "camera_motion"), replace(plan, camera=camera), geometry,
                         options.keep_body_in_view)
    return camera


def _moving(rng: np.random.Generator, plan: ScenePlan, geometry, keep_body_in_view: bool) -> dict:
    """``plan``'s camera with the rates of a moving camera (CAMERA_MOTION_STD). With
    ``keep_body_in_view`` it steps back along its view (up to MAX_MOVING_STEP_BACK times its
    distance) until every rendered frame shows the whole body; rates that would need more are
    halved, up to CAMERA_MOTION_HALVINGS times (then the camera is still). A photo's views
    must also stay inside the photo."""
    from synth_core.backgrounds import views_inside_source
    from synth_core.scene.clip import body_extent_spheres, body_model_of

    spheres = body_extent_spheres(body_model_of(plan), geometry) if keep_body_in_view else None
    if plan.background["projection"] == "video":  # the video's own motion: only stepping back helps
        return _stepped_back_to_show(plan, _video_camera(plan), geometry, spheres)[0]
    rates = {name: float(rng.normal(0.0, std)) for name, std in CAMERA_MOTION_STD.items()}
    r = plan.render
    for _ in range(CAMERA_MOTION_HALVINGS):
        camera, shown = _stepped_back_to_show(plan, {**plan.camera, "motion": rates}, geometry, spheres)
        moving = replace(plan, camera=camera)
        if shown and views_inside_source(plan.background, *moving.cameras(), moving.intrinsics, moving.extrinsics,
                                         r["height"], r["width"]):
            return camera
        rates = {name: rate / 2 for name, rate in rates.items()}
    return {**plan.camera, "motion": {name: 0.0 for name in rates}}


def _stepped_back_to_show(plan: ScenePlan, camera: dict, geometry, spheres) -> tuple[dict, bool]:
    """(``camera`` stepped back along its view until every rendered frame shows the body's
    extent ``spheres`` whole, whether it does): it may step back to MAX_MOVING_STEP_BACK times
    ``plan``'s camera distance. ``spheres`` None: the body need not be in view."""
    limit = MAX_MOVING_STEP_BACK * plan.camera["distance"]
    while spheres is not None:
        ks, rts = replace(plan, camera=camera).cameras()
        back = _step_back_needed(ks[geometry.rendered], rts[geometry.rendered], *spheres, plan.render)
        if back <= 1e-6:  # metres: rounding, not a real need
            break
        if camera["distance"] + back > limit:
            return camera, False
        camera = _stepped_back(camera, max(1.05 * back, 0.02 * plan.camera["distance"]))
    return camera, True


def _video_camera(plan: ScenePlan) -> dict:
    """``plan``'s camera following its background video's track from the window's middle frame,
    with the video's focal length (its estimate assumes the plan's lens)."""
    from synth_core.background_video import focal_to_lens_mm, rotation_vectors, window_track

    r, camera = plan.render, plan.camera
    assumed = plan.intrinsics[0, 0]
    n = int(plan.motion["n_frames"]) + 2
    turns, focal, exact = window_track(plan.background, n, r["width"], r["height"], assumed)
    middle = float(np.exp(np.mean(np.log(focal[[(n - 1) // 2, n // 2]]))))
    return {**camera, "lens_mm": focal_to_lens_mm(middle, camera["sensor_width_mm"], r["width"]),
            "track": {"rotations": rotation_vectors(turns), "focal_px": [float(f) for f in focal], "exact": exact}}


def _step_back_needed(ks: np.ndarray, rts: np.ndarray, centres: np.ndarray, radii: np.ndarray, render: dict) -> float:
    """The largest move (metres) any frame's camera needs, to see that frame's body whole."""
    return max(float(np.abs(cam.move_to_contain(k, rt, render["width"], render["height"], c, rad)).max())
               for k, rt, c, rad in zip(ks, rts, centres, radii))


def _stepped_back(camera: dict, metres: float) -> dict:
    location, target = np.asarray(camera["location"]), np.asarray(camera["target"])
    location = location - metres * (target - location) / np.linalg.norm(target - location)
    return {**camera, "location": location.tolist(), "distance": float(np.linalg.norm(target - location))}


def _perturbed(rng: np.random.Generator, location: np.ndarray, target: np.ndarray,
               grounded: bool) -> tuple[np.ndarray, float, float]:
    """(location, lens_mm, roll radians) of Chen et al.'s perturbed camera: azimuth about world Z
    and elevation about the target, at the same distance. A grounded scene's camera only looks
    down (|elevation|), so it stays above its ground."""
    offset = location - target
    distance = float(np.linalg.norm(offset))
    azimuth = np.arctan2(offset[1], offset[0]) + np.radians(rng.normal(0.0, PERTURBATION_STD_DEG["azimuth"]))
    change = rng.normal(0.0, PERTURBATION_STD_DEG["elevation"])
    elevation = np.degrees(np.arcsin(offset[2] / distance)) + (abs(change) if grounded else change)
    elevation = np.radians(np.clip(elevation, -MAX_ELEVATION_DEG, MAX_ELEVATION_DEG))
    roll = float(np.radians(rng.normal(0.0, PERTURBATION_STD_DEG["roll"])))
    lens = float(rng.uniform(*PERTURBED_LENS_MM))
    direction = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                          np.sin(elevation)])
    return target + distance * direction, lens, roll

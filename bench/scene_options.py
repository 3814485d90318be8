"""Cost of the realism and variety options of `synth render` against the default, measured in
the same run.

Renders the same seeds through the real worker with: the default (SURREAL's composite,
procedural texture), ``--scene grounded`` (ground plane, shadow catcher, sun from the SH),
``--texture-dir`` (image textures read from a folder; here procedural ones written to PNG
first), ``--camera perturbed``, ``--occluders 3``, ``--motion prior``, ``--bvh`` (a BVH
written from a procedural motion first), ``--camera moving`` and ``--camera moving
--background-videos`` (two free videos made first). Reports setup seconds (process start to the scene built), steady-state seconds per
frame (RGB + labels, frames 2..N) and the ratio to the default. Time to make one procedural
texture is printed too (it is part of every clip's setup).

    python bench/scene_options.py [--frames 6] [--res 320x240] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from render_frame import measure  # bench/render_frame.py: one clip through the real worker
from synth_cli.builders.background_videos import build_video
from synth_cli.commands.render import parse_resolution
from synth_core.body.catalog import load_body_model
from synth_core.motion import procedural_motion, write_bvh
from synth_core.scene.plan import PlanOptions, component_rng
from synth_core.textures import make_texture, sample_texture_spec


def write_texture_folder(folder: Path, count: int, size: int) -> float:
    """``count`` procedural textures as PNGs; returns seconds per texture made."""
    folder.mkdir(parents=True, exist_ok=True)
    model = load_body_model("default")
    start = time.perf_counter()
    for k in range(count):
        image = make_texture(model, sample_texture_spec(component_rng(k, "texture")), size=size)
        Image.fromarray(image).save(folder / f"texture_{k:02d}.png")
    return (time.perf_counter() - start) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--res", default="320x240")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    width, height = parse_resolution(args.res)
    base = PlanOptions(width=width, height=height, n_frames=args.frames, samples=args.samples)
    with tempfile.TemporaryDirectory() as tmp:
        texture_s = write_texture_folder(Path(tmp) / "textures", 3, base.texture_size)
        bvh = write_bvh(Path(tmp) / "walk.bvh", procedural_motion("walk", 3 * args.frames, base.fps),
                        load_body_model("default")(betas=None).rest_joints[0])
        videos = Path(tmp) / "videos"  # the free kind, with exact camera tracks
        for seed in range(2):
            build_video(videos / f"video_{seed}.mp4", seed, args.frames + 20, base.fps, width, height)
        variants = {
            "default (composite)": base,
            "--scene grounded": dataclasses.replace(base, scene="grounded"),
            "--texture-dir": dataclasses.replace(base, texture_dir=str(Path(tmp) / "textures")),
            "--camera perturbed": dataclasses.replace(base, camera="perturbed"),
            "--occluders 3": dataclasses.replace(base, occluders=3),
            "--motion prior": dataclasses.replace(base, motion_source="prior"),
            "--bvh": dataclasses.replace(base, motion_source="bvh", bvh_files=(str(bvh),)),
            "--camera moving": dataclasses.replace(base, camera="moving"),
            "moving + videos": dataclasses.replace(base, camera="moving", background_videos=str(videos)),
        }
        results = {}
        for name, options in variants.items():
            runs = [measure(options, seed, Path(tmp) / f"{''.join(c if c.isalnum() else '_' for c in name)}_{seed}") for seed in args.seeds]
            results[name] = {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}
    print(f"{args.res}, {args.frames} frames, {args.samples} samples, seeds {args.seeds}, Cycles CPU; "
          f"one procedural texture at {base.texture_size}: {texture_s:.2f} s")
    print(f"{'option':22} {'setup s':>8} {'s/frame':>8} {'x default':>9} {'KB/frame':>9}")
    reference = results["default (composite)"]["frame_s"]
    for name, result in results.items():
        print(f"{name:22} {result['setup_s']:8.2f} {result['frame_s']:8.3f} "
              f"{result['frame_s'] / reference:9.2f} {result['kb_per_frame']:9.1f}")


if __name__ == "__main__":
    main()

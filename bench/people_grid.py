"""A grid of sampled people seen from the front and from the back, rendered by the real
Blender worker at SURREAL's 320x240 (README image docs/people_front_back.jpg).

Each person is plan ``seed`` of the default options (SURREAL's camera, ~8 m away, body,
texture, lighting and background as sampled) standing still (the ``idle`` motion), turned to
face the camera (placement yaw 0: the body faces world -Y, where the camera is) and then
turned away (yaw + pi); the camera is placed again for each yaw as ``sample_plan`` does.
Rows alternate front and back, ``--per-row`` people each.

    python bench/people_grid.py [--seeds 0-7] [--per-row 4] [--out docs/people_front_back.jpg]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from synth_cli.commands.render import run_worker
from synth_core.dataset import read_clip
from synth_core.scene.plan import PlanOptions, _place_camera, component_rng, sample_plan

OPTIONS = PlanOptions(n_frames=1, passes=("rgb", "segmentation"), rgb_format="png")
STANDING = {"source": "procedural", "params": {"kind": "idle", "speed": 1.0, "amplitude": 0.5, "phase": 0.0,
                                               "mirror": False},
            "start": 0, "n_frames": 1, "fps": OPTIONS.fps}


def plan_facing(seed: int, yaw: float):
    """Plan ``seed`` standing still, turned by ``yaw`` (0: facing the camera), camera placed
    for that yaw."""
    plan = dataclasses.replace(sample_plan(seed, OPTIONS), motion=STANDING, placement={"yaw": float(yaw)})
    return dataclasses.replace(plan, camera=_place_camera(component_rng(seed, "camera"), plan, OPTIONS))


def render(plan, work: Path, name: str) -> np.ndarray:
    run_worker(plan, work / name)
    return read_clip(work / name).frame(0, ["rgb"])["rgb"]


def grid(seeds, per_row: int, work: Path) -> Image.Image:
    tiles = {}
    for seed in seeds:
        for view, yaw in (("front", 0.0), ("back", np.pi)):
            start = time.perf_counter()
            tiles[seed, view] = render(plan_facing(seed, yaw), work, f"{seed}_{view}")
            print(f"seed {seed} {view}: {time.perf_counter() - start:.1f} s", flush=True)
    height, width = tiles[seeds[0], "front"].shape[:2]
    rows = [seeds[i:i + per_row] for i in range(0, len(seeds), per_row)]
    canvas = Image.new("RGB", (per_row * width, 2 * len(rows) * height), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        for view_index, view in enumerate(("front", "back")):
            top = (2 * r + view_index) * height
            for c, seed in enumerate(row):
                canvas.paste(Image.fromarray(tiles[seed, view]), (c * width, top))
                draw.text((c * width + 4, top + 3), f"seed {seed} {view}", fill="white", stroke_width=2,
                          stroke_fill="black")
    return canvas


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-7", help="plan seeds: first-last or a,b,c")
    parser.add_argument("--per-row", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("docs/people_front_back.jpg"))
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="people-grid-") as work:
        image = grid(parse_seeds(args.seeds), args.per_row, Path(work))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, quality=args.quality)
    print(f"wrote {args.out}: {image.size[0]}x{image.size[1]}, {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()

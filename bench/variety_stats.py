"""Variety of the sampled clips (issue 12), over N plans of each option, as numbers and a PNG.

- camera: elevation, in-plane roll, distance and focal length, `--camera static` vs `perturbed`
  (measured from each plan's camera: location, target and R|t);
- poses: per joint and Euler axis, the share of the joint-limit range (10 bins per axis) that
  the clips' poses reach, procedural motion vs `--motion prior`;
- occluders (`--occluders 3`): the share of joints hidden by a card nearer than the joint, and of
  totally occluded frames;
- the moving camera (`--camera moving`): how far it turns (degrees per second, first to last
  frame), zooms (focal length ratio per second) and dollies, and the background's mean flow
  (pixels per frame, from the infinite homography).

    python bench/variety_stats.py [--plans 1000] [--frames 10] [--out docs/variety_stats.png]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from synth_core.body.parts import JOINT_NAMES  # noqa: E402
from synth_core.motion.limits import JOINT_LIMITS, limit_box_coverage  # noqa: E402
from synth_core.occluders import card_layer, load_occluder_bank, totally_occluded  # noqa: E402
from synth_core.scene import camera as cam  # noqa: E402
from synth_core.scene.clip import evaluate_clip  # noqa: E402
from synth_core.scene.plan import PlanOptions, sample_plan  # noqa: E402

BINS = 10


def camera_numbers(plan) -> dict:
    offset = np.asarray(plan.camera["location"]) - np.asarray(plan.camera["target"])
    right = plan.extrinsics[0, :3]
    return {"elevation_deg": float(np.degrees(np.arcsin(offset[2] / np.linalg.norm(offset)))),
            "roll_deg": float(np.degrees(np.arcsin(np.clip(-right[2], -1, 1)))),
            "distance_m": float(np.linalg.norm(offset)), "lens_mm": float(plan.camera["lens_mm"])}


def camera_motion_numbers(plan) -> dict:
    ks, rts = plan.cameras()
    seconds = (len(rts) - 1) / float(plan.motion["fps"])
    turn = rts[-1][:, :3] @ rts[0][:, :3].T
    angle = np.degrees(np.arccos(np.clip((np.trace(turn) - 1) / 2, -1, 1)))
    height, width = plan.render["height"], plan.render["width"]
    flows = [np.linalg.norm(cam.homography_flow(cam.infinite_homography(ks[t], rts[t], ks[t + 1], rts[t + 1]),
                                                height, width)[::8, ::8], axis=-1).mean() for t in range(len(rts) - 1)]
    return {"turn_deg_s": angle / seconds, "zoom_per_s": float(np.log(ks[-1][0, 0] / ks[0][0, 0]) / seconds),
            "dolly_m_s": float(np.linalg.norm(cam.camera_location(rts[-1]) - cam.camera_location(rts[0])) / seconds),
            "background_flow_px": float(np.mean(flows))}


def occluded_joints(plan, bank) -> tuple[int, int, int]:
    """(joint-frames hidden by a nearer card, joint-frames in view, totally occluded frames)."""
    geometry = evaluate_clip(plan, with_vertices=False)
    joints = geometry.joints_world[geometry.rendered]
    uv, z = cam.project(plan.intrinsics, plan.extrinsics, joints)
    height, width = plan.render["height"], plan.render["width"]
    total = totally_occluded(plan.occluders, len(joints))
    hidden = in_view = 0
    for t in range(len(joints)):
        px = np.rint(uv[t]).astype(int)
        inside = (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
        in_view += int(inside.sum())
        if total[t]:
            hidden += int(inside.sum())
            continue
        covered = np.zeros(len(px), dtype=bool)
        for card in plan.occluders["cards"]:
            mask, _ = card_layer(card, bank.patches[card["patch"]], t, height, width)
            under = inside & mask[np.clip(px[:, 1], 0, height - 1), np.clip(px[:, 0], 0, width - 1)]
            covered |= under & (z[t] > card["depth_m"])
        hidden += int(covered.sum())
    return hidden, in_view, int(total.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("docs/variety_stats.png"))
    args = parser.parse_args()
    base = PlanOptions(n_frames=args.frames, texture_size=64)
    seeds = range(args.plans)
    start = time.perf_counter()
    cameras = {name: [camera_numbers(sample_plan(s, dataclasses.replace(base, camera=name))) for s in seeds]
               for name in ("static", "perturbed")}
    poses = {name: np.concatenate([evaluate_clip(sample_plan(s, dataclasses.replace(base, motion_source=name)),
                                                 with_vertices=False).pose for s in seeds])
             for name in ("procedural", "prior")}
    bank = load_occluder_bank()
    counts = np.array([occluded_joints(sample_plan(s, dataclasses.replace(base, occluders=3)), bank) for s in seeds])
    moving = [camera_motion_numbers(sample_plan(s, dataclasses.replace(base, camera="moving"))) for s in seeds]
    seconds = time.perf_counter() - start

    print(f"{args.plans} plans per option, {args.frames} frames each ({seconds:.0f} s)")
    for name, rows in cameras.items():
        values = {key: np.array([row[key] for row in rows]) for key in rows[0]}
        print(f"camera {name:9}: " + ", ".join(f"{key} mean {v.mean():.2f} std {v.std():.2f} "
                                                 f"[{v.min():.1f}, {v.max():.1f}]" for key, v in values.items()))
    reach = {name: limit_box_coverage(p, BINS) for name, p in poses.items()}
    limited = [j for j, limit in enumerate(JOINT_LIMITS) if limit is not None]
    for name, r in reach.items():
        print(f"poses {name:10}: mean share of the limit ranges reached {r[limited].mean():.2f}")
    wider = int((reach["prior"][limited] > reach["procedural"][limited]).sum())
    print(f"prior reaches more of the range than procedural on {wider} of {3 * len(limited)} joint axes")
    hidden, in_view, total_frames = counts.sum(axis=0)
    print(f"occluders 3: {hidden / in_view:.1%} of in-view joint-frames hidden by a card nearer than the joint "
          f"(self-occlusion not counted); {total_frames / (args.plans * args.frames):.1%} of frames totally "
          f"occluded; {np.mean(counts[:, 0] > 0):.0%} of clips hide some joint")
    values = {key: np.abs([row[key] for row in moving]) for key in moving[0]}
    print("camera moving: " + ", ".join(f"|{key}| median {np.median(v):.3f} p90 {np.percentile(v, 90):.3f}"
                                        for key, v in values.items())
          + f"; still cameras {np.mean(values['turn_deg_s'] + values['dolly_m_s'] + values['zoom_per_s'] == 0):.1%}")

    figure, axes = plt.subplots(2, 4, figsize=(20, 8))
    for axis, key in zip(axes[0], ("elevation_deg", "roll_deg", "lens_mm")):
        axis.hist([row[key] for row in cameras["perturbed"]], bins=30, color="tab:orange", label="perturbed")
        axis.axvline(cameras["static"][0][key], color="tab:blue", lw=2, label="static (every plan)")
        axis.set_title(f"camera {key}")
        axis.legend()
    axes[1, 0].hist([row["distance_m"] for row in cameras["perturbed"]], bins=30, color="tab:orange")
    axes[1, 0].set_title("camera distance_m (perturbed, after keeping the body in view)")
    shares = {name: reach[name][limited].mean(axis=1) for name in reach}
    x = np.arange(len(limited))
    for offset, (name, share) in zip((-0.2, 0.2), shares.items()):
        axes[1, 1].bar(x + offset, share, width=0.4, label=name)
    axes[1, 1].set_xticks(x, [JOINT_NAMES[j] for j in limited], rotation=90, fontsize=7)
    axes[1, 1].set_title("share of each joint's limit box reached")
    axes[1, 1].legend()
    axes[1, 2].hist(counts[:, 0] / np.maximum(counts[:, 1], 1), bins=20, color="tab:green")
    axes[1, 2].set_title("per clip: share of joints hidden by cards (--occluders 3)")
    axes[0, 3].hist(values["turn_deg_s"], bins=30, color="tab:purple")
    axes[0, 3].set_title("moving camera: turn (deg/s, first to last frame)")
    axes[1, 3].hist(values["background_flow_px"], bins=30, color="tab:purple")
    axes[1, 3].set_title("moving camera: background flow (px/frame, mean)")
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

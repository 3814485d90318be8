"""What people and scenes `synth render` samples: appearance statistics over many plans, as a PNG.

Samples N scene plans exactly as `synth render` does (seeds 0..N-1 of the given options) and
counts skin tones, hair styles and colours, garment kinds and patterns, shoes and backgrounds.
Skin tones are measured, not read from the plan's labels: each sampled skin colour goes
through scikit-image's CIELAB conversion to its Individual Typology Angle
ITA = atan2(L* - 50, b*) in degrees, binned by the usual ITA ranges of skin types (very light
> 55 ... dark < -30, the ranges used to relate ITA to Fitzpatrick types I-VI).

    python bench/appearance_stats.py [--n 1000] [--out docs/appearance_stats.png] [--background-dir DIR]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np

from synth_core.scene.plan import PlanOptions, sample_plan

# ITA boundaries (degrees) between skin categories, light to dark (Chardon et al. 1991; Del Bino et al. 2006).
ITA_EDGES = (55.0, 41.0, 28.0, 10.0, -30.0)
ITA_CATEGORIES = ("very light", "light", "intermediate", "tan", "brown", "dark")


def individual_typology_angle(srgb: np.ndarray) -> np.ndarray:
    """ITA in degrees of sRGB colours in [0, 1] (n x 3), through scikit-image's CIELAB (D65)."""
    from skimage.color import rgb2lab

    lab = rgb2lab(np.asarray(srgb, dtype=np.float64).reshape(1, -1, 3)).reshape(-1, 3)
    return np.degrees(np.arctan2(lab[:, 0] - 50.0, lab[:, 2]))


def ita_category(ita: np.ndarray) -> np.ndarray:
    """Index into :data:`ITA_CATEGORIES` of each angle."""
    return np.searchsorted(-np.asarray(ITA_EDGES), -np.asarray(ita), side="right")


def describe(plan) -> dict:
    """The appearance facts of one plan (missing fields are reported as 'none')."""
    spec = plan.texture.get("spec") or {}
    top, bottom, shoes = spec.get("top") or {}, spec.get("bottom") or {}, spec.get("shoes") or {}
    hair = spec.get("hair") or {}
    background = plan.background["id"]
    return {
        "skin": spec.get("skin"),
        "hair style": str(hair.get("style", "none")),
        "hair colour": _nearest_hair_colour(hair["colour"]) if "colour" in hair else "none",
        "top": str(top.get("kind", "file texture" if plan.texture.get("kind") == "file" else "none")),
        "top pattern": str((top.get("fabric") or {}).get("pattern", "none")),
        "top front": str((top.get("front") or {}).get("kind", "none")),
        "bottom": str(bottom.get("kind", "none (dress)" if top.get("kind") == "dress" else "none")),
        "shoes": str(shoes.get("kind", "none")),
        "gender": plan.body["gender"],
        "background": background if not background.startswith("file:") else "file:" + Path(background).name,
    }


def _nearest_hair_colour(colour) -> str:
    """The name of the palette's hair colour nearest to a sampled one (samples are shaded and
    pushed away from the skin tone, so they rarely equal the palette's)."""
    from synth_core.textures import HAIR_COLOURS

    names = list(HAIR_COLOURS)
    palette = np.array([HAIR_COLOURS[name][0] for name in names], dtype=float)
    return names[int(np.argmin(((palette - np.asarray(colour)) ** 2).sum(axis=1)))]


def gather(n: int, options: PlanOptions) -> list[dict]:
    return [describe(sample_plan(seed, options)) for seed in range(n)]


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    skins = np.array([row["skin"] for row in rows if row["skin"] is not None])
    counted = ["hair style", "hair colour", "top", "top pattern", "top front", "bottom", "shoes", "background",
               "gender"]
    fig, axes = plt.subplots(3, 4, figsize=(18, 11))  # 2 skin panels + 9 counts
    axes = axes.ravel()
    if len(skins):
        ita = individual_typology_angle(skins)
        shares = np.bincount(ita_category(ita), minlength=len(ITA_CATEGORIES)) / len(ita)
        axes[0].bar(range(len(ITA_CATEGORIES)), shares, color=_category_colours(skins, ita))
        axes[0].set_xticks(range(len(ITA_CATEGORIES)), ITA_CATEGORIES, rotation=30, ha="right")
        axes[0].set_title("skin: share per ITA category (measured)")
        order = np.argsort(-ita)
        axes[1].imshow(skins[order][None].repeat(max(1, len(skins) // 8), axis=0), aspect="auto")
        axes[1].set_yticks([])
        axes[1].set_title(f"{len(skins)} sampled skin colours, light to dark")
    for ax, key in zip(axes[2:], counted):
        counts = Counter(row[key] for row in rows).most_common()
        names, values = zip(*counts)
        ax.barh(range(len(names)), np.asarray(values) / len(rows), color="tab:blue")
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.set_title(f"{key} (share of {len(rows)} plans)")
    for ax in axes[2 + len(counted):]:
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp, dpi=72)
    tmp.replace(out)
    plt.close(fig)


def _category_colours(skins: np.ndarray, ita: np.ndarray) -> list:
    """The mean sampled skin colour of each category (grey where a category is empty)."""
    index = ita_category(ita)
    return [skins[index == k].mean(axis=0) if np.any(index == k) else (0.8, 0.8, 0.8)
            for k in range(len(ITA_CATEGORIES))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="plans (seeds 0..n-1)")
    parser.add_argument("--out", type=Path, default=Path("docs/appearance_stats.png"))
    parser.add_argument("--background-dir", default=None)
    parser.add_argument("--texture-dir", default=None)
    args = parser.parse_args()
    extra = {"texture_dir": args.texture_dir} if args.texture_dir else {}
    options = PlanOptions(background_dir=args.background_dir, **extra)
    start = time.perf_counter()
    rows = gather(args.n, options)
    print(f"{args.n} plans sampled in {time.perf_counter() - start:.1f} s")
    skins = np.array([row["skin"] for row in rows if row["skin"] is not None])
    if len(skins):
        counts = np.bincount(ita_category(individual_typology_angle(skins)), minlength=len(ITA_CATEGORIES))
        print("skin (ITA):  " + ", ".join(f"{name} {c / len(skins):.1%}" for name, c in zip(ITA_CATEGORIES, counts)))
    for key in ("hair style", "hair colour", "top", "top pattern", "top front", "bottom", "shoes", "background"):
        counts = Counter(row[key] for row in rows).most_common()
        print(f"{key + ':':13} " + ", ".join(f"{name} {c / len(rows):.1%}" for name, c in counts))
    plot(rows, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

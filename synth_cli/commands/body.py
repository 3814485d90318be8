"""`synth body`: look at a body model (the free default body or licensed SMPL files)."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from rich.console import Console

from synth_core.body.catalog import BODY_SOURCES, GENDERS, load_body_model
from synth_core.body.parts import JOINT_NAMES, part_palette
from synth_core.body.phenotype import PhenotypeSpace
from synth_core.mesh_io import write_obj, write_ply

# A readable demo posture (axis-angle, radians): mid-stride, left arm waving.
DEMO_POSE = {
    "left_hip": (-0.5, 0.0, 0.0), "right_hip": (0.35, 0.0, 0.0),
    "left_knee": (0.6, 0.0, 0.0), "right_knee": (0.2, 0.0, 0.0),
    "left_shoulder": (0.0, 0.0, 0.9), "left_elbow": (0.0, -1.2, 0.0),
    "right_shoulder": (0.0, 0.0, 1.1), "spine2": (0.1, 0.0, 0.0), "head": (0.15, 0.3, 0.0),
}


def demo_pose() -> np.ndarray:
    pose = np.zeros((len(JOINT_NAMES), 3))
    for name, rotation in DEMO_POSE.items():
        pose[JOINT_NAMES.index(name)] = rotation
    return pose


@click.group()
def body() -> None:
    """Inspect body models: preview meshes, shapes and poses."""


@body.command("preview")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write into.")
@click.option("--source", type=click.Choice(BODY_SOURCES), default="default", show_default=True,
              help="default = the free anny-based body; smpl = your licensed files ($SYNTH_SMPL_DIR).")
@click.option("--gender", type=click.Choice(GENDERS), default="female", show_default=True)
@click.option("--height", "height_m", type=float, default=1.60, show_default=True,
              help="Standing height in metres (default body only).")
@click.option("--weight", default="heavy", show_default=True,
              help="low, average, heavy, ... or a number in [0, 1] (default body only).")
def preview(out: Path, source: str, gender: str, height_m: float, weight: str) -> None:
    """Write the body as OBJ (rest pose, with UVs) and PLY (posed, coloured by part), plus a PNG.

    With the default body the shape follows the description (gender, height, weight);
    with SMPL files the mean shape of the chosen gender is used.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from synth_cli.plots import draw_mesh, draw_skeleton

    console = Console()
    model = load_body_model(source, gender if source == "smpl" else "neutral")
    betas = np.zeros(model.num_betas)
    title = f"{source} body, mean shape"
    if source == "default":
        space = PhenotypeSpace(model)
        weight_value = float(weight) if _is_number(weight) else weight
        betas = space.describe(gender=gender, height_m=height_m, weight=weight_value)
        title = f"default body: {gender}, {space.height_m(betas):.2f} m, weight {weight}"

    out.mkdir(parents=True, exist_ok=True)
    rest = model(betas=betas)
    posed = model(betas=betas, pose=demo_pose())
    colors = part_palette()[model.part_labels]
    write_obj(out / "body_rest.obj", rest.vertices[0], model.faces, model.data.vt, model.data.ft)
    write_ply(out / "body_posed_parts.ply", posed.vertices[0], model.faces, colors)

    face_colors = colors[model.faces[:, 0]] / 255.0
    fig, axes = plt.subplots(1, 4, figsize=(16, 5.5))
    mean = model(betas=np.zeros(model.num_betas))
    draw_mesh(axes[0], mean.vertices[0], model.faces, face_colors, "front")
    draw_skeleton(axes[0], mean.joints[0], "front")
    axes[0].set_title("mean shape, rest pose, 24 parts")
    draw_mesh(axes[1], rest.vertices[0], model.faces, face_colors, "front")
    axes[1].set_title(title, fontsize=9)
    draw_mesh(axes[2], rest.vertices[0], model.faces, face_colors, "side")
    axes[2].set_title("side view (facing +Z, to the left)")
    draw_mesh(axes[3], posed.vertices[0], model.faces, face_colors, "front")
    draw_skeleton(axes[3], posed.joints[0], "front")
    axes[3].set_title("posed (SMPL axis-angle)")
    fig.suptitle("Rendering is not implemented yet: this previews the body model only.")
    fig.tight_layout()
    png = out / "body_preview.png"
    fig.savefig(png.with_name(png.name + ".tmp.png"), dpi=110)
    plt.close(fig)
    png.with_name(png.name + ".tmp.png").replace(png)
    console.print(f"Wrote {out / 'body_rest.obj'}, {out / 'body_posed_parts.ply'} and {png}")
    console.print("[yellow]Rendering clips (RGB, depth, segmentation, flow) comes next; "
                  "this demo previews the body model.[/]")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

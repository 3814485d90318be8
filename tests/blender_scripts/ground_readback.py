"""Build a grounded plan's scene in Blender and read back what Blender holds (run as a script).

    python ground_readback.py PLAN.json OUT.npz

Writes the ground object's world-space vertices, whether it is a shadow catcher and hidden in
renders, the body mesh's world-space vertices in each rendered frame (as Blender holds them
after the worker's set_posed_vertices), and the sun's direction (towards the light), strength
and the world's strength."""

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from blender_addon.scene import build_scene  # noqa: E402
from blender_addon.scene.body import set_posed_vertices  # noqa: E402
from blender_addon.scene.ground import GROUND_NAME, SUN_NAME  # noqa: E402
from blender_addon.worker import prepare_inputs  # noqa: E402
from synth_core.scene.plan import ScenePlan  # noqa: E402


def world_vertices(obj) -> np.ndarray:
    matrix = np.array(obj.matrix_world)
    local = np.array([v.co[:] for v in obj.data.vertices])
    return local @ matrix[:3, :3].T + matrix[:3, 3]


def main(plan_path: str, out_path: str) -> None:
    plan = ScenePlan.from_json(Path(plan_path).read_text())
    with tempfile.TemporaryDirectory() as work:
        geometry, texture, _ = prepare_inputs(plan, Path(work))
        built = build_scene(plan, geometry, texture)
        bodies = []
        for frame in range(geometry.rendered.start, geometry.rendered.stop):
            set_posed_vertices(built.mesh, geometry.vertices_world, frame)
            built.mesh.data.update()
            bodies.append(world_vertices(built.mesh))
        scene = built.scene
        scene.view_layers[0].update()  # matrix_world follows location/rotation after an update
        ground, sun = scene.objects[GROUND_NAME], scene.objects[SUN_NAME]
        sun_axis = np.array(sun.matrix_world)[:3, 2]  # a sun shines along its -Z axis
        world = scene.world.node_tree.nodes["Background"].inputs["Strength"].default_value
        np.savez(out_path, ground=world_vertices(ground), catcher=ground.is_shadow_catcher,
                 hidden=ground.hide_render, bodies=np.array(bodies), sun_direction=sun_axis,
                 sun_strength=sun.data.energy, world_strength=world)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

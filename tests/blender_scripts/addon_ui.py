"""Checks of the add-on's artist UI inside Blender (run as a script by tests/test_addon_ui.py).

    python addon_ui.py register
    python addon_ui.py panels
    python addon_ui.py misspelt
    python addon_ui.py ranges
    python addon_ui.py enabled
    python addon_ui.py operators OUT_DIR

Exits 0 when every check passes; an AssertionError (non-zero exit) names the first that fails.
The bpy module cannot draw Blender's UI, so panels draw into a LayoutRecorder that checks every
property and operator they name.
"""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import bpy  # noqa: E402

import blender_addon  # noqa: E402


def operator_exists(idname: str) -> bool:
    module, name = idname.split(".")
    try:
        getattr(getattr(bpy.ops, module), name).get_rna_type()
    except (AttributeError, KeyError):
        return False
    return True


class OperatorRecorder:
    """What layout.operator returns: setting a property checks that the operator has it."""

    def __init__(self, idname: str) -> None:
        module, name = idname.split(".")
        object.__setattr__(self, "_rna", getattr(getattr(bpy.ops, module), name).get_rna_type())

    def __setattr__(self, name, value):
        assert name in self._rna.properties, f"operator {self._rna.identifier} has no property {name!r}"


class LayoutRecorder:
    """A stand-in for a panel's ``layout`` that fails on what does not exist and records what
    was drawn (``drawn``: (data, property) pairs and operator ids), shared by its sub-layouts."""

    def __init__(self, drawn=None) -> None:
        self.drawn = drawn if drawn is not None else {"props": [], "operators": []}

    def _sub(self, *args, **kwargs):
        return LayoutRecorder(self.drawn)

    row = column = box = split = column_flow = grid_flow = _sub

    def label(self, text="", **kwargs):
        assert isinstance(text, str)

    def separator(self, **kwargs):
        pass

    def prop(self, data, name, index=-1, **kwargs):
        properties = data.bl_rna.properties
        assert name in properties or hasattr(data, name), f"{data!r} has no property {name!r}"
        if index >= 0:
            assert index < properties[name].array_length, f"{name}[{index}] is past its end"
        self.drawn["props"].append((data.bl_rna.identifier, name))

    def operator(self, idname, **kwargs):
        assert operator_exists(idname), f"no operator {idname!r}"
        self.drawn["operators"].append(idname)
        return OperatorRecorder(idname)


def draw(panel_class) -> dict:
    layout = LayoutRecorder()
    panel_class.draw(SimpleNamespace(layout=layout), bpy.context)
    return layout.drawn


def panel_classes():
    from blender_addon.ui import panels

    return panels.classes


def check_register() -> None:
    from blender_addon.ui import classes

    for _ in range(2):
        blender_addon.register()
        assert all(cls.is_registered for cls in classes)
        assert hasattr(bpy.context.scene, "synth")
        assert all(operator_exists(cls.bl_idname) for cls in classes if issubclass(cls, bpy.types.Operator))
        blender_addon.unregister()
        assert not any(cls.is_registered for cls in classes)
        assert not hasattr(bpy.types.Scene, "synth")
        assert not operator_exists("synth.sample_scene")


def visible_settings(group) -> set:
    """(group type, property) of every setting an artist may change: ``group``'s and, for the
    topic groups it points at, theirs."""
    visible = set()
    for prop in group.bl_rna.properties:
        if prop.identifier in ("rna_type", "name") or prop.is_hidden:
            continue
        if prop.type == "POINTER":
            visible |= visible_settings(getattr(group, prop.identifier))
        else:
            visible.add((group.bl_rna.identifier, prop.identifier))
    return visible


def check_panels() -> None:
    blender_addon.register()
    settings = bpy.context.scene.synth
    drawn = set()
    for with_plan in (False, True):  # the Plan panel draws a hint until there is a plan
        settings.plan_json = "{}" if with_plan else ""
        for cls in panel_classes():
            assert (cls.bl_space_type, cls.bl_region_type, cls.bl_category) == ("VIEW_3D", "UI", "Synth")
            result = draw(cls)
            assert result["props"] or result["operators"], f"{cls.__name__} drew nothing"
            drawn.update(result["props"])
    # Every setting an artist may change is on a panel, those of the topic groups too.
    visible = visible_settings(settings)
    assert visible <= drawn, f"settings on no panel: {sorted(visible - drawn)}"
    print(json.dumps({"drawn": sorted(".".join(item) for item in drawn)}))


def check_ranges() -> None:
    """Each setting's default is PlanOptions', and its range is what PlanOptions accepts."""
    from dataclasses import replace

    from blender_addon.ui.properties import SynthSettings, pass_property
    from synth_core.errors import PlanError
    from synth_core.scene.plan import PASSES, SCENES, SHADINGS, PlanOptions

    blender_addon.register()
    defaults, properties = PlanOptions(), SynthSettings.bl_rna.properties
    for setting, option in (("width", "width"), ("height", "height"), ("samples", "samples"),
                            ("frames", "n_frames")):
        rna = properties[setting]
        assert rna.default == getattr(defaults, option), setting
        replace(defaults, **{option: rna.hard_min})
        replace(defaults, **{option: rna.hard_max})
        for outside in (rna.hard_min - 1, rna.hard_max + 1):
            try:
                replace(defaults, **{option: outside})
            except PlanError:
                continue
            raise AssertionError(f"{setting}: PlanOptions accepts {outside}, outside the setting's range")
    assert [item.identifier for item in properties["shading"].enum_items] == list(SHADINGS)
    assert [item.identifier for item in properties["scene_kind"].enum_items] == list(SCENES)
    assert properties["shading"].default == defaults.shading and properties["scene_kind"].default == defaults.scene
    assert [name for name in PASSES if properties[pass_property(name)].default] == list(defaults.passes)
    from blender_addon.ui.properties.look import LookSettings
    assert LookSettings.bl_rna.properties["sh"].array_length == 9 and properties["plan_json"].is_hidden


def check_misspelt() -> None:
    """The recorder fails on a misspelt property, array index or operator id."""
    blender_addon.register()
    settings = bpy.context.scene.synth
    for bad in (lambda layout: layout.prop(settings, "seeed"),
                lambda layout: layout.row().prop(settings, "sh", index=9),
                lambda layout: layout.box().operator("synth.sample_scen"),
                lambda layout: setattr(layout.operator("synth.render_clip"), "directoy", "/tmp")):
        try:
            bad(LayoutRecorder())
        except AssertionError as exc:
            print("caught:", exc)
        else:
            raise AssertionError("the layout recorder accepted a misspelt name")


def check_operators(out_dir: Path) -> None:
    from blender_addon.ui.properties import plan_options
    from blender_addon.ui.operators.common import body_materials
    from blender_addon.scene.materials import SH_NAMES
    from synth_core.scene.lighting import sample_sh
    from blender_addon.ui.properties import pass_property
    from synth_core.scene.plan import PASSES, sample_plan

    bpy.ops.wm.read_factory_settings()  # the default scene: cube, camera, light
    blender_addon.register()
    settings = bpy.context.scene.synth
    settings.seed, settings.width, settings.height, settings.samples, settings.frames = 7, 64, 48, 1, 1

    assert bpy.ops.synth.sample_scene() == {"FINISHED"}
    settings = bpy.context.scene.synth
    expected = sample_plan(7, plan_options(settings))
    assert (settings.seed, settings.width, settings.height) == (7, 64, 48), "settings lost on building"
    assert settings.plan_json == expected.to_json()
    assert "Cube" not in bpy.data.objects and len(body_materials()) > 0
    assert np.allclose(settings.look.sh, expected.lighting["sh"], atol=1e-6)

    sh_seed = settings.look.sh_seed
    assert bpy.ops.synth.sample_sh() == {"FINISHED"}
    sampled = sample_sh(np.random.default_rng(sh_seed))
    assert np.array_equal(np.float32(settings.look.sh), np.float32(sampled))
    assert np.array_equal(np.float32(json.loads(settings.plan_json)["lighting"]["sh"]), np.float32(sampled))
    for material in body_materials():
        node = material.node_tree.nodes["SH"]
        assert np.array_equal(np.float32([node.inputs[n].default_value for n in SH_NAMES]), np.float32(sampled))
    assert settings.look.sh_seed == sh_seed + 1

    exported = out_dir / "plan.json"
    before = settings.plan_json
    assert bpy.ops.synth.export_plan(filepath=str(exported)) == {"FINISHED"}
    assert json.loads(exported.read_text()) == json.loads(before)
    assert not list(out_dir.glob("*.tmp")), "the export left a temporary file"
    settings.plan_json = ""
    settings.seed, settings.width, settings.pass_depth = 99, 320, False
    assert bpy.ops.synth.import_plan(filepath=str(exported)) == {"FINISHED"}
    settings = bpy.context.scene.synth
    assert settings.plan_json == before, "export -> import changed the plan"
    assert (settings.seed, settings.width, settings.pass_depth) == (7, 64, True), "the panels do not show the plan"
    bpy.ops.wm.save_as_mainfile(filepath=str(out_dir / "scene.blend"))
    assert all(image.packed_file for image in bpy.data.images if image.source == "FILE"), "texture not saved"

    settings = bpy.context.scene.synth
    settings.pass_normals = False  # the Ground truth panel's passes go into the exported plan
    assert bpy.ops.synth.export_plan(filepath=str(out_dir / "no_normals.json")) == {"FINISHED"}
    assert json.loads((out_dir / "no_normals.json").read_text())["render"]["passes"] == [
        name for name in json.loads(before)["render"]["passes"] if name != "normals"]
    for name in PASSES:
        setattr(settings, pass_property(name), False)
    try:
        bpy.ops.synth.export_plan(filepath=str(out_dir / "no_passes.json"))
    except RuntimeError as exc:
        assert "no pass chosen" in str(exc), exc
    else:
        raise AssertionError("exporting a plan without passes did not fail")
    assert not (out_dir / "no_passes.json").exists()
    for name in PASSES:
        setattr(settings, pass_property(name), True)

    not_a_plan = out_dir / "not_a_plan.json"
    not_a_plan.write_text('{"hello": 1}')
    try:
        bpy.ops.synth.import_plan(filepath=str(not_a_plan))
    except RuntimeError as exc:  # bpy.ops raises an operator's ERROR report
        assert "not_a_plan.json is not a scene plan" in str(exc), exc
    else:
        raise AssertionError("importing a file that is not a plan did not fail")
    assert bpy.context.scene.synth.plan_json == before, "a failed import changed the plan"

    assert bpy.ops.synth.render_clip(directory=str(out_dir / "addon")) == {"FINISHED"}
    assert bpy.context.scene.synth.plan_json == before
    try:  # a finished clip is never overwritten
        bpy.ops.synth.render_clip(directory=str(out_dir / "addon"))
    except RuntimeError as exc:
        assert "already exists" in str(exc), exc
    else:
        raise AssertionError("rendering over a finished clip did not fail")
    assert bpy.context.scene.synth.plan_json == before and bpy.context.scene.synth.width == 64


def check_enabled_addon() -> None:
    """Enabled as Blender enables add-ons (addon_utils, the preferences' list), building a scene
    keeps the add-on registered and the scene's settings."""
    import addon_utils

    addon_utils.enable("blender_addon", default_set=True, handle_error=lambda exc: print("ERROR", exc))
    settings = bpy.context.scene.synth
    settings.seed, settings.width, settings.height, settings.samples, settings.frames = 3, 64, 48, 1, 1
    try:
        bpy.ops.synth.sample_scene()
    except RuntimeError as exc:
        raise AssertionError(f"sample scene failed in the enabled add-on: {exc}") from exc
    assert hasattr(bpy.types.Scene, "synth"), "building the scene disabled the add-on"
    assert bpy.context.scene.synth.width == 64 and bpy.context.scene.synth.plan_json


def main(argv) -> None:
    checks = {"register": check_register, "panels": check_panels, "misspelt": check_misspelt, "ranges": check_ranges,
              "enabled": check_enabled_addon,
              "operators": lambda: check_operators(Path(argv[1]))}
    checks[argv[0]]()
    print("OK", argv[0])


if __name__ == "__main__":
    main(sys.argv[1:])

"""Install the extension zip into an emulated Blender and use it (tests/test_addon_package.py).

Run as ``python -I -S addon_package.py SITE ZIP OUT_JSON CLIP_DIR SEED OPTIONS_JSON`` with
BLENDER_USER_RESOURCES pointing at an empty folder. ``SITE`` holds only bpy and numpy (what a
Blender binary has besides the standard library), so Pillow, OpenEXR, scipy, scikit-image and
this repository's packages import only if the installed extension brings them. The zip is
installed and enabled by Blender's own extension code (the operator behind "Install from Disk"
and ``blender --command extension install-file``); then a plan is sampled and rendered through
the add-on's worker. Everything measured goes to OUT_JSON.
"""

import importlib.util
import json
import sys
import traceback
from pathlib import Path

site, zip_path, out_json, clip_dir, seed, options_json = sys.argv[1:7]
sys.path.append(site)
OPTIONAL = ("PIL", "OpenEXR", "scipy", "skimage", "synth_core", "blender_addon", "synth_cli")
report = {"importable_before": [name for name in OPTIONAL if importlib.util.find_spec(name)]}


def main() -> None:
    import bpy

    bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    report["enabled"] = "bl_ext.user_default.synth_humans" in bpy.context.preferences.addons
    report["importable_after"] = [name for name in OPTIONAL if importlib.util.find_spec(name)]

    import blender_addon.ui
    import synth_core
    from synth_core import assets
    from synth_core.backgrounds import background_pool
    from synth_core.scene.plan import PlanOptions, sample_plan

    report["synth_core_file"] = synth_core.__file__
    report["unregistered_classes"] = [cls.__name__ for cls in blender_addon.ui.classes if not cls.is_registered]
    report["datafiles"] = bpy.utils.system_resource("DATAFILES")
    report["declared_datafiles"] = str(assets.blender_datafiles())  # by the add-on's register()
    report["city_hdri"] = str(assets.resolve(assets.get_asset("hdri/city")))
    report["pool"] = background_pool()
    plan = sample_plan(int(seed), PlanOptions.from_dict(json.loads(options_json)))
    report["plan"] = plan.to_dict()

    from blender_addon import worker

    work_dir = Path(clip_dir).parent / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    worker.render_clip(plan, Path(clip_dir), work_dir)
    report["clip_files"] = sorted(path.name for path in Path(clip_dir).iterdir())
    report["modules_from"] = sorted({Path(module.__file__).parts[-2] for name, module in sys.modules.items()
                                     if name.split(".")[0] in ("PIL", "OpenEXR") and getattr(module, "__file__", None)})


try:
    main()
except BaseException:  # the test shows what failed
    report["error"] = traceback.format_exc()
Path(out_json).write_text(json.dumps(report, indent=1, default=str))

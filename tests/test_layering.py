"""Layering: synth_core is pure numpy; nothing outside blender_addon imports bpy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_synth_core_runs_without_heavy_dependencies():
    blocked = ["bpy", "torch", "scipy", "matplotlib", "click", "rich", "smplx", "anny", "trimesh", "cv2"]
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import pkgutil, importlib, synth_core\n"
        "for mod in pkgutil.walk_packages(synth_core.__path__, 'synth_core.'):\n"
        "    importlib.import_module(mod.name)\n"
        "from synth_core.body.catalog import load_body_model\n"
        "from synth_core.body.phenotype import PhenotypeSpace\n"
        "m = load_body_model()\n"
        "b = PhenotypeSpace(m).describe(gender='female', height_m=1.6)\n"
        "print(m(betas=b).vertices.shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "(1, " in result.stdout


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_addon_imports_bpy():
    for package in ("synth_core", "synth_cli", "trainers"):
        for path in (ROOT / package).rglob("*.py"):
            assert "bpy" not in _imports(path), f"{path} imports bpy"


# The one exception: background videos need OpenCV (decoding, corner tracking, homographies) and
# scipy (rotations, the least-squares fit of a camera's turn), imported inside its functions, so
# synth_core still imports without them (the test above) and only `--background-videos` needs them.
OPTIONAL_IMPORTS = {"background_video.py": {"cv2", "scipy"}}


def test_synth_core_imports_only_numpy_and_stdlib():
    allowed = {"numpy", "synth_core", "__future__", "PIL", "OpenEXR"} | set(sys.stdlib_module_names)
    for path in (ROOT / "synth_core").rglob("*.py"):
        extra = _imports(path) - allowed - OPTIONAL_IMPORTS.get(path.name, set())
        assert not extra, f"{path} imports {extra}"


def test_the_optional_imports_are_inside_functions():
    for name, modules in OPTIONAL_IMPORTS.items():
        tree = ast.parse((ROOT / "synth_core" / name).read_text())
        top_level = {alias.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import) for alias in node.names}
        top_level |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom) and node.module}
        assert not top_level & modules, f"synth_core/{name} imports {top_level & modules} at module level"


def test_trainers_import_without_blender_or_the_cli():
    """The trainers run on GPU machines that have torch but no bpy (and need no CLI)."""
    allowed = {"numpy", "torch", "cv2", "PIL", "imageio", "matplotlib", "rich", "synth_core", "trainers",
               "__future__"} | set(sys.stdlib_module_names)
    for path in (ROOT / "trainers").rglob("*.py"):
        extra = _imports(path) - allowed
        assert not extra, f"{path} imports {extra}"
    code = ("import sys\n"
            "for name in ('bpy', 'blender_addon', 'synth_cli', 'click'): sys.modules[name] = None\n"
            "import pkgutil, importlib, trainers\n"
            "for mod in pkgutil.walk_packages(trainers.__path__, 'trainers.'):\n"
            "    importlib.import_module(mod.name)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr

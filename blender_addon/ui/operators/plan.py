"""The Plan panel's operators: export the current plan as JSON (``synth render --plan FILE``
renders it) and import a plan."""

from pathlib import Path

import bpy
from bpy.props import StringProperty
from bpy_extras.io_utils import ExportHelper, ImportHelper

from synth_core.errors import SynthError
from synth_core.scene.plan import ScenePlan

from .common import build_plan, plan_to_write

PLAN_FILTER = "*.json"


class SYNTH_OT_export_plan(bpy.types.Operator, ExportHelper):
    """Write the current scene plan as JSON (`synth render --plan FILE` renders it)"""

    bl_idname = "synth.export_plan"
    bl_label = "Export Plan"
    filename_ext = ".json"
    filter_glob: StringProperty(default=PLAN_FILTER, options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return bool(context.scene.synth.plan_json)

    def execute(self, context):
        from synth_core.mesh_io import _atomic_write

        try:
            plan = plan_to_write(context.scene.synth)
            _atomic_write(Path(self.filepath), (plan.to_json() + "\n").encode())
        except (SynthError, OSError) as exc:
            self.report({"ERROR"}, f"cannot export the plan to {self.filepath}: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Wrote {self.filepath}")
        return {"FINISHED"}


class SYNTH_OT_import_plan(bpy.types.Operator, ImportHelper):
    """Read a scene plan (JSON) and build its scene"""

    bl_idname = "synth.import_plan"
    bl_label = "Import Plan"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".json"
    filter_glob: StringProperty(default=PLAN_FILTER, options={"HIDDEN"})

    def execute(self, context):
        path = Path(self.filepath)
        try:
            plan = ScenePlan.from_json(path.read_text())
        except (SynthError, OSError, UnicodeDecodeError) as exc:
            self.report({"ERROR"}, f"{path.name} is not a scene plan: {exc}")
            return {"CANCELLED"}
        try:
            build_plan(context, plan)
        except SynthError as exc:
            self.report({"ERROR"}, f"cannot build the plan in {path.name}: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Built the plan in {path.name}")
        return {"FINISHED"}


classes = (SYNTH_OT_export_plan, SYNTH_OT_import_plan)

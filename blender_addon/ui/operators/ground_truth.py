"""The Ground truth panel's operators: render the timeline's frame and show every pass side by
side (Render This Frame), and render the current plan into a clip folder (Render Clip).

Both render through the headless worker's own functions (:func:`blender_addon.worker.render_frame`,
:func:`blender_addon.worker.clip_steps`): the pixels are the CLI's. Render Clip started from its
button runs as a modal operator, one frame per window-manager timer tick, with its progress in
the status bar and the panel; Esc cancels it, and the worker's clip writer then removes its
partial folder. Run from a script (``bpy.ops.synth.render_clip(directory=...)``) it renders to the
end at once.
"""

import tempfile
from contextlib import contextmanager
from pathlib import Path

import bpy
from bpy.props import BoolProperty, StringProperty

from synth_core.errors import PlanError, RenderError, SynthError

from .common import clip_frame, plan_to_write, rebuilt, store_plan

PASSES_IMAGE = "Synth passes"
TIMER_S = 0.05  # how often the modal render checks for its next step (each step renders a frame)
NO_PLAN = "no plan yet: sample a scene or import a plan first"
RENDERING = "a clip is rendering: wait for it, or press Esc to cancel it"


@contextmanager
def timeline_paused():
    """The add-on's frame-change handlers held off while the worker renders: Blender runs them
    inside every render, and they would pose the body at the timeline's frame, not the one being
    rendered. Afterwards the timeline's frame is set again (the body shows it)."""
    package = __name__.partition(".ui.")[0]  # blender_addon, or the extension's package
    held = [(handlers, handler) for handlers in (bpy.app.handlers.frame_change_pre, bpy.app.handlers.frame_change_post)
            for handler in list(handlers) if getattr(handler, "__module__", "").startswith(package + ".")]
    for handlers, handler in held:
        handlers.remove(handler)
    try:
        yield
    finally:
        for handlers, handler in held:
            if handler not in handlers:
                handlers.append(handler)
        if held:
            bpy.context.scene.frame_set(bpy.context.scene.frame_current)


class ClipProgress:
    """The clip render in progress (one at a time), for the panel and the status bar."""

    out: Path | None = None  # the clip folder being rendered; None when no render runs
    done = 0
    total = 0

    @classmethod
    def text(cls) -> str:
        return f"{cls.out.name}: {cls.done}/{cls.total} renders"


def no_render_possible(cls, context) -> bool:
    """An operator's poll: False with the reason (Blender shows it) while no render can start."""
    reason = NO_PLAN if not context.scene.synth.plan_json else RENDERING if ClipProgress.out else None
    if reason:
        cls.poll_message_set(reason)
    return reason is None


class SYNTH_OT_render_frame(bpy.types.Operator):
    """Render every pass of the timeline's frame of the current plan, as the clip would have it,
    and show them side by side in an Image Editor (image "Synth passes")"""

    bl_idname = "synth.render_frame"
    bl_label = "Render This Frame"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return no_render_possible(cls, context)

    def execute(self, context):
        from blender_addon.render.images import store_image
        from blender_addon.scene import built_scene_in
        from blender_addon.worker import render_frame
        from synth_core.visualize import pass_sheet

        if not context.scene.synth.plan_json:
            self.report({"ERROR"}, f"cannot render a frame: {NO_PLAN}")
            return {"CANCELLED"}
        plan = None
        try:
            plan = plan_to_write(context.scene.synth)
            index = clip_frame(context.scene, plan)
            previous = built_scene_in(context.scene, plan)  # updated in place: no new file
            with tempfile.TemporaryDirectory(prefix="synth-addon-frame-") as work_dir, timeline_paused():
                if previous is None:
                    with rebuilt(context):
                        _, arrays = render_frame(plan, index, Path(work_dir))
                else:
                    _, arrays = render_frame(plan, index, Path(work_dir), previous=previous)
        except (SynthError, OSError) as exc:
            self.report({"ERROR"}, f"cannot render frame {bpy.context.scene.frame_current}: {exc}")
            return {"CANCELLED"}
        finally:
            restore_render_settings(bpy.context, plan)
        image = store_image(PASSES_IMAGE, pass_sheet(arrays)[0])
        where = "shown in an Image Editor" if show_image(bpy.context, image) else "no window to show it in"
        self.report({"INFO"}, f"Rendered clip frame {index} ({', '.join(arrays)}) into the image "
                              f"{PASSES_IMAGE!r}: {where}")
        return {"FINISHED"}


def restore_render_settings(context, plan) -> None:
    """The scene's render settings as a build leaves them (the worker's last render set a
    border and its EXR output): the artist's own F12 renders the whole frame."""
    from blender_addon.scene import configure_render_settings

    if plan is not None:
        configure_render_settings(context.scene, plan)


def show_image(context, image) -> bool:
    """Show ``image`` in an Image Editor: the current screen's, else the one Blender's render
    view opens (a new window by default, as F11). False without a window (background mode)."""
    if bpy.app.background or context.window is None:
        return False
    editors = image_editors(context.window_manager)
    if not editors:
        try:
            bpy.ops.render.view_show("INVOKE_DEFAULT")
        except RuntimeError:
            return False
        editors = image_editors(context.window_manager)
    for area in editors[:1]:
        area.spaces.active.image = image
        area.tag_redraw()
    return bool(editors)


def image_editors(window_manager) -> list:
    """The Image Editor areas of every window, the current screen's first."""
    areas = [area for window in window_manager.windows for area in window.screen.areas]
    current = bpy.context.screen
    areas.sort(key=lambda area: area.id_data != current)
    return [area for area in areas if area.type == "IMAGE_EDITOR"]


class SYNTH_OT_render_clip(bpy.types.Operator):
    """Render the current plan into a clip folder (dataset format v1), as the CLI's worker does;
    from the button it runs frame by frame with its progress shown, and Esc cancels it"""

    bl_idname = "synth.render_clip"
    bl_label = "Render Clip"
    bl_options = {"REGISTER"}
    directory: StringProperty(name="Folder", description="Folder to create the clip folder in",
                              subtype="DIR_PATH")
    interactive: BoolProperty(name="Interactive", description="Render frame by frame from a timer (the button)",
                              options={"HIDDEN", "SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return no_render_possible(cls, context)

    def invoke(self, context, event):
        self.interactive = True
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context):
        if not begin_clip(self, context):
            return {"CANCELLED"}
        context = bpy.context  # a fresh build replaced the scene
        if self.interactive and context.window is not None:
            wm = context.window_manager
            self.timer = wm.event_timer_add(TIMER_S, window=context.window)
            wm.modal_handler_add(self)
            wm.progress_begin(0, ClipProgress.total)
            return {"RUNNING_MODAL"}
        while (result := next_step(self, context)) == {"RUNNING_MODAL"}:
            pass
        return result

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            end_clip(self, context, "cancelled: no clip was written")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        return next_step(self, context)

    def cancel(self, context):  # Blender ends the operator (the file is closed)
        end_clip(self, context, "cancelled: no clip was written")


def begin_clip(operator, context) -> bool:
    """Check the input, then build the scene and start the clip folder (the first step of
    :func:`blender_addon.worker.clip_steps`); reports and returns False on bad input."""
    from blender_addon.worker import clip_steps

    settings = context.scene.synth
    operator.steps = operator.work_dir = operator.timer = operator.plan = None
    try:
        if not settings.plan_json:
            raise PlanError(NO_PLAN)
        if ClipProgress.out is not None:
            raise RenderError(RENDERING)
        if not operator.directory:
            raise RenderError("choose a folder to render the clip into")
        plan = plan_to_write(settings)
        out = Path(bpy.path.abspath(operator.directory)) / f"clip_{plan.seed:08d}"
        if out.exists():
            raise RenderError(f"{out} already exists; a finished clip is never overwritten: "
                              "choose another folder or remove it")
        operator.plan, operator.plan_json, operator.out = plan, settings.plan_json, out
        operator.work_dir = tempfile.TemporaryDirectory(prefix="synth-addon-render-")
        operator.steps = clip_steps(plan, out, Path(operator.work_dir.name))
        with timeline_paused(), rebuilt(context):  # a fresh build, as the CLI's worker renders
            ClipProgress.done, ClipProgress.total = next(operator.steps)
    except (SynthError, OSError) as exc:
        end_clip(operator, context, f"cannot render the clip: {exc}", "ERROR")
        return False
    ClipProgress.out = out
    show_progress(bpy.context)
    return True


def next_step(operator, context) -> set:
    """Render the clip's next frame; the operator's result: RUNNING_MODAL while frames are left."""
    try:
        if bpy.context.scene.synth.plan_json != operator.plan_json:
            raise RenderError("the plan changed while the clip rendered")
        with timeline_paused():
            ClipProgress.done, ClipProgress.total = next(operator.steps)
    except StopIteration:
        store_plan(bpy.context.scene.synth, operator.plan)  # with its passes: an export renders the same
        end_clip(operator, context, f"Rendered {operator.out}", "INFO")
        return {"FINISHED"}
    except (SynthError, OSError, ReferenceError) as exc:  # ReferenceError: the scene was replaced
        end_clip(operator, context, f"cannot render the clip: {exc}", "ERROR")
        return {"CANCELLED"}
    except Exception as exc:  # a bug: end the render (the buttons come back), then surface it
        end_clip(operator, context, f"the clip render failed: {type(exc).__name__}: {exc}", "ERROR")
        raise
    show_progress(bpy.context)
    return {"RUNNING_MODAL"}


def end_clip(operator, context, message: str, kind: str = "WARNING") -> None:
    """Stop the render: an unfinished clip's steps are closed (its writer removes the partial
    folder), the scratch folder removed, the progress taken down; report ``message``."""
    if operator.steps is not None:  # this operator's render (not one it found running)
        operator.steps.close()
        ClipProgress.out = None
        if kind != "ERROR":  # after an error the scene may not be the plan's any more
            restore_render_settings(bpy.context, operator.plan)
    if operator.work_dir is not None:
        operator.work_dir.cleanup()
    operator.steps = operator.work_dir = None
    wm = bpy.context.window_manager
    if operator.timer is not None:
        wm.event_timer_remove(operator.timer)
        wm.progress_end()
        operator.timer = None
    show_progress(bpy.context)
    operator.report({kind}, message)


def show_progress(context) -> None:
    """The render's progress in the status bar and the window manager's progress cursor; the
    panels redrawn to show it."""
    if context.window is None:
        return
    text = f"Rendering clip {ClipProgress.text()} (Esc cancels)" if ClipProgress.out else None
    if context.workspace is not None:
        context.workspace.status_text_set(text)
    if ClipProgress.out:
        context.window_manager.progress_update(ClipProgress.done)
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


classes = (SYNTH_OT_render_frame, SYNTH_OT_render_clip)

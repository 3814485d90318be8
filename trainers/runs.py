"""A run folder: what `synth train` writes and `synth eval` / `synth predict` read.

    RUN/config.json          the TrainConfig (trainers.config), written when the run starts
    RUN/checkpoints/last.pt  model, optimiser and scaler state at the last evaluation step (3D pose
                             runs: every module of the recipe in one state dict, keys prefixed
                             by the module's name, and one optimiser state per name)
    RUN/checkpoints/best.pt  the weights with the best held-out score so far
    RUN/train_log.csv        step, loss, learning rate, samples/s (every log_every steps)
    RUN/eval_log.csv         step and the held-out metrics (every eval_every steps)
    RUN/tensorboard/         the same numbers for TensorBoard (`tensorboard --logdir RUN`)
    RUN/loss_curve.png       training loss and the held-out score against steps
    RUN/samples.png          held-out inputs, predictions and ground truth side by side
    RUN/skeletons.png        3D pose runs: held-out 3D skeletons, prediction beside ground truth

Every file is replaced atomically (written beside, then renamed), so a killed run leaves the
previous checkpoint and plots intact; logs are cut back to the checkpoint's step on resume.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path

import torch

from synth_core.errors import TrainingError
from trainers.config import IDENTITY_FIELDS, TrainConfig

CONFIG = "config.json"
CHECKPOINTS = "checkpoints"


def atomic_write(path: Path, write) -> None:
    """Call ``write(temporary_path)`` and rename the result to ``path`` (same folder, so the
    rename is atomic); nothing is left behind if ``write`` fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # the temporary name keeps the suffix: writers that choose the format by it (ffmpeg) still can
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_run(folder: Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def load_run_config(folder: Path) -> TrainConfig:
    folder = Path(folder)
    if not folder.is_dir():
        raise TrainingError(f"{folder} is not a folder")
    if not is_run(folder):
        raise TrainingError(f"{folder} is not a training run (no {CONFIG}); runs are made by `synth train`")
    return TrainConfig.load(folder / CONFIG)


def resume_config(folder: Path, requested: TrainConfig, given: set[str]) -> TrainConfig:
    """The configuration to go on with in an existing run: the stored one, with the settings
    the user gave again (``given``) applied. Settings that define the run must not change."""
    stored = load_run_config(folder)
    if requested.task != stored.task:
        raise TrainingError(f"{folder} is a {stored.task} run; resume it with `synth train {stored.task}` "
                            f"or choose another --out for a {requested.task} run")
    changed = [name for name in IDENTITY_FIELDS if name in given
               and getattr(requested, name) != getattr(stored, name)]
    if changed:
        details = ", ".join(f"{name} {getattr(stored, name)!r} -> {getattr(requested, name)!r}" for name in changed)
        raise TrainingError(f"{folder} was trained with other settings ({details}); start a new run with "
                            f"another --out, or resume without changing them")
    merged = stored.to_dict() | {name: getattr(requested, name) for name in given}
    return TrainConfig.from_dict(merged).validate()


def start_run(folder: Path, config: TrainConfig) -> None:
    """Create a new run folder (refusing one that holds anything else)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise TrainingError(f"--out {folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not is_run(folder):
        raise TrainingError(f"--out {folder} already holds files and is not a training run; "
                            f"choose an empty or new folder")
    atomic_write(folder / CONFIG, lambda p: p.write_text(json.dumps(config.to_dict(), indent=2) + "\n"))


# --------------------------------------------------------------------------------- checkpoints

def checkpoint_path(folder: Path, which: str = "last") -> Path:
    return Path(folder) / CHECKPOINTS / f"{which}.pt"


def save_checkpoint(path: Path, config: TrainConfig, model: torch.nn.Module, step: int, *,
                    optimizer=None, scaler=None, metrics: dict | None = None, extra: dict | None = None) -> None:
    """``optimizer``: one, or a dict of them by name; ``extra``: tensors and plain values a run
    keeps beside its weights (e.g. the 3D pose runs' mean-pose baseline)."""
    # plain Python numbers only (numpy scalars would not load with weights_only=True)
    plain_metrics = json.loads(json.dumps(metrics or {}, default=float))
    state = {"task": config.task, "model_settings": model_settings(config), "step": step,
             "model": model.state_dict(), "metrics": plain_metrics}
    if optimizer is not None:
        state["optimizer"] = ({name: o.state_dict() for name, o in optimizer.items()} if isinstance(optimizer, dict)
                              else optimizer.state_dict())
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    if extra:
        state["extra"] = extra
    atomic_write(path, lambda p: torch.save(state, p))


def _some(names: list[str], shown: int = 3) -> str:
    """'a, b, c and 4 more' (or 'nothing')."""
    if not names:
        return "nothing"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def load_checkpoint(path: Path, config: TrainConfig, model: torch.nn.Module, *,
                    optimizer=None, scaler=None, map_location="cpu") -> dict:
    """Load weights (and optimiser state) into ``model``; returns the checkpoint dict.
    Only tensors and plain values are unpickled (``weights_only``), so a hostile file cannot
    run code; a checkpoint of another task or architecture is refused by name."""
    if not path.is_file():
        raise TrainingError(f"no checkpoint {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise TrainingError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise TrainingError(f"{path} is not a checkpoint written by `synth train`")
    if state.get("task") != config.task or state.get("model_settings") != model_settings(config):
        raise TrainingError(f"{path} holds a {state.get('task')} model with settings "
                            f"{state.get('model_settings')}, but the run describes a {config.task} model "
                            f"with {model_settings(config)}")
    try:
        fit = model.load_state_dict(state["model"], strict=False)
    except RuntimeError as exc:   # a tensor of another shape
        problem = " ".join(line.strip() for line in str(exc).splitlines()[1:2]) or str(exc)
        raise TrainingError(f"{path} does not fit the model: {problem[:300]}") from None
    if fit.missing_keys or fit.unexpected_keys:   # e.g. written by another version of the network
        raise TrainingError(f"{path} does not fit the model: it lacks {_some(fit.missing_keys)} and has "
                            f"{_some(fit.unexpected_keys)} besides")
    if optimizer is not None and "optimizer" in state:
        if isinstance(optimizer, dict):
            for name, one in optimizer.items():
                one.load_state_dict(state["optimizer"][name])
        else:
            optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    return state


# What shapes a 3D pose task's networks (besides the joint set); a field a recipe does not read is
# still listed, which only makes the check stricter.
POSE_MODEL_FIELDS = {
    "pose3d": ("input_size", "features", "backbone"),
    "adversarial": ("input_size", "features", "stacks", "modules", "depth"),
    "motion": ("input_size", "features", "window", "motion_inputs", "dann"),
}


def model_settings(config: TrainConfig) -> dict:
    """What a checkpoint's weights must have been made with to fit the run's networks."""
    if config.is_pose:
        return {"joint_set": config.joint_set, **{name: getattr(config, name) for name in POSE_MODEL_FIELDS[config.task]}}
    return {"in_channels": config.in_channels, "n_classes": config.n_classes, "stacks": config.stacks,
            "features": config.features, "modules": config.modules, "depth": config.depth,
            "full_res_head": config.full_res_head}


# ---------------------------------------------------------------------------------------- logs

class CsvLog:
    """Rows appended and flushed one at a time; ``cut_after(step)`` drops the rows a resumed
    run will write again."""

    def __init__(self, path: Path, fields: list[str]) -> None:
        self.path, self.fields = Path(path), list(fields)

    def cut_after(self, step: int) -> None:
        rows = self.read()
        kept = [row for row in rows if int(row["step"]) <= step]
        if len(kept) != len(rows):
            atomic_write(self.path, lambda p: self._write(p, kept))

    def append(self, row: dict) -> None:
        new = not self.path.is_file()
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        with open(self.path, newline="") as handle:
            return list(csv.DictReader(handle))

    def _write(self, path: Path, rows: list[dict]) -> None:
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

"""SMPL-format body models: file loading, numpy LBS forward, parts, the free default body."""

from synth_core.body.model import BodyModel, BodyOutput
from synth_core.body.model_file import BodyModelData, load_model_file, save_model_npz
from synth_core.body.parts import (CLASS14_NAMES, JOINT_NAMES, NUM_JOINTS, PART_NAMES,
                                   PART_TO_CLASS14, SMPL_PARENTS, parts_to_classes14)

__all__ = [
    "BodyModel", "BodyOutput", "BodyModelData", "load_model_file", "save_model_npz",
    "CLASS14_NAMES", "JOINT_NAMES", "NUM_JOINTS", "PART_NAMES", "PART_TO_CLASS14",
    "SMPL_PARENTS", "parts_to_classes14",
]

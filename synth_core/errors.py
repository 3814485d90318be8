"""User-facing errors. The CLI prints their message and exits 1, without a traceback."""


class SynthError(Exception):
    """Base of every error caused by bad input rather than a bug."""


class BodyModelFileError(SynthError, ValueError):
    """A body model file is missing, unreadable, unsafe or has a wrong field."""


class BodyInputError(SynthError, ValueError):
    """Shape, pose, translation or phenotype values that the body model cannot take."""


class AssetError(SynthError):
    """An asset is missing, has the wrong checksum, or the manifest is malformed."""


class MotionError(SynthError, ValueError):
    """A motion source or motion file that cannot give a valid SMPL pose sequence."""


class TextureError(SynthError, ValueError):
    """A texture that cannot be made or loaded (missing file, body without UVs, bad spec)."""


class BackgroundError(SynthError, ValueError):
    """A background image that is missing, unreadable or of an unknown kind."""


class DatasetFormatError(SynthError, ValueError):
    """A rendered clip folder that is incomplete, corrupt or of an unknown format version."""


class PlanError(SynthError, ValueError):
    """A scene plan or render option that is out of range or inconsistent."""


class RenderError(SynthError, RuntimeError):
    """Blender could not render a plan (worker crashed, missing pass, bad output)."""


class TrainingError(SynthError, ValueError):
    """A training run, checkpoint, device, configuration or input video that cannot be used."""

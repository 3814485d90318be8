"""User-facing errors. The CLI prints their message and exits 1, without a traceback."""


class SynthError(Exception):
    """Base of every error caused by bad input rather than a bug."""


class BodyModelFileError(SynthError, ValueError):
    """A body model file is missing, unreadable, unsafe or has a wrong field."""


class BodyInputError(SynthError, ValueError):
    """Shape, pose, translation or phenotype values that the body model cannot take."""


class AssetError(SynthError):
    """An asset is missing, has the wrong checksum, or the manifest is malformed."""

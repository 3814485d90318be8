"""The dataset format (version 1): one folder per rendered clip, written atomically by
:class:`ClipWriter` and read by :func:`read_clip`. Layout and conventions: FORMAT.md."""

from synth_core.dataset.format import FORMAT_NAME, FORMAT_VERSION, PASS_NAMES
from synth_core.dataset.reader import Clip, find_clips, read_clip
from synth_core.dataset.writer import ClipWriter

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "PASS_NAMES", "Clip", "ClipWriter", "find_clips", "read_clip"]

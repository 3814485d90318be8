"""Networks and losses of the trainers: SURREAL's stacked hourglass and its cross-entropy."""

from trainers.models.hourglass import StackedHourglass
from trainers.models.losses import stacked_cross_entropy

__all__ = ["StackedHourglass", "stacked_cross_entropy"]

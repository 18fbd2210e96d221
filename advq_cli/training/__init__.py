"""Adversarial training: the loop behind `advq train` and `advq profile`."""

from .config import TrainConfig
from .loop import BatchObserver, EpochStats, TrainingRun, TrainResult, train

__all__ = ["BatchObserver", "EpochStats", "TrainConfig", "TrainResult", "TrainingRun", "train"]

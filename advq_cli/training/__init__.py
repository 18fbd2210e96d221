"""Adversarial training: the loop behind `advq train` and `advq profile`."""

from ..lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "TrainConfig": ".config",
    "BatchObserver": ".loop",
    "EpochStats": ".loop",
    "TrainResult": ".loop",
    "TrainingRun": ".loop",
    "train": ".loop",
})

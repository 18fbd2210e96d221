"""`advq evaluate`: robust accuracy of a checkpoint under an attack suite, per example."""

from ..lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "EvaluateConfig": ".config",
    "EvaluationResult": ".results",
    "overestimation_gap": ".results",
    "worst_case": ".results",
    "evaluate": ".suite",
})

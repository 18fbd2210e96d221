"""`advq evaluate`: robust accuracy of a checkpoint under an attack suite, per example."""

from .config import EvaluateConfig
from .results import EvaluationResult, overestimation_gap, worst_case
from .suite import evaluate

__all__ = ["EvaluateConfig", "EvaluationResult", "evaluate", "overestimation_gap", "worst_case"]

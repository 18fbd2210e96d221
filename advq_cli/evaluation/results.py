"""What an evaluation found: per-example correctness and the summaries built from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The paper's robustness overestimation: PGD-10 accuracy minus AutoAttack accuracy.
GAP_MINUEND, GAP_SUBTRAHEND = "pgd-10", "autoattack"


def accuracy(correct: np.ndarray) -> float:
    return float(correct.mean()) if len(correct) else float("nan")


def worst_case(clean: np.ndarray, attacks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Robust under the suite: classified correctly, and every attack failed on it."""
    robust = clean.copy()
    for correct in attacks.values():
        robust &= correct
    return robust


def overestimation_gap(accuracies: Mapping[str, float]) -> float | None:
    """PGD-10 minus AutoAttack robust accuracy, when both ran."""
    if GAP_MINUEND in accuracies and GAP_SUBTRAHEND in accuracies:
        return accuracies[GAP_MINUEND] - accuracies[GAP_SUBTRAHEND]
    return None


@dataclass
class EvaluationResult:
    """Everything in an evaluation file: ``clean`` and each attack's ``correct`` are bool (N,)."""

    out: Path
    dataset: str
    classes: tuple[str, ...]
    eps: float
    labels: np.ndarray
    clean: np.ndarray
    attacks: dict[str, np.ndarray]
    seconds: dict[str, float] = field(default_factory=dict)
    resumed: tuple[str, ...] = ()

    @property
    def n_examples(self) -> int:
        return len(self.labels)

    @property
    def clean_accuracy(self) -> float:
        return accuracy(self.clean)

    @property
    def accuracies(self) -> dict[str, float]:
        return {name: accuracy(correct) for name, correct in self.attacks.items()}

    @property
    def worst_case(self) -> np.ndarray:
        return worst_case(self.clean, self.attacks)

    @property
    def worst_case_accuracy(self) -> float:
        return accuracy(self.worst_case)

    @property
    def overestimation_gap(self) -> float | None:
        return overestimation_gap(self.accuracies)

    def per_class(self, correct: np.ndarray) -> np.ndarray:
        """Accuracy within each class (NaN for a class with no example evaluated)."""
        k = len(self.classes)
        totals = np.bincount(self.labels, minlength=k).astype(float)
        hits = np.bincount(self.labels, weights=correct.astype(float), minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, hits / totals, np.nan)

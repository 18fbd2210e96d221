"""GAIRAT (Zhang et al. 2021, ICLR, arXiv:2010.01736): geometry-aware instance-reweighted AT.

PGD-AT whose per-example cross-entropy is weighted by how far the example is from the
decision boundary, measured by κ, the least number of PGD iterations that fools the model.
Examples far from the boundary (large κ) get small weights, so the training emphasises the
ones near it (the paper's appendix A.1 and F, with λ = 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..threat import Threat
from .base import Method, MethodOutput


def gairat_weights(kappa: torch.Tensor, steps: int, lambda_: float = 0.0) -> torch.Tensor:
    """w = (1 + tanh(λ + 5·(1 − 2κ/K)))/2, normalised to mean 1 over the batch; (B,).

    Computed as B·softmax(log σ(2a)), since (1 + tanh a)/2 = σ(2a): the normalisation stays
    finite even when every raw weight underflows (large negative λ). With K = 0 there is
    no attack to count, every κ/K is taken as 1 and all weights are 1.
    """
    kappa = kappa.float()
    fraction = kappa / steps if steps > 0 else torch.ones_like(kappa)
    log_weights = F.logsigmoid(2 * (lambda_ + 5 * (1 - 2 * fraction)))
    return len(kappa) * log_weights.softmax(0)


class Gairat(Method):
    """CE(f(x'), y)·w(κ), x' from cross-entropy PGD, κ counted in that same PGD run.

    κ is the number of leading PGD iterations at whose start the example was still
    classified correctly: the index k of the first iterate x_k (x_0 the start) that fools
    the model, or K when none of x_0..x_{K−1} does. The check of the final x_K is not
    made: fooled there or never, the least iteration count is K either way. Unlike the
    official code, an example that is fooled and then classified correctly again is not
    counted further, so κ is the least fooling iteration the paper defines.
    """

    def __init__(self, threat: Threat, lambda_: float = 0.0) -> None:
        super().__init__(threat)
        self.lambda_ = float(lambda_)

    def attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x' and κ (int64, (B,)) from one cross-entropy PGD run with the training threat."""
        still_correct = torch.ones_like(y, dtype=torch.bool)
        kappa = torch.zeros_like(y, dtype=torch.int64)

        def count(step: int, logits: torch.Tensor) -> None:
            still_correct.logical_and_(logits.argmax(1) == y)
            kappa.add_(still_correct)

        return self.perturb(model, x, y, on_step=count), kappa

    def loss(self, model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, kappa: torch.Tensor) -> MethodOutput:
        logits = model(x_adv)
        weights = gairat_weights(kappa, self.threat.steps, self.lambda_)
        return MethodOutput(weights * F.cross_entropy(logits, y, reduction="none"), logits.detach())

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        x_adv, kappa = self.attack(model, x, y)
        return self.loss(model, x_adv, y, kappa)

"""TRADES (Zhang et al. 2019, arXiv:1901.08573) and what it shares with MART.

TRADES trades clean accuracy for robustness with CE(f(x), y) + β·KL(f(x) ‖ f(x')), where
x' maximises that KL inside the ε-ball (the paper's appendix F: β = 1/λ = 6).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..random_streams import normal_like
from ..threat import Threat
from .base import Method, MethodOutput

GAUSSIAN_START_STD = 0.001
"""Scale of the Gaussian start of the official TRADES and MART attacks (TRADES' KL has no gradient at x' = x)."""


def gaussian_start(x: torch.Tensor) -> torch.Tensor:
    """x + 0.001·N(0, 1): where the official TRADES and MART attacks start."""
    return x + GAUSSIAN_START_STD * normal_like(x)


def kl_divergence(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """Per-example KL(p ‖ q) summed over classes, from logits; (B,).

    Both sides go through log-softmax, so no ε is added inside a logarithm.
    """
    log_p = p_logits.log_softmax(1)
    return (log_p.exp() * (log_p - q_logits.log_softmax(1))).sum(1)


def summed_kl_from(clean_logits: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss TRADES' inner maximisation ascends: Σ KL(f(x) ‖ f(x'))."""
    return lambda adv_logits, _: kl_divergence(clean_logits, adv_logits).sum()


class CleanAdversarialMethod(Method):
    """A loss of the clean and the adversarial predictions with a KL weight β (TRADES, MART).

    ``attack`` gives x', ``objective`` the per-example loss from both logits; ``loss`` runs
    the two training forwards, so the loss for a given x' can be tested on its own.
    """

    def __init__(self, threat: Threat, beta: float = 6.0) -> None:
        super().__init__(threat)
        self.beta = float(beta)

    def attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def objective(self, clean_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        clean_logits = model(x)
        adv_logits = model(x_adv)
        return MethodOutput(self.objective(clean_logits, adv_logits, y), adv_logits.detach(), clean_logits.detach())

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        return self.loss(model, x, self.attack(model, x, y), y)


class Trades(CleanAdversarialMethod):
    """CE(f(x), y) + β·KL(f(x) ‖ f(x')), x' from PGD on that KL with the training threat.

    Its attack is not cross-entropy PGD, so profiling attacks separately.
    """

    tracks_training_attack = False

    def attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """PGD on the KL from x + 0.001·N(0, 1), as the official code starts (the KL's gradient is 0 at x)."""
        model.eval()
        with torch.no_grad():
            clean_logits = model(x)
        start = gaussian_start(x) if self.threat.random_start else None
        return self.perturb(model, x, y, loss_fn=summed_kl_from(clean_logits), start=start)

    def objective(self, clean_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(clean_logits, y, reduction="none") + self.beta * kl_divergence(clean_logits, adv_logits)

"""MART (Wang et al. 2020, ICLR, "Improving adversarial robustness requires revisiting
misclassified examples", https://openreview.net/forum?id=rklOg6EFwS).

The paper's appendix F uses the boosted-cross-entropy version with β = 6: misclassified
examples (low f_y(x)) get more of the KL regulariser.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .trades import CleanAdversarialMethod, gaussian_start, kl_divergence


def boosted_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """−log p_y − log(1 − max_{k≠y} p_k) per example; (B,).

    log(1 − p_m) is computed exactly as logsumexp over the classes other than m minus
    logsumexp over all, so it stays finite when p_m → 1 (no 1.0001 or 1e-12 fudge).
    """
    log_probs = logits.log_softmax(1)
    runner_up = log_probs.scatter(1, y[:, None], float("-inf")).argmax(1, keepdim=True)
    log_not_runner_up = logits.scatter(1, runner_up, float("-inf")).logsumexp(1) - logits.logsumexp(1)
    return F.nll_loss(log_probs, y, reduction="none") - log_not_runner_up


class Mart(CleanAdversarialMethod):
    """BCE(f(x'), y) + β·KL(f(x) ‖ f(x'))·(1 − f_y(x)), x' from cross-entropy PGD started near x."""

    def attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy PGD from x + 0.001·N(0, 1), as the official MART code starts."""
        return self.perturb(model, x, y, start=gaussian_start(x) if self.threat.random_start else None)

    def objective(self, clean_logits: torch.Tensor, adv_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        true_prob = clean_logits.softmax(1).gather(1, y[:, None]).squeeze(1)
        regulariser = kl_divergence(clean_logits, adv_logits) * (1 - true_prob)
        return boosted_cross_entropy(adv_logits, y) + self.beta * regulariser

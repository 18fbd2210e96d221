"""The chores every attack shares: eval mode, no parameter gradients, clamping."""

from __future__ import annotations


import torch
from torch import nn



class Attack:
    """Base class: a subclass writes only ``perturb``.

    ``attack(model, x, y)`` puts the model in eval mode for the attack and restores its
    mode afterwards; the result is clamped to the ε-ball around ``x`` and to [0, 1].
    """

    def __init__(self, eps: float) -> None:
        if not eps >= 0:
            raise ValueError("eps must be non-negative")
        self.eps = float(eps)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            x_adv = self.perturb(model, x.detach(), y.detach())
        finally:
            model.train(was_training)
        return project_linf(x_adv.detach(), x.detach(), self.eps)


def project_linf(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Clamp into the L∞ ball of radius eps around x and into [0, 1]."""
    return torch.min(torch.max(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)

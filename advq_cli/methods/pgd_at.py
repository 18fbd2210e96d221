"""PGD adversarial training (Madry et al. 2018, arXiv:1706.06083) and standard training."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import Method, MethodOutput


class PGDAT(Method):
    """min E[CE(f(x+δ), y)] with δ from PGD on the cross-entropy."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        x_adv = self.perturb(model, x, y)
        logits = model(x_adv)
        return MethodOutput(F.cross_entropy(logits, y, reduction="none"), logits.detach())


class Standard(Method):
    """Plain cross-entropy on clean inputs; no attack, so the clean logits are what is tracked."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        logits = model(x)
        return MethodOutput(F.cross_entropy(logits, y, reduction="none"), logits.detach(), logits.detach())

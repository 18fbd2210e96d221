"""Projected gradient descent under L∞ (Madry et al. 2018, arXiv:1706.06083) and FGSM."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import parse_eps
from ..random_streams import uniform_like
from .base import Attack, project_linf

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_sum(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="sum")


def pgd_perturb(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    random_start: bool = True,
    loss_fn: LossFn = cross_entropy_sum,
    targeted: bool = False,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    start: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sign-gradient ascent on ``loss_fn(model(x_adv), target)``, projected after each step.

    The model's mode is left as the caller set it (training methods choose). ``target``
    is whatever ``loss_fn`` compares against: labels, or clean probabilities for TRADES.
    ``on_step(k, logits)`` sees the logits at the start of step k (k = 0..steps-1), for
    methods such as GAIRAT that need them without a second attack. ``start`` replaces the
    uniform random start (TRADES starts from a small Gaussian). Parameter gradients are
    not touched. The bounds of the ε-ball within [0, 1] are computed once, so a step is a
    sign, an add and one clamp (the same numbers as projecting onto the ball, then [0, 1]).
    """
    x = x.detach()
    if start is not None:
        x_adv = project_linf(start.detach(), x, eps)
    elif random_start and eps > 0:
        x_adv = (x + uniform_like(x, -eps, eps)).clamp_(0.0, 1.0)
    else:
        x_adv = x.clone()
    lower, upper = (x - eps).clamp_(min=0.0), (x + eps).clamp_(max=1.0)
    signed_step = -step_size if targeted else step_size
    for step in range(steps):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        if on_step is not None:
            on_step(step, logits.detach())
        loss = loss_fn(logits, target)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.add(x_adv.detach(), grad.sign_(), alpha=signed_step).clamp_(lower, upper)
    return x_adv.detach()


class PGD(Attack):
    """Untargeted L∞ PGD with cross-entropy.

    Args: eps (radius in [0, 1] pixel units), steps (default 10), step_size (default
    eps/4, i.e. 2/255 for 8/255; a number or a fraction such as "2/255", as config files
    give it), random_start (uniform in the ball, default True).
    Shapes: x (B, C, H, W) in [0, 1], y (B,) → x_adv like x.
    Example: ``PGD(eps=8/255, steps=10)(model, x, y)``.
    """

    def __init__(self, eps: float, steps: int = 10, step_size: float | None = None, random_start: bool = True) -> None:
        super().__init__(eps)
        if steps < 0:
            raise ValueError("steps must be non-negative")
        self.steps = int(steps)
        self.step_size = parse_eps(step_size, "PGD step_size") if step_size is not None else self.eps / 4
        self.random_start = bool(random_start)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd_perturb(model, x, y, self.eps, self.steps, self.step_size, self.random_start)


def pgd_with_steps(steps: int) -> Callable[..., PGD]:
    """A PGD factory fixing the number of iterations (``pgd-10``, ``pgd-1000``, …)."""

    def make(eps: float, step_size: float | None = None, random_start: bool = True) -> PGD:
        return PGD(eps, steps=steps, step_size=step_size, random_start=random_start)

    make.__name__ = f"pgd_{steps}"
    return make


class FGSM(Attack):
    """Fast gradient sign method (Goodfellow et al. 2015, arXiv:1412.6572): one step of size ε."""

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd_perturb(model, x, y, self.eps, 1, self.eps, random_start=False)

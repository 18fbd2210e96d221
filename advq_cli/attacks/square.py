"""Square Attack under L∞ (Andriushchenko et al. 2020, arXiv:1912.00049).

A score-based black-box attack: random search over square patches set to the corners of
the ε-ball, accepted when they lower the margin loss. It uses no gradients, so it sees
through gradient masking, which is why the paper reports it beside PGD and AutoAttack.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Attack
from .queries import QueryBudget

# The paper's schedule of the patch area: the fraction p_init is halved at these
# iterations of a 10,000-query run (rescaled to shorter or longer budgets).
HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Logit of the true class minus the largest other logit: negative means fooled."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.scatter(1, y[:, None], -math.inf).amax(1)
    return true - other


def patch_fraction(p_init: float, iteration: int, n_queries: int) -> float:
    """The fraction of the image a patch covers at this iteration."""
    scaled = int(iteration / n_queries * 10_000)
    return p_init / 2 ** sum(scaled > h for h in HALVINGS)


def random_signs(*shape: int, device: torch.device) -> torch.Tensor:
    return torch.randint(0, 2, shape, device=device).float().mul_(2).sub_(1)


class Square(Attack):
    """Untargeted L∞ Square Attack with the margin loss and one restart.

    Paper: Andriushchenko, Croce, Flammarion, Hein, "Square Attack: a query-efficient
    black-box adversarial attack via random search", ECCV 2020, https://arxiv.org/abs/1912.00049.
    Threat model: L∞ ball of radius ``eps`` intersected with [0, 1]; only the model's
    scores are used. Each example is charged one query for its clean prediction, one for
    the initial vertical stripes and one per random-search step; an example stops when it
    is fooled or its budget is spent, so no example ever exceeds ``n_queries``.

    Args: eps (radius in pixel units), n_queries (budget per example, default 5000 as in
    the paper's appendix F), p_init (initial patch fraction, default 0.8).
    Shapes: x (B, C, H, W) in [0, 1], y (B,) → x_adv like x. After a call,
    ``last_queries`` (B,) holds the queries each example used.
    Example: ``Square(eps=8/255, n_queries=5000)(model, x, y)``.
    """

    def __init__(self, eps: float, n_queries: int = 5000, p_init: float = 0.8) -> None:
        super().__init__(eps)
        if n_queries < 2:
            raise ValueError("n_queries must be at least 2 (the clean prediction and the initial point)")
        if not 0 < p_init <= 1:
            raise ValueError("p_init must lie in (0, 1]")
        self.n_queries = int(n_queries)
        self.p_init = float(p_init)
        self.last_queries = torch.zeros(0, dtype=torch.long)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        if self.eps == 0:  # nothing to search; no query needed
            self.last_queries = torch.zeros(n, dtype=torch.long)
            return x.clone()
        budget = QueryBudget(n, self.n_queries, x.device)
        every = torch.arange(n, device=x.device)
        best = x.clone()
        loss = margin(budget.query(model, every, x), y)
        rows = every[loss > 0]
        start = (x[rows] + self.eps * random_signs(len(rows), c, 1, w, device=x.device)).clamp_(0, 1)
        best[rows] = start
        loss[rows] = margin(budget.query(model, rows, start), y[rows])
        for iteration in range(self.n_queries - 2):
            rows = every[(loss > 0) & budget.left()]
            if rows.numel() == 0:
                break
            size = self._patch_size(iteration, h, w)
            candidate = self._propose(x[rows], best[rows], size)
            new_loss = margin(budget.query(model, rows, candidate), y[rows])
            better = new_loss < loss[rows]
            best[rows[better]] = candidate[better]
            loss[rows[better]] = new_loss[better]
        self.last_queries = budget.used.cpu()
        return best

    def _patch_size(self, iteration: int, h: int, w: int) -> int:
        side = round(math.sqrt(patch_fraction(self.p_init, iteration, self.n_queries) * h * w))
        return max(1, min(side, min(h, w) - 1))

    def _propose(self, x: torch.Tensor, best: torch.Tensor, size: int) -> torch.Tensor:
        """Set one random square per example to a random corner of the ball, per channel.

        Where those signs would leave the patch as it is, the signs are redrawn among the
        other corners (a random non-empty set of channels flips), so no query is wasted.
        """
        k, c, h, w = x.shape
        top = torch.randint(0, h - size + 1, (k, 1), device=x.device)
        left = torch.randint(0, w - size + 1, (k, 1), device=x.device)
        lines = torch.arange(max(h, w), device=x.device)
        in_rows = (lines[:h] >= top) & (lines[:h] < top + size)
        in_cols = (lines[:w] >= left) & (lines[:w] < left + size)
        patch = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]  # (k, 1, h, w)
        signs = random_signs(k, c, 1, 1, device=x.device)
        corner = (x + self.eps * signs).clamp_(0, 1)
        stale = ~(((corner - best).abs() > 1e-7) & patch).flatten(1).any(1)
        if stale.any():
            flips = torch.randint(1, 2**c, (k, 1), device=x.device) >> torch.arange(c, device=x.device) & 1
            signs = torch.where(stale[:, None, None, None] & flips.bool()[:, :, None, None], -signs, signs)
            corner = (x + self.eps * signs).clamp_(0, 1)
        return torch.where(patch, corner, best)

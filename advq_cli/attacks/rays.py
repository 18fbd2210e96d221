"""RayS: the decision-based ray-search attack under L∞ (Chen & Gu 2020, arXiv:2006.12792).

RayS needs only the predicted label. It looks for the sign direction s ∈ {-1, 1}^D whose
ray x + r·s leaves the true class at the smallest radius r (the L∞ distance, since
‖r·s‖∞ = r), flipping the signs of ever smaller blocks of pixels and keeping a flip when
the ray crosses the decision boundary sooner. A flip is first tested with one query at
the best radius so far; only a direction that succeeds there gets a binary search.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import Attack
from .queries import QueryBudget


class RayS(Attack):
    """Untargeted L∞ RayS, vectorised over the batch, with a hard per-example query budget.

    Paper: Chen, Gu, "RayS: A Ray Searching Method for Hard-label Adversarial Attack",
    KDD 2020, https://arxiv.org/abs/2006.12792.
    Threat model: L∞ ball of radius ``eps`` intersected with [0, 1]; only the model's
    top-1 label is used. Each example is charged one query for its clean prediction and
    one per ray tested; an example stops when its budget is spent or (``early_stop``)
    once it is fooled within ``eps``.

    A ray is clipped to [0, 1], so radii beyond 1 all reach the same corner; the first
    direction is therefore scanned at radii 1/lin_steps, 2/lin_steps, …, 1 (the
    original scans 1..10 in its own units, which coincide after clipping) before the
    binary search.

    Args: eps (radius in pixel units), n_queries (budget per example, default 10,000 as
    in the paper's appendix F), early_stop (stop an example once its radius ≤ eps,
    default True; False searches the whole budget for the smallest radius), tol (binary
    search resolution in pixel units, default 1e-4), lin_steps (default 10).
    Shapes: x (B, C, H, W) in [0, 1], y (B,) → x_adv like x: the point at the best radius
    where it is ≤ eps, else x itself. After a call, ``last_queries`` (B,) holds the
    queries used and ``last_radius`` (B,) the best radius found (0 for examples already
    misclassified, inf where no direction crossed the boundary).
    Example: ``RayS(eps=8/255, n_queries=10_000)(model, x, y)``.
    """

    def __init__(
        self, eps: float, n_queries: int = 10_000, early_stop: bool = True, tol: float = 1e-4, lin_steps: int = 10
    ) -> None:
        super().__init__(eps)
        if n_queries < 1:
            raise ValueError("n_queries must be at least 1")
        if not tol > 0 or lin_steps < 1:
            raise ValueError("tol must be positive and lin_steps at least 1")
        self.n_queries = int(n_queries)
        self.early_stop = bool(early_stop)
        self.tol = float(tol)
        self.lin_steps = int(lin_steps)
        self.last_queries = torch.zeros(0, dtype=torch.long)
        self.last_radius = torch.zeros(0)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        search = _Search(model, x, y, self.n_queries)
        hopeless = self.early_stop and self.eps == 0  # no radius ≤ 0 fools a correct example
        level, block = 0, 0
        while not hopeless:
            unfinished = search.radius > (self.eps if self.early_stop else 0.0)
            rows = search.every[unfinished & search.budget.left()]
            if rows.numel() == 0:
                break
            size = -(-search.dim // 2**level)
            start, end = block * size, min(search.dim, (block + 1) * size)
            attempt = search.sign[rows].clone()
            attempt[:, start:end] *= -1
            self._try(search, rows, attempt)
            block += 1
            if end == search.dim:  # a level's blocks are done: halve them, down to single pixels
                level, block = level + (size > 1), 0
        self.last_queries = search.budget.used.cpu()
        self.last_radius = search.radius.cpu()
        found = (search.radius <= self.eps)[:, None]
        best = search.point(search.every, search.radius.clamp(max=self.eps), search.sign)
        return torch.where(found, best, search.flat).view_as(x)

    def _try(self, search: _Search, rows: torch.Tensor, attempt: torch.Tensor) -> None:
        """Find where each ray ``attempt`` crosses the boundary; keep it where that is sooner."""
        current = search.radius[rows]
        lo = torch.zeros_like(current)
        hi = torch.full_like(current, math.inf)
        known = torch.isfinite(current)
        sure = search.fooled(rows, current, attempt, known)
        hi = torch.where(sure, current, hi)
        for step in range(1, self.lin_steps + 1):
            radius = torch.full_like(current, step / self.lin_steps)
            scanning = ~known & torch.isinf(hi) & search.budget.left()[rows]
            if not scanning.any():
                break
            hit = search.fooled(rows, radius, attempt, scanning)
            hi = torch.where(hit, radius, hi)
            lo = torch.where(scanning & ~hit, radius, lo)
        while True:
            narrowing = torch.isfinite(hi) & (hi - lo > self.tol) & search.budget.left()[rows]
            if self.early_stop:
                narrowing &= hi > self.eps
            if not narrowing.any():
                break
            mid = (lo + hi) / 2
            hit = search.fooled(rows, mid, attempt, narrowing)
            hi = torch.where(hit, mid, hi)
            lo = torch.where(narrowing & ~hit, mid, lo)
        better = hi < current
        search.radius[rows[better]] = hi[better]
        search.sign[rows[better]] = attempt[better]


class _Search:
    """The state of one RayS run: best sign direction and radius per example, and the budget."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, n_queries: int) -> None:
        self.model, self.shape, self.y = model, x.shape, y
        self.flat = x.flatten(1)
        self.dim = self.flat.shape[1]
        self.every = torch.arange(len(x), device=x.device)
        self.budget = QueryBudget(len(x), n_queries, x.device)
        self.sign = torch.ones_like(self.flat)
        self.radius = torch.full((len(x),), math.inf, dtype=x.dtype, device=x.device)
        everyone = torch.ones(len(x), dtype=torch.bool, device=x.device)
        self.radius[self.fooled(self.every, torch.zeros_like(self.radius), self.sign, everyone)] = 0.0  # clean query

    def point(self, rows: torch.Tensor, radius: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
        """x + r·s clipped to [0, 1], flattened."""
        return (self.flat[rows] + radius[:, None] * sign).clamp_(0.0, 1.0)

    def fooled(self, rows: torch.Tensor, radius: torch.Tensor, sign: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Bool like ``mask``: for the masked entries, is the label at x + r·s not the true one?"""
        result = torch.zeros_like(mask)
        if mask.any():
            chosen = rows[mask]
            points = self.point(chosen, radius[mask], sign[mask])
            logits = self.budget.query(self.model, chosen, points.view(-1, *self.shape[1:]))
            result[mask] = logits.argmax(1) != self.y[chosen]
        return result

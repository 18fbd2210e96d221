"""Query accounting for black-box attacks: every model call is counted per example.

A black-box attack is compared with others by its budget, so the count must be exact and
the budget a hard limit: ``spend`` refuses to go past it rather than trusting the caller.
"""

from __future__ import annotations

import torch
from torch import nn


class QueryBudget:
    """Per-example counts of model queries against a fixed limit."""

    def __init__(self, n: int, limit: int, device: torch.device) -> None:
        if limit < 1:
            raise ValueError("the query budget must be at least 1")
        self.limit = int(limit)
        self.used = torch.zeros(n, dtype=torch.long, device=device)

    def left(self) -> torch.Tensor:
        """Bool (n,): may this example still query the model?"""
        return self.used < self.limit

    def query(self, model: nn.Module, rows: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The model's logits on ``x`` (one input per entry of ``rows``), charged to those rows."""
        if rows.numel() and bool((self.used[rows] >= self.limit).any()):
            raise RuntimeError("query budget exceeded")  # a bug in the attack, never the user's input
        self.used[rows] += 1
        with torch.no_grad():
            return model(x)

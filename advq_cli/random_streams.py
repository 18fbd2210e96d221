"""The random draws of training (augmentation, attack starts), split by run when runs train stacked.

A run trained alone draws from PyTorch's global generator, re-seeded every epoch. When R
runs train together (``training.together``), a batch holds R runs' rows one run after
another, and each run's share of a draw must come from that run's own stream in the order
it would have drawn alone; inside ``split_by_run`` every draw here is made in R chunks
along the first dimension, chunk r from ``generators[r]``. Outside it, a draw is exactly
the global generator's, so a run trained alone is unchanged.

Code that draws random numbers without these helpers (a third-party method, say) draws
from the global generator even when runs are stacked: its runs are then statistically,
not bitwise, those trained alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import torch

Fill = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]
"""Fills a tensor in place from a generator (None: the global one) and returns it."""

_generators: ContextVar[tuple[torch.Generator, ...] | None] = ContextVar("advq_run_generators", default=None)


@contextmanager
def split_by_run(generators: Sequence[torch.Generator]) -> Iterator[None]:
    """Within the block, draws are split into ``len(generators)`` equal chunks along dim 0."""
    token = _generators.set(tuple(generators))
    try:
        yield
    finally:
        _generators.reset(token)


def runs_in_batch() -> int:
    """How many stacked runs' rows the batch being trained holds (1 outside ``split_by_run``), so
    that a statistic over the batch (GAIRAT's weight normalisation) is taken per run."""
    generators = _generators.get()
    return 1 if generators is None else len(generators)


def _draw(like: torch.Tensor, fill: Fill) -> torch.Tensor:
    """A tensor shaped like ``like`` filled by ``fill``, chunk by run while runs are split."""
    generators = _generators.get()
    if generators is None:
        return fill(torch.empty_like(like), None)
    runs = len(generators)
    if like.shape[0] % runs:
        raise ValueError(f"a draw of {like.shape[0]} rows cannot be split among {runs} stacked runs")
    chunks = like.chunk(runs) if len(like) else [like] * runs
    return torch.cat([fill(torch.empty_like(chunk), g) for chunk, g in zip(chunks, generators)])


def uniform_like(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """U(low, high) shaped like ``x`` (as ``torch.empty_like(x).uniform_(low, high)``)."""
    return _draw(x, lambda t, g: t.uniform_(low, high, generator=g))


def normal_like(x: torch.Tensor) -> torch.Tensor:
    """N(0, 1) shaped like ``x`` (as ``torch.randn_like(x)``)."""
    return _draw(x, lambda t, g: t.normal_(generator=g))


def integers(high: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Integers in [0, high) (as ``torch.randint(0, high, shape)``)."""
    like = torch.empty(shape, dtype=torch.int64, device=device)
    return _draw(like, lambda t, g: t.random_(0, high, generator=g))


def unit(shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """U(0, 1) (as ``torch.rand(shape)``)."""
    return uniform_like(torch.empty(shape, device=device), 0.0, 1.0)

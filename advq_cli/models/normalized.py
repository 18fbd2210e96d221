"""The wrapper that puts the dataset's normalisation inside the model.

Attacks and ε then live in pixel space, and any outside tool can evaluate the model on
[0, 1] inputs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import AdvqError


class NormalizedModel(nn.Module):
    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def normalized_model(
    factory: Any,
    name: str,
    num_classes: int,
    in_channels: int,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    kwargs: dict[str, Any],
) -> NormalizedModel:
    """``factory``'s network for a dataset's shape, normalisation inside; absurd sizes refused before any memory."""
    shown = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    what = f"Model '{name}'{f' ({shown})' if shown else ''} cannot be built for {in_channels}×{image_size}×{image_size} inputs"
    with torch.device("meta"), warnings.catch_warnings():  # first without memory: a width of 10**9 allocates nothing
        warnings.simplefilter("ignore")  # "initializing zero-element tensors is a no-op": refused below
        outline = _outline(factory, num_classes, in_channels, image_size, kwargs, what)
    if outline is not None:
        n_parameters = sum(p.numel() for p in outline.parameters())
        if n_parameters > MAX_PARAMETERS:
            raise AdvqError(f"{what}: it would have {n_parameters:.3g} parameters (at most {MAX_PARAMETERS:.0e}).")
    try:
        net = factory(num_classes, in_channels, image_size, **kwargs)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise AdvqError(f"{what}: {exc}") from exc
    return NormalizedModel(net, mean, std)


MAX_PARAMETERS = 2 * 10**9
"""More than any model one accelerator can train (8 GB of float32 weights before gradients)."""


def _outline(factory: Any, num_classes: int, in_channels: int, image_size: int, kwargs: dict[str, Any],
             what: str) -> nn.Module | None:
    """The model built on the meta device (shapes, no storage); None when the factory cannot build there."""
    try:
        net = factory(num_classes, in_channels, image_size, **kwargs)
    except (ValueError, TypeError) as exc:
        raise AdvqError(f"{what}: {exc}") from exc
    except RuntimeError:
        return None  # sizes past any memory, or a plugin that needs real tensors: the real build decides
    empty = [n for n, p in net.named_parameters() if p.numel() == 0]
    if empty:
        raise AdvqError(f"{what}: its layer {empty[0]} would have no weights.")
    return net

"""The wrapper that puts the dataset's normalisation inside the model.

Attacks and ε then live in pixel space, and any outside tool can evaluate the model on
[0, 1] inputs.
"""

from __future__ import annotations

import inspect
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


def accepted_options(factory: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options a plugin's factory accepts (all of them if it takes **kwargs)."""
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return {k: v for k, v in options.items() if v is not None}
    names = {p.name for p in params}
    return {k: v for k, v in options.items() if k in names and v is not None}


def build_model(
    name: str,
    num_classes: int,
    in_channels: int,
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    **options: Any,
) -> NormalizedModel:
    """Build a registered model for a dataset's shape, normalisation inside."""
    from ..plugins import registry

    factory = registry("models").get(name)
    try:
        net = factory(num_classes, in_channels, image_size, **accepted_options(factory, options))
    except (ValueError, TypeError) as exc:
        raise AdvqError(f"Model '{name}' cannot be built for {in_channels}×{image_size}×{image_size} inputs: {exc}") from exc
    return NormalizedModel(net, mean, std)

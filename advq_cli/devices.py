"""Choosing the torch device."""

from __future__ import annotations

import torch

from .errors import AdvqError


def resolve_device(name: str | None) -> torch.device:
    """`cuda` when available unless told otherwise; a clear error for a device that isn't there."""
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AdvqError(f"Unknown device '{name}': use cpu, cuda or cuda:N.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise AdvqError(f"Device '{name}' was asked for, but no CUDA GPU is available here; use --device cpu.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise AdvqError(f"Device '{name}' does not exist: {torch.cuda.device_count()} GPU(s) here.")
    return device

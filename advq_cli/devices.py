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


GIB = 1024**3
MEMORY_HINT = "use a smaller --image-size, train on a --subset, or run on --device cpu"


def check_fits(nbytes: int, free_bytes: int, device: torch.device, what: str) -> None:
    """Refuse, in GiB and with what to do, data that would not fit in the device's free memory."""
    if nbytes > free_bytes:
        raise AdvqError(
            f"{what} need {nbytes / GIB:.2f} GiB on {device}, which has {free_bytes / GIB:.2f} GiB free; {MEMORY_HINT}."
        )


def to_device(tensors: list[torch.Tensor], device: torch.device, what: str) -> list[torch.Tensor]:
    """The tensors on the device, checked first against its free memory (a GPU's; host memory already holds them)."""
    if device.type != "cuda":
        return [t.to(device) for t in tensors]
    nbytes = sum(t.numel() * t.element_size() for t in tensors)
    check_fits(nbytes, torch.cuda.mem_get_info(device)[0], device, what)
    try:
        return [t.to(device) for t in tensors]
    except torch.cuda.OutOfMemoryError:
        raise AdvqError(f"{what} need {nbytes / GIB:.2f} GiB on {device} and it ran out of memory; {MEMORY_HINT}.") from None

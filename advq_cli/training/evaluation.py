"""Batched clean and adversarial correctness on uint8 images kept on the device."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

AttackFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def correctness(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: AttackFn | None = None,
    batch_size: int = 256,
    on_batch: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Bool (N,) on the model's device: is each example classified correctly (under ``attack``)?

    ``images`` are uint8 (N, C, H, W); batches are converted to [0, 1] floats on the device.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    results = []
    try:
        for start in range(0, len(images), batch_size):
            x = images[start : start + batch_size].to(device, non_blocking=True).float().div_(255)
            y = labels[start : start + batch_size].to(device, non_blocking=True)
            if attack is not None:
                x = attack(model, x, y)
            with torch.no_grad():
                results.append(model(x).argmax(1) == y)
            if on_batch is not None:
                on_batch(len(y))
    finally:
        model.train(was_training)
    return torch.cat(results) if results else torch.zeros(0, dtype=torch.bool, device=device)

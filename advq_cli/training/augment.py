"""Random crop with zero padding and horizontal flip, done on the device for a whole batch
(its draws split by run when runs train stacked: ``random_streams``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..random_streams import integers, unit


def crop_and_flip(x: torch.Tensor, padding: int = 4) -> torch.Tensor:
    """Per example, a random crop of the zero-padded image and a flip with probability 1/2.

    One gather for the whole batch: no Python loop over examples, no host round-trip.
    """
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    top = integers(2 * padding + 1, (b, 1, 1), x.device)
    left = integers(2 * padding + 1, (b, 1, 1), x.device)
    rows = top + torch.arange(h, device=x.device).view(1, h, 1)
    cols = left + torch.arange(w, device=x.device).view(1, 1, w)
    flip = unit((b, 1, 1), x.device) < 0.5
    cols = torch.where(flip, left + (w - 1) - torch.arange(w, device=x.device).view(1, 1, w), cols)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()

"""Wide ResNets (Zagoruyko & Komodakis 2016) as TRADES and MART train them.

WRN-depth-width: a 16-channel stem, then three stages of 16k, 32k and 64k channels
(strides 1, 2, 2), each of (depth - 4) / 6 pre-activation blocks. WRN-34-10 is the
TRADES/MART model; WRN-28-10 that of Carmon et al. and Rice et al.
"""

from __future__ import annotations

from torch import nn

from .preact_resnet import preact_resnet


def blocks_per_stage(depth: int) -> int:
    """Blocks in each of the three stages; depth counts 6 convs per block pair plus 4."""
    if depth < 10 or (depth - 4) % 6 != 0:
        raise ValueError(f"WRN depth must be 6n+4 with n ≥ 1 (10, 16, 22, 28, 34, 40, …), got {depth}")
    return (depth - 4) // 6


def make_wrn(
    num_classes: int,
    in_channels: int,
    image_size: int,
    depth: int = 28,
    width: int = 10,
    dropout: float = 0.0,
) -> nn.Module:
    """WRN-`depth`-`width` with optional dropout between the convs of each block."""
    blocks = blocks_per_stage(depth)
    if width < 1:
        raise ValueError(f"WRN width must be a positive integer, got {width}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"WRN dropout must be in [0, 1), got {dropout}")
    widths = (16 * width, 32 * width, 64 * width)
    return preact_resnet(num_classes, in_channels, 16, widths, (1, 2, 2), blocks, dropout)

"""CPU-sized models for the embedded data and quick experiments."""

from __future__ import annotations

from torch import nn


def make_mlp(num_classes: int, in_channels: int, image_size: int, hidden: int = 256) -> nn.Module:
    """Two hidden ReLU layers over the flattened image."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_channels * image_size * image_size, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, num_classes),
    )


def make_small_cnn(num_classes: int, in_channels: int, image_size: int, width: int = 32) -> nn.Module:
    """Two conv blocks (each conv-BN-ReLU ×2, then 2×2 pooling) and a linear head.

    Pooling is adaptive to 4×4 at the end, so any image of 8 pixels or more fits.
    """
    if image_size < 8:
        raise ValueError("small-cnn needs images of at least 8×8 pixels")

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]

    return nn.Sequential(
        *block(in_channels, width),
        nn.MaxPool2d(2),
        *block(width, 2 * width),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(2 * width * 16, 4 * width),
        nn.ReLU(inplace=True),
        nn.Linear(4 * width, num_classes),
    )

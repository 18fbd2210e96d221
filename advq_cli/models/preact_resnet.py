"""Pre-activation ResNets (He et al. 2016, "Identity mappings in deep residual networks").

One trunk serves both PreAct ResNet-18 (Rice et al. 2020, "Overfitting in adversarially
robust deep learning") and the Wide ResNets of TRADES/MART (`wrn.py`): a 3×3 stem conv,
stages of pre-activation blocks, then BN-ReLU, global average pooling and a linear head.
Adaptive pooling is what lets the same network take 8×8 digits and 64×64 Tiny-ImageNet.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def conv3x3(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    """Bias-free 3×3 conv: batch norm right after it makes a bias redundant."""
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def kaiming_init(net: nn.Module) -> nn.Module:
    """He-normal convs (fan-out, ReLU gain) and zero linear biases.

    The initialisation of the reference WRN code (TRADES/MART) and torchvision; batch norm
    keeps PyTorch's defaults (weight 1, bias 0).
    """
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            nn.init.zeros_(module.bias)
    return net


class PreActBlock(nn.Module):
    """BN-ReLU-conv twice, plus an identity or 1×1-projection shortcut.

    The projection reads the pre-activated input, as in He et al. 2016 and in both
    reference codes (Rice et al.; the TRADES WRN). Dropout between the two convs is WRN's
    option (Zagoruyko & Komodakis 2016); at 0 the block is exactly PreAct ResNet's.
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = conv3x3(c_in, c_out, stride)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv3x3(c_out, c_out)
        needs_projection = stride != 1 or c_in != c_out
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False) if needs_projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + skip


def stage(c_in: int, c_out: int, blocks: int, stride: int, dropout: float) -> nn.Sequential:
    """`blocks` pre-activation blocks; only the first changes width and resolution."""
    return nn.Sequential(
        PreActBlock(c_in, c_out, stride, dropout),
        *(PreActBlock(c_out, c_out, 1, dropout) for _ in range(blocks - 1)),
    )


def preact_resnet(
    num_classes: int,
    in_channels: int,
    stem_width: int,
    widths: Sequence[int],
    strides: Sequence[int],
    blocks_per_stage: int,
    dropout: float = 0.0,
) -> nn.Sequential:
    """Stem conv, one stage per width, then BN-ReLU, global average pooling and a linear head."""
    inputs = [stem_width, *widths[:-1]]
    stages = [stage(c_in, c_out, blocks_per_stage, s, dropout) for c_in, c_out, s in zip(inputs, widths, strides)]
    net = nn.Sequential(
        OrderedDict(
            stem=conv3x3(in_channels, stem_width),
            stages=nn.Sequential(*stages),
            bn=nn.BatchNorm2d(widths[-1]),
            relu=nn.ReLU(inplace=True),
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            fc=nn.Linear(widths[-1], num_classes),
        )
    )
    return kaiming_init(net)


def make_preact_resnet18(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """PreAct ResNet-18 as in Rice et al. 2020: stem of 64, stages 64/128/256/512, two blocks each."""
    return preact_resnet(num_classes, in_channels, 64, (64, 128, 256, 512), (1, 2, 2, 2), 2)

"""VGG with batch norm (Simonyan & Zisserman 2015), in the CIFAR form of the AT literature.

3×3 conv-BN-ReLU layers and 2×2 max-pools per the standard configurations, then global
average pooling and a single linear layer from 512 channels. A max-pool is skipped once
the feature map is 1×1, so 8×8 digits and 28×28 Fashion-MNIST fit as well as CIFAR.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn

from .preact_resnet import kaiming_init

POOL = "M"
CONFIGS: dict[int, tuple[int | str, ...]] = {
    11: (64, POOL, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
    13: (64, 64, POOL, 128, 128, POOL, 256, 256, POOL, 512, 512, POOL, 512, 512, POOL),
    16: (64, 64, POOL, 128, 128, POOL, 256, 256, 256, POOL, 512, 512, 512, POOL, 512, 512, 512, POOL),
    19: (64, 64, POOL, 128, 128, POOL, 256, 256, 256, 256, POOL, 512, 512, 512, 512, POOL, 512, 512, 512, 512, POOL),
}


def features(config: tuple[int | str, ...], in_channels: int, image_size: int) -> nn.Sequential:
    """The conv trunk; max-pools stop once the map is down to one pixel."""
    layers: list[nn.Module] = []
    channels, size = in_channels, image_size
    for item in config:
        if isinstance(item, int):
            layers += [nn.Conv2d(channels, item, 3, padding=1, bias=False), nn.BatchNorm2d(item), nn.ReLU(inplace=True)]
            channels = item
        elif size > 1:
            layers.append(nn.MaxPool2d(2))
            size //= 2
    return nn.Sequential(*layers)


def make_vgg(depth: int, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """VGG-`depth` (11, 13, 16 or 19) with batch norm and a 512 → classes linear head."""
    if depth not in CONFIGS:
        raise ValueError(f"VGG depth must be one of {sorted(CONFIGS)}, got {depth}")
    net = nn.Sequential(
        OrderedDict(
            features=features(CONFIGS[depth], in_channels, image_size),
            pool=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
            classifier=nn.Linear(512, num_classes),
        )
    )
    return kaiming_init(net)


def vgg_factory(depth: int) -> Callable[[int, int, int], nn.Module]:
    """A model factory for one VGG depth.

    A closure rather than `functools.partial(make_vgg, depth=…)`: a keyword `depth` would
    show in the factory's signature, and a `--depth` meant for `wrn` would then override it.
    """

    def make(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
        return make_vgg(depth, num_classes, in_channels, image_size)

    make.__name__ = make.__qualname__ = f"make_vgg{depth}"
    make.__doc__ = f"VGG-{depth} with batch norm (CIFAR form)."
    return make

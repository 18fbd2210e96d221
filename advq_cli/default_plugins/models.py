"""Built-in models. Each factory is `make(num_classes, in_channels, image_size, **options)`."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..models.preact_resnet import make_preact_resnet18
from ..models.small import make_mlp, make_small_cnn
from ..models.vgg import CONFIGS as VGG_CONFIGS
from ..models.vgg import vgg_factory
from ..models.wrn import make_wrn


@hookimpl
def advq_register_models(register):
    register("mlp", make_mlp, description="Two hidden layers of 256 ReLU units (CPU scale); option: hidden")
    register("small-cnn", make_small_cnn, description="Four 3×3 conv layers with batch norm (CPU scale); option: width")
    register(
        "preact-resnet18",
        make_preact_resnet18,
        description="Pre-activation ResNet-18 of Rice et al. 2020 (11.2M parameters); no options",
    )
    register(
        "wrn",
        make_wrn,
        description="Wide ResNet of TRADES/MART; options: depth (6n+4, default 28), width (default 10), "
        "dropout (default 0)",
    )
    for depth in VGG_CONFIGS:
        register(
            f"vgg{depth}",
            vgg_factory(depth),
            description=f"VGG-{depth} with batch norm, one linear layer after global pooling; no options",
        )

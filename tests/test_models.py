"""Every registered model, built-in or third-party, fits every dataset shape advq supports."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from advq_cli.errors import AdvqError
from advq_cli.lookups import build_model
from advq_cli.plugins import registry

MODEL_NAMES = registry("models").names()
BUILT_IN = {"mlp", "small-cnn", "preact-resnet18", "wrn", "vgg11", "vgg13", "vgg16", "vgg19"}

# (channels, image size, classes): digits, Fashion-MNIST, CIFAR-100, Tiny-ImageNet.
SHAPES = [(1, 8, 10), (1, 28, 10), (3, 32, 100), (3, 64, 200)]
SMALL_OPTIONS = {"wrn": {"depth": 10, "width": 1}}


def build(name: str, channels: int, size: int, classes: int, **options: object) -> torch.nn.Module:
    return build_model(name, classes, channels, size, [0.5] * channels, [0.25] * channels, **options)


def test_built_in_models_are_registered() -> None:
    assert BUILT_IN <= set(MODEL_NAMES)


@pytest.mark.parametrize("channels,size,classes", SHAPES, ids=[f"{c}x{s}x{s}-{k}" for c, s, k in SHAPES])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_fits_dataset_shape(name: str, channels: int, size: int, classes: int) -> None:
    torch.manual_seed(0)
    model = build(name, channels, size, classes, **SMALL_OPTIONS.get(name, {}))
    x = torch.rand(2, channels, size, size, requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, classes)
    assert torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, classes - 1])).backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "name,options,millions",
    [
        ("wrn", {"depth": 28, "width": 10}, 36.5),
        ("wrn", {"depth": 34, "width": 10}, 46.2),
        ("preact-resnet18", {}, 11.2),
    ],
    ids=["wrn-28-10", "wrn-34-10", "preact-resnet18"],
)
def test_parameter_counts_match_literature(name: str, options: dict, millions: float) -> None:
    count = sum(p.numel() for p in build(name, 3, 32, 10, **options).parameters())
    assert count / 1e6 == pytest.approx(millions, abs=0.05)


@pytest.mark.parametrize("depth", [4, 27])
def test_wrn_rejects_bad_depth(depth: int) -> None:
    with pytest.raises(AdvqError, match=r"6n\+4"):
        build("wrn", 3, 32, 10, depth=depth, width=1)

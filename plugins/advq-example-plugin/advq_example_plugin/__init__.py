"""An advq plugin package: everything registers through advq's hooks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from advq_cli import hookimpl
from advq_cli.attacks import Attack
from advq_cli.methods import Method, MethodOutput


def make_linear(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """A model factory: it receives the dataset's shape and returns a module on normalised input."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))


class SignNoise(Attack):
    """Random ±ε per pixel: a floor any real attack must beat. ``SignNoise(eps)(model, x, y)``."""

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self.eps * torch.randint_like(x, 0, 2).mul_(2).sub_(1)


class NoiseTraining(Method):
    """Cross-entropy on `SignNoise` examples: a method built on a plugin attack."""

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        x_noisy = SignNoise(self.threat.eps)(model, x, y)
        logits = model(x_noisy)
        return MethodOutput(F.cross_entropy(logits, y, reduction="none"), logits.detach())


@hookimpl
def advq_register_models(register):
    register("example-linear", make_linear, description="Linear classifier (example plugin)")


@hookimpl
def advq_register_attacks(register):
    register("example-noise", SignNoise, description="Random ±eps sign noise (example plugin)")


@hookimpl
def advq_register_methods(register):
    register("example-noise-at", NoiseTraining, description="Training on random sign noise (example plugin)")

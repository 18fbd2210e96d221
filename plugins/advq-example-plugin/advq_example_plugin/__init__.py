"""An advq plugin package: everything registers through advq's hooks.

A model, an attack, a training method and a quality measure, plus an epoch logger that
writes JSON lines to the file named by ``ADVQ_EXAMPLE_LOG`` (when set).
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advq_cli import hookimpl
from advq_cli.attacks import Attack
from advq_cli.events import EpochEvent
from advq_cli.methods import Method, MethodOutput
from advq_cli.profiling import RunRecord

LOG_ENV = "ADVQ_EXAMPLE_LOG"


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


def last_wrong_epoch(record: RunRecord) -> np.ndarray:
    """A measure: the last epoch in which the example was misclassified under the training
    attack (0: never). Late values mark examples the model had not settled on by the end."""
    wrong = record.correct[:, record.indices] == 0
    epochs = np.arange(1, record.epochs + 1)[:, None]
    return record.expand(np.where(wrong, epochs, 0).max(axis=0))


@hookimpl
def advq_register_models(register):
    register("example-linear", make_linear, description="Linear classifier (example plugin)")


@hookimpl
def advq_register_attacks(register):
    register("example-noise", SignNoise, description="Random ±eps sign noise (example plugin)")


@hookimpl
def advq_register_methods(register):
    register("example-noise-at", NoiseTraining, description="Training on random sign noise (example plugin)")


@hookimpl
def advq_register_measures(register):
    register("example-last-wrong-epoch", last_wrong_epoch,
             description="Last epoch misclassified under the training attack, 0: never (example plugin)")


@hookimpl
def advq_on_epoch_end(event: EpochEvent) -> None:
    """A logger: one JSON line per epoch of every train or profile run, appended to $ADVQ_EXAMPLE_LOG."""
    path = os.environ.get(LOG_ENV)
    if path:
        line = {"command": event.command, "run_id": event.run_id, "seed": event.seed, **event.stats}
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

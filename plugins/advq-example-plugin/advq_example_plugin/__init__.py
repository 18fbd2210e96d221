"""An advq plugin package: everything registers through advq's hooks.

A dataset, a model, an attack, a training method, a quality measure and an exporter, plus
an epoch logger that writes JSON lines to the file named by ``ADVQ_EXAMPLE_LOG`` (when set).
Everything it needs from advq comes from the package root, ``advq_cli``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from advq_cli import Attack, DatasetBundle, EpochEvent, Method, MethodOutput, Register, RunRecord, hookimpl

LOG_ENV = "ADVQ_EXAMPLE_LOG"
STRIPES = ("horizontal", "vertical", "diagonal")


def load_stripes(data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """A dataset loader: 12×12 greyscale stripes of three orientations under seeded noise.

    Made, not downloaded, so ``data_dir`` and ``download`` go unused. Images are uint8
    (N, C, H, W) in a fixed (canonical) order: every index advq stores refers to it, so the
    same call must return the same tensors every time. Mean and std are per channel, in [0, 1].
    """
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(600) % len(STRIPES)
    rows, cols = torch.meshgrid(torch.arange(12), torch.arange(12), indexing="ij")
    patterns = torch.stack([rows % 4 < 2, cols % 4 < 2, (rows + cols) % 4 < 2]).float()
    noise = torch.rand(600, 12, 12, generator=generator)
    images = (0.6 * patterns[labels] + 0.4 * noise).mul(255).round().to(torch.uint8)[:, None]
    train, test = images[:500], images[500:]
    pixels = train.float() / 255
    return DatasetBundle(
        name="example-stripes", train_images=train, train_labels=labels[:500], test_images=test,
        test_labels=labels[500:], classes=STRIPES, mean=(pixels.mean().item(),), std=(pixels.std().item(),),
    )


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


def export_csv(bundle: DatasetBundle, indices: np.ndarray, folder: Path, name: str, manifest: dict[str, Any]) -> None:
    """An exporter: ``<name>.csv`` with one row per example of the set (index, label, class).

    ``folder`` is a fresh staging folder; advq moves what is written there into the export
    folder once this returns, and writes ``manifest`` beside it.
    """
    labels = bundle.train_labels[indices].tolist()
    with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["index", "label", "class"])
        writer.writerows((int(i), label, bundle.classes[label]) for i, label in zip(indices, labels))


@hookimpl
def advq_register_datasets(register: Register) -> None:
    register("example-stripes", load_stripes, description="12×12 stripes of three orientations, 500 / 100 (example plugin)")


@hookimpl
def advq_register_exporters(register: Register) -> None:
    register("example-csv", export_csv, description="<name>.csv: index, label, class per example (example plugin)")


@hookimpl
def advq_register_models(register: Register) -> None:
    register("example-linear", make_linear, description="Linear classifier (example plugin)")


@hookimpl
def advq_register_attacks(register: Register) -> None:
    register("example-noise", SignNoise, description="Random ±eps sign noise (example plugin)")


@hookimpl
def advq_register_methods(register: Register) -> None:
    register("example-noise-at", NoiseTraining, description="Training on random sign noise (example plugin)")


@hookimpl
def advq_register_measures(register: Register) -> None:
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

"""What a dataset plugin returns, and the cached lookup the rest of advq uses."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import AdvqError


PAPER_EVALUATION = {"eval_eps": 8 / 255, "eval_step_size": 2 / 255}
"""Appendix F: robustness "against ℓ∞ … perturbation radius 8/255", PGD "step size fixed to 2/255",
also for models trained at 12/255 (Table 3); for CIFAR-10/100 and Tiny-ImageNet."""


@dataclass(frozen=True)
class DatasetBundle:
    """A whole dataset in memory: uint8 images (N, C, H, W) and int64 labels.

    The training order is the dataset's canonical order: every stored index refers to it.
    ``augment`` says whether crop-and-flip augmentation suits the images (natural colour
    images of 32 pixels or more); ``mean``/``std`` are per channel in [0, 1] units.
    ``eval_eps`` and ``eval_step_size`` are the L∞ radius and PGD step that robustness is
    reported at by default (``PAPER_EVALUATION`` on the paper's datasets); None means the
    training attack's, for datasets the paper sets no evaluation radius for.
    """

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool = False
    eval_eps: float | None = None
    eval_step_size: float | None = None
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for part in ("train_images", "test_images"):
            images = getattr(self, part)
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(f"{self.name}: {part} must be uint8 (N, C, H, W)")
        for part in ("train_labels", "test_labels"):
            if getattr(self, part).dtype != torch.int64:
                object.__setattr__(self, part, getattr(self, part).long())
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint_of(self.name, self.train_images, self.train_labels))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[-1])

    @property
    def n_train(self) -> int:
        return int(self.train_images.shape[0])

    def split(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.train_images, self.train_labels) if train else (self.test_images, self.test_labels)


def fingerprint_of(name: str, images: torch.Tensor, labels: torch.Tensor) -> str:
    """A short content hash of the training split: files made for one dataset refuse another."""
    digest = hashlib.sha256()
    digest.update(f"{name}:{tuple(images.shape)}".encode())
    digest.update(_raw_bytes(images))
    digest.update(_raw_bytes(labels.to(torch.int64)))
    return digest.hexdigest()[:16]


def _raw_bytes(tensor: torch.Tensor) -> memoryview:
    """The tensor's bytes as a view: hashing 47 MB of images needs no copy of them."""
    return memoryview(tensor.contiguous().numpy()).cast("B")


_cache: dict[tuple[str, str, bool], DatasetBundle] = {}


def get_dataset(name: str, data_dir: str | Path | None = None, download: bool = False) -> DatasetBundle:
    """The named dataset, loaded once per process through its plugin."""
    from ..plugins import registry

    entry = registry("datasets").entry(name)
    key = (entry.name, str(data_dir or ""), bool(download))
    if key not in _cache:
        bundle = entry.obj(Path(data_dir) if data_dir else None, download)
        if not isinstance(bundle, DatasetBundle):
            raise AdvqError(f"Dataset plugin '{entry.plugin}' returned no DatasetBundle for '{entry.name}'.")
        _cache[key] = bundle
    return _cache[key]


def load_dataset(
    name: str, train: bool = True, data_dir: str | Path | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, C, H, W) uint8 and labels int64 of one split, in canonical order."""
    return get_dataset(name, data_dir, download).split(train)

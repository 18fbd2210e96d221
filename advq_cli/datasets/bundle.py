"""What a dataset plugin returns: a whole dataset in memory, and its content hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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
    ``train_files``, when the images come from files, names each training image's file
    (exports copy them instead of re-encoding).
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
    train_files: tuple[Path, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        for part in ("train_images", "test_images"):
            images = getattr(self, part)
            if images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(f"{self.name}: {part} must be uint8 (N, C, H, W)")
        for part in ("train_labels", "test_labels"):
            if getattr(self, part).dtype != torch.int64:
                object.__setattr__(self, part, getattr(self, part).long())
        if self.train_files and len(self.train_files) != self.train_images.shape[0]:
            raise ValueError(f"{self.name}: {len(self.train_files)} train_files for {self.train_images.shape[0]} images")
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
        """The side of the square images every model is built for."""
        height, width = self.train_images.shape[-2:]
        if height != width:
            raise AdvqError(
                f"Dataset '{self.name}' has {height}×{width} images; advq's models take square images: "
                "resize them with --image-size N."
            )
        return int(width)

    @property
    def n_train(self) -> int:
        return int(self.train_images.shape[0])

    def class_labels(self, tokens: Iterable[str]) -> list[int]:
        """Labels of the classes named by ``tokens``, in the order given, each once.

        The one rule for every option that picks classes (`curate --classes`, explain's
        `--classes` and pairs): a class name (exact, else in any case) or a label.
        """
        by_lower = {name.lower(): label for label, name in enumerate(self.classes)}
        labels = []
        for token in tokens:
            text = str(token).strip()
            label = self.classes.index(text) if text in self.classes else by_lower.get(
                text.lower(), int(text) if text.isdigit() else -1)
            if not 0 <= label < self.num_classes:
                shown = ", ".join(self.classes[:20]) + (", …" if self.num_classes > 20 else "")
                raise AdvqError(
                    f"Unknown class '{text}' of dataset '{self.name}'. Classes: {shown} (or labels 0..{self.num_classes - 1})."
                )
            labels.append(label)
        return list(dict.fromkeys(labels))

    def split(self, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.train_images, self.train_labels) if train else (self.test_images, self.test_labels)


def fingerprint_of(name: str, images: torch.Tensor, labels: torch.Tensor) -> str:
    """A short content hash of the training split: files made for one dataset refuse another."""
    return content_hash(f"{name}:{tuple(images.shape)}", images, labels.to(torch.int64))


def content_hash(header: str, *tensors: torch.Tensor) -> str:
    """The first 16 hex digits of the SHA-256 of a header and the tensors' bytes."""
    digest = hashlib.sha256(header.encode())
    for tensor in tensors:
        digest.update(_raw_bytes(tensor))
    return digest.hexdigest()[:16]


def _raw_bytes(tensor: torch.Tensor) -> memoryview:
    """The tensor's bytes as a view: hashing 47 MB of images needs no copy of them."""
    return memoryview(tensor.contiguous().numpy()).cast("B")

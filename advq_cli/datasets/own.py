"""What the imagefolder:, npz: and hf: loaders share: where the data is, and the bundle they make.

The bundle's name is the canonical dataset name (absolute location, sorted options), so
later commands reload the same data from the name stored in their input files. Its
fingerprint hashes the loaded content of both splits and the class names, not the
location: a changed file changes it; the same data moved elsewhere keeps it.
Normalisation is the per-channel mean and standard deviation of the training images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..errors import AdvqError, DatasetNotFoundError
from .bundle import DatasetBundle, content_hash
from .spec import DatasetSpec

STATS_CHUNK = 4096  # images per bincount pass


def resolve_location(spec: DatasetSpec, data_dir: Path | None, how: str) -> Path:
    """The absolute path a spec names, which must exist."""
    path = spec.location_path(data_dir)
    if not path.exists():
        raise DatasetNotFoundError(f"Dataset '{spec.name}': {path} does not exist; {how}.")
    return path


def own_bundle(
    spec: DatasetSpec,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    classes: tuple[str, ...],
    train_files: tuple[Path, ...] = (),
) -> DatasetBundle:
    """A bundle named by ``spec.text`` from uint8 (N, C, H, W) images and integer labels."""
    if len(train[0]) == 0:
        raise AdvqError(f"Dataset '{spec.name}': the training split holds no images.")
    train_images, train_labels = (torch.from_numpy(np.ascontiguousarray(a)) for a in (train[0], train[1].astype(np.int64)))
    test_images, test_labels = (torch.from_numpy(np.ascontiguousarray(a)) for a in (test[0], test[1].astype(np.int64)))
    mean, std = channel_stats(train_images)
    header = json.dumps({"classes": classes, "train": list(train_images.shape), "test": list(test_images.shape)})
    return DatasetBundle(
        name=spec.text,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=classes,
        mean=mean,
        std=std,
        fingerprint=content_hash(header, train_images, train_labels, test_images, test_labels),
        train_files=train_files,
    )


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation in [0, 1] units.

    Computed exactly from each channel's histogram of the 256 pixel values, counted in
    chunks of images (a pass over uint8 data, no float copy of it). A channel that never
    varies gets std 1, so normalising it divides by nothing harmful.
    """
    channels = images.shape[1]
    counts = np.zeros((channels, 256), dtype=np.int64)
    for start in range(0, images.shape[0], STATS_CHUNK):
        chunk = images[start:start + STATS_CHUNK].numpy()
        for channel in range(channels):
            counts[channel] += np.bincount(chunk[:, channel].ravel(), minlength=256)
    values = np.arange(256) / 255
    mean = counts @ values / counts.sum(axis=1)
    std = np.sqrt(np.maximum(counts @ values**2 / counts.sum(axis=1) - mean**2, 0))
    std = np.where(std > 0, std, 1.0)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def class_names(labels: np.ndarray, names: list[str] | None, dataset: str) -> tuple[str, ...]:
    """The given names, or ``0``..``K-1`` for labels below K (both splits' labels); labels must be in range."""
    count = len(names) if names else int(labels.max(initial=-1)) + 1
    if labels.size and (labels.min() < 0 or labels.max() >= count):
        raise AdvqError(f"Dataset '{dataset}': labels must be integers in 0..{count - 1}, found {labels.min()}..{labels.max()}.")
    return tuple(names) if names else tuple(str(k) for k in range(count))

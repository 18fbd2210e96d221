"""The 8×8 handwritten digits that ship inside scikit-learn: real data, no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .bundle import DatasetBundle

TEST_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits(data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """1,797 images scaled from 0..16 to 0..255; a fixed stratified 80/20 train/test split."""
    from sklearn.datasets import load_digits as sklearn_digits

    raw = sklearn_digits()
    images = np.round(raw.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = raw.target.astype(np.int64)
    train_idx, test_idx = _stratified_split(labels)
    train_images = torch.from_numpy(images[train_idx])
    mean = train_images.float().mean().item() / 255.0
    std = train_images.float().std().item() / 255.0
    return DatasetBundle(
        name="digits",
        train_images=train_images,
        train_labels=torch.from_numpy(labels[train_idx]),
        test_images=torch.from_numpy(images[test_idx]),
        test_labels=torch.from_numpy(labels[test_idx]),
        classes=tuple(str(d) for d in range(10)),
        mean=(mean,),
        std=(std,),
    )


def _stratified_split(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's seeded stratified 80/20 split; both sides keep ascending order."""
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    return np.sort(train_idx), np.sort(test_idx)

"""The built-in exporters: files any PyTorch code can load without advq.

Each is ``write(bundle, indices, folder, name, manifest)``: it writes entries named
``<name>`` or ``<name>.<ext>`` into ``folder`` (a fresh staging folder; moving the
result into place atomically is the caller's job, see ``export.py``).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..datasets import DatasetBundle
from ..errors import AdvqError
from ..h5store import stamp, updating

EXPORT_FORMAT = "advq-export"


def export_npy(bundle: DatasetBundle, indices: np.ndarray, folder: Path, name: str, manifest: dict[str, Any]) -> None:
    """``<name>.npy``: the sorted int64 indices, the index file the paper's code reads."""
    np.save(folder / f"{name}.npy", np.asarray(indices, dtype=np.int64))


def export_imagefolder(
    bundle: DatasetBundle, indices: np.ndarray, folder: Path, name: str, manifest: dict[str, Any]
) -> None:
    """``<name>/<label>-<class>/<index>.png``, the tree ``torchvision.datasets.ImageFolder`` loads.

    Class folders start with the zero-padded label, so ImageFolder's sorted classes get
    the dataset's labels whenever every class is present; file names are zero-padded
    training indices, so files sort in index order. A dataset read from image files
    (``imagefolder:``) has its original files copied byte for byte, as
    ``<index>-<original name>``, instead of re-encoded.
    """
    channels = bundle.in_channels
    if channels not in (1, 3) and not bundle.train_files:
        raise AdvqError(f"The imagefolder export needs greyscale or RGB images; '{bundle.name}' has {channels} channels.")
    folders = class_folder_names(bundle.classes)
    width = len(str(bundle.n_train - 1))
    labels = bundle.train_labels[indices].numpy()
    for label in np.unique(labels):
        (folder / name / folders[label]).mkdir(parents=True)
    if bundle.train_files:
        for index, label in zip(indices, labels):
            source = bundle.train_files[index]
            shutil.copyfile(source, folder / name / folders[label] / f"{index:0{width}d}-{source.name}")
        return
    images = bundle.train_images[indices].permute(0, 2, 3, 1).numpy()
    for index, image, label in zip(indices, images, labels):
        pixels = image[:, :, 0] if channels == 1 else image
        Image.fromarray(np.ascontiguousarray(pixels)).save(folder / name / folders[label] / f"{index:0{width}d}.png")


def class_folder_names(classes: tuple[str, ...]) -> list[str]:
    """``03-cat``: the zero-padded label, then the class name made safe for a file system."""
    width = len(str(len(classes) - 1))
    return [f"{label:0{width}d}-{re.sub(r'[^A-Za-z0-9._ -]+', '_', str(c)).strip()}" for label, c in enumerate(classes)]


def export_hdf5(bundle: DatasetBundle, indices: np.ndarray, folder: Path, name: str, manifest: dict[str, Any]) -> None:
    """``<name>.h5``: ``images`` uint8 (M, C, H, W), ``labels`` and the original ``indices`` (int64)."""
    index = np.asarray(indices, dtype=np.int64)
    with updating(folder / f"{name}.h5", new=True) as handle:  # in memory: a full disk is a clear error
        stamp(
            handle, EXPORT_FORMAT, bundle.name, bundle.fingerprint,
            n_train=bundle.n_train, classes=list(bundle.classes), manifest=json.dumps(manifest, sort_keys=True),
        )
        handle.create_dataset("images", data=bundle.train_images[index].numpy())
        handle.create_dataset("labels", data=bundle.train_labels[index].numpy().astype(np.int64))
        handle.create_dataset("indices", data=index)

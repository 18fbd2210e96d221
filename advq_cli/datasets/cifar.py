"""CIFAR-10 and CIFAR-100 from torchvision's "python version" folders, read without running code.

The batches are pickles; a pickle can call anything, so ours are read by an unpickler
that builds numpy arrays and plain containers only. The canonical training order is
torchvision's: the training batches concatenated in file order.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from ..errors import AdvqError
from .bundle import PAPER_EVALUATION, DatasetBundle
from .locate import Layout, locate_or_fetch

try:
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy < 2
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

IMAGE_SHAPE = (3, 32, 32)
ROW_LENGTH = 3 * 32 * 32

# Everything a numpy array needs to unpickle, under numpy 1 and numpy 2 module spellings.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(f"{package}.multiarray", "_reconstruct"): _multiarray._reconstruct for package in ("numpy.core", "numpy._core")},
    **{(f"{package}.numeric", "_frombuffer"): _numeric._frombuffer for package in ("numpy.core", "numpy._core")},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and builtin containers; any other global is refused."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise AdvqError(f"refusing to unpickle '{module}.{name}' (only numpy arrays are allowed)") from None


def unpickle(path: Path) -> object:
    """A pickle's content through RestrictedUnpickler; any failure is one line naming the file."""
    try:
        with path.open("rb") as handle:
            return RestrictedUnpickler(handle, encoding="bytes").load()
    except AdvqError as error:
        raise AdvqError(f"{path}: {error}.") from None
    except Exception as error:  # a corrupt pickle fails in many ways, all of them "unreadable"
        raise AdvqError(f"{path}: not a readable pickle ({type(error).__name__}: {error}).") from error


@dataclass(frozen=True)
class CifarSpec:
    """What differs between CIFAR-10 and CIFAR-100."""

    name: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: bytes
    names_key: bytes
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    torchvision_class: str

    @property
    def files(self) -> tuple[str, ...]:
        return (*self.train_files, self.test_file, self.meta_file)

    @property
    def layout(self) -> Layout:
        return Layout(
            name=self.name,
            subdirs=(self.folder,),
            complete=partial(_has_files, names=self.files),
            how_to_get="Pass --download (download=True) to fetch it into {root}.",
        )


CIFAR10 = CifarSpec(
    name="cifar10",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    meta_file="batches.meta",
    label_key=b"labels",
    names_key=b"label_names",
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2471, 0.2435, 0.2616),
    torchvision_class="CIFAR10",
)

CIFAR100 = CifarSpec(
    name="cifar100",
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key=b"fine_labels",
    names_key=b"fine_label_names",
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
    torchvision_class="CIFAR100",
)


def load_cifar10(data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """50,000 train / 10,000 test colour 32×32 images of 10 classes."""
    return _load(CIFAR10, data_dir, download)


def load_cifar100(data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """50,000 train / 10,000 test colour 32×32 images of 100 (fine) classes."""
    return _load(CIFAR100, data_dir, download)


def _load(spec: CifarSpec, data_dir: Path | None, download: bool) -> DatasetBundle:
    folder = locate_or_fetch(spec.layout, data_dir, download, partial(_fetch, spec))
    classes = _read_class_names(folder / spec.meta_file, spec.names_key)
    train_images, train_labels = _read_split(folder, spec.train_files, spec.label_key, len(classes))
    test_images, test_labels = _read_split(folder, (spec.test_file,), spec.label_key, len(classes))
    return DatasetBundle(
        name=spec.name,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=classes,
        mean=spec.mean,
        std=spec.std,
        augment=True,
        **PAPER_EVALUATION,
    )


def _has_files(folder: Path, names: tuple[str, ...]) -> bool:
    return all((folder / name).is_file() for name in names)


def _fetch(spec: CifarSpec, root: Path) -> None:
    """torchvision downloads and checks the archive's md5 (it only unpickles verified files)."""
    import torchvision.datasets

    getattr(torchvision.datasets, spec.torchvision_class)(str(root), download=True)


def _read_split(
    folder: Path, files: tuple[str, ...], label_key: bytes, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batches concatenated in file order (a fresh, writable copy)."""
    batches = [_read_batch(folder / name, label_key, num_classes) for name in files]
    images = np.concatenate([images for images, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    return torch.from_numpy(images), torch.from_numpy(labels)


def _read_batch(path: Path, label_key: bytes, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch: b'data' uint8 (N, 3072) in row-major CHW, and N labels below num_classes."""
    batch = _read_dict(path, (b"data", label_key))
    data = batch[b"data"]
    labels = _labels(path, batch[label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != (len(labels), ROW_LENGTH):
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise AdvqError(f"{path}: b'data' must be uint8 ({len(labels)}, {ROW_LENGTH}), found {found}.")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise AdvqError(f"{path}: labels outside 0..{num_classes - 1}.")
    return data.reshape(-1, *IMAGE_SHAPE), labels


def _labels(path: Path, value: object) -> np.ndarray:
    try:
        labels = np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError) as error:
        raise AdvqError(f"{path}: labels are not integers ({error}).") from error
    if labels.ndim != 1:
        raise AdvqError(f"{path}: labels must be one-dimensional, found shape {labels.shape}.")
    return labels


def _read_class_names(path: Path, key: bytes) -> tuple[str, ...]:
    names = _read_dict(path, (key,))[key]
    if not isinstance(names, list) or not names:
        raise AdvqError(f"{path}: {key!r} must be a non-empty list of names.")
    return tuple(name.decode() if isinstance(name, bytes) else str(name) for name in names)


def _read_dict(path: Path, keys: tuple[bytes, ...]) -> dict:
    content = unpickle(path)
    missing = [key for key in keys if not isinstance(content, dict) or key not in content]
    if missing:
        raise AdvqError(f"{path}: not a CIFAR file (missing {', '.join(map(repr, missing))}).")
    return content

"""Fashion-MNIST from its idx files (plain or .gz), parsed with numpy so nothing else is needed.

Found in a data dir, in torchvision's ``FashionMNIST/raw`` below it, or in
``/usr/share/datasets/fashion-mnist`` (Debian's package ``dataset-fashion-mnist``).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import AdvqError
from .bundle import DatasetBundle
from .locate import Layout, locate_or_fetch

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MEAN = (0.2860,)
STD = (0.3530,)
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_UBYTE = 0x08
STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _idx_path(folder: Path, stem: str) -> Path:
    """The plain file when present (faster), else its .gz."""
    plain = folder / stem
    return plain if plain.is_file() else folder / f"{stem}.gz"


def _complete(folder: Path) -> bool:
    return all(_idx_path(folder, stem).is_file() for stems in STEMS.values() for stem in stems)


LAYOUT = Layout(
    name="fashion-mnist",
    subdirs=("", "FashionMNIST/raw"),
    complete=_complete,
    how_to_get="Pass --download (download=True) to fetch it into {root}, "
    "or install Debian's package: apt-get install dataset-fashion-mnist.",
    system_dirs=(DEBIAN_DIR,),
)


def load_fashion_mnist(data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """60,000 train / 10,000 test greyscale 28×28 images, in the idx files' order."""
    folder = locate_or_fetch(LAYOUT, data_dir, download, _fetch)
    train_images, train_labels = _read_split(folder, "train")
    test_images, test_labels = _read_split(folder, "test")
    return DatasetBundle(
        name="fashion-mnist",
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=CLASSES,
        mean=MEAN,
        std=STD,
    )


def _fetch(root: Path) -> None:
    """torchvision knows the mirrors and checksums; it writes ``root/FashionMNIST/raw``."""
    from torchvision.datasets import FashionMNIST

    FashionMNIST(str(root), download=True)


def _read_split(folder: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    image_stem, label_stem = STEMS[split]
    images = read_idx(_idx_path(folder, image_stem), ndim=3)
    labels = read_idx(_idx_path(folder, label_stem), ndim=1)
    if len(images) != len(labels):
        raise AdvqError(f"Fashion-MNIST {split} split in {folder}: {len(images)} images but {len(labels)} labels.")
    if np.any(labels >= len(CLASSES)):
        raise AdvqError(f"Fashion-MNIST {split} labels in {folder}: values above {len(CLASSES) - 1}.")
    return torch.from_numpy(images[:, None]), torch.from_numpy(labels.astype(np.int64))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An idx array of unsigned bytes, its magic number and size checked (a corrupt file is one line)."""
    raw = _read_bytes(path)
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:2] != b"\0\0" or raw[2] != IDX_UBYTE or raw[3] != ndim:
        raise AdvqError(f"{path}: not an idx file of {ndim}-dimensional unsigned bytes (bad magic number).")
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise AdvqError(f"{path}: {len(raw)} bytes where shape {shape} needs {expected} (truncated or corrupt).")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise AdvqError(f"{path}: cannot be read ({error}).") from error

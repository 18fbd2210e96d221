"""``imagefolder:PATH``: torchvision's ImageFolder layout, ``PATH/train/<class>/…`` and ``PATH/test/<class>/…``.

``val/`` stands in for a missing ``test/``. Classes are the sorted folder names below
``train/``; the canonical order is sorted class, then the image files of each class
sorted by their path below the class folder (plain code-point order, the same on every
machine). Files whose suffix is not an image's, and hidden ones, are skipped.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import AdvqError
from .bundle import DatasetBundle
from .own import own_bundle, resolve_location
from .pixels import ImageShape, open_image, stack_images
from .spec import DatasetSpec, take_options

IMAGE_SUFFIXES = frozenset({".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"})
TEST_FOLDERS = ("test", "val")
OPTIONS = ("image-size", "channels")
LAYOUT_HINT = "expected PATH/train/<class>/<image> and PATH/test/<class>/<image> (or val/)"


def load_imagefolder(spec: DatasetSpec, data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """Every image of both splits, decoded once, as uint8 in canonical order."""
    root = resolve_location(spec, data_dir, LAYOUT_HINT)
    shape = ImageShape.from_options(take_options(spec, OPTIONS), spec.name)
    train_dir = root / "train"
    test_dir = next((root / name for name in TEST_FOLDERS if (root / name).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise AdvqError(f"Dataset '{spec.name}': {root} is not an image folder; {LAYOUT_HINT}.")
    classes = tuple(sorted(p.name for p in train_dir.iterdir() if p.is_dir() and not p.name.startswith(".")))
    if not classes:
        raise AdvqError(f"Dataset '{spec.name}': no class folders in {train_dir}; {LAYOUT_HINT}.")
    train_files, train_labels = image_files(train_dir, classes, require_all=True)
    test_files, test_labels = image_files(test_dir, classes, require_all=False)
    load = partial(_decode, shape=shape)
    canonical = DatasetSpec(spec.name, spec.scheme, str(root), shape.options())
    return own_bundle(
        canonical,
        (stack_images(train_files, load, str), train_labels),
        (stack_images(test_files, load, str), test_labels),
        classes,
        train_files=tuple(train_files),
    )


def image_files(split_dir: Path, classes: tuple[str, ...], require_all: bool) -> tuple[list[Path], np.ndarray]:
    """The split's image files in canonical order and their labels."""
    unknown = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in classes)
    if unknown:
        raise AdvqError(f"{split_dir}: class folder(s) {', '.join(unknown)} not in train/ (classes come from train/).")
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = _images_below(split_dir / name)
        if not found and require_all:
            raise AdvqError(f"{split_dir / name}: no image files (suffixes {', '.join(sorted(IMAGE_SUFFIXES))}).")
        files += found
        labels += [label] * len(found)
    if not files:
        raise AdvqError(f"{split_dir}: no image files in any class folder.")
    return files, np.asarray(labels, dtype=np.int64)


def _images_below(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [
        p for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    ]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _decode(path: Path, shape: ImageShape) -> np.ndarray:
    return shape.apply(open_image(str(path), partial(Image.open, path)), str(path))

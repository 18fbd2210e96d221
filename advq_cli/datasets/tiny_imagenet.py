"""Tiny-ImageNet from the standard ``tiny-imagenet-200`` folder (200 classes of 64×64 JPEGs).

Classes are the sorted wnids; the training order is sorted class folders then sorted file
names (what torchvision's ImageFolder gives); the test split is the labelled val split in
sorted file-name order. torchvision offers no download, so neither does advq.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import AdvqError
from .bundle import PAPER_EVALUATION, DatasetBundle
from .locate import Layout, locate
from .pixels import ImageShape, open_image, stack_images

FOLDER = "tiny-imagenet-200"
URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
SIZE = 64
MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2770, 0.2691, 0.2821)
JPEG_SUFFIXES = (".jpeg", ".jpg")
AS_RGB = ImageShape(channels=3)


def _complete(folder: Path) -> bool:
    return (
        (folder / "wnids.txt").is_file()
        and (folder / "train").is_dir()
        and (folder / "val" / "images").is_dir()
        and (folder / "val" / "val_annotations.txt").is_file()
    )


LAYOUT = Layout(
    name="tiny-imagenet",
    subdirs=(FOLDER, ""),
    complete=_complete,
    how_to_get=f"advq cannot download it: get {URL} and unzip it into {{root}} (making {{root}}/{FOLDER}).",
)


def load_tiny_imagenet(data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """100,000 train / 10,000 test (val) colour 64×64 images; ``download`` is not offered."""
    folder = locate(LAYOUT, data_dir)
    wnids = _read_wnids(folder / "wnids.txt")
    train_paths, train_labels = _train_files(folder / "train", wnids)
    test_paths, test_labels = _val_files(folder / "val", wnids)
    return DatasetBundle(
        name="tiny-imagenet",
        train_images=_decode_all(train_paths),
        train_labels=torch.tensor(train_labels, dtype=torch.int64),
        test_images=_decode_all(test_paths),
        test_labels=torch.tensor(test_labels, dtype=torch.int64),
        classes=_class_names(folder / "words.txt", wnids),
        mean=MEAN,
        std=STD,
        augment=True,
        **PAPER_EVALUATION,
    )


def _read_wnids(path: Path) -> list[str]:
    wnids = sorted({line.strip() for line in path.read_text().splitlines() if line.strip()})
    if not wnids:
        raise AdvqError(f"{path}: no class ids.")
    return wnids


def _jpegs(folder: Path) -> list[Path]:
    """The JPEG files of one folder, sorted by name."""
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in JPEG_SUFFIXES), key=lambda p: p.name)


def _train_files(train_dir: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    paths: list[Path] = []
    labels: list[int] = []
    for label, wnid in enumerate(wnids):
        images_dir = train_dir / wnid / "images"
        if not images_dir.is_dir():
            raise AdvqError(f"{images_dir}: missing (class '{wnid}' is listed in wnids.txt).")
        files = _jpegs(images_dir)
        paths += files
        labels += [label] * len(files)
    return paths, labels


def _val_files(val_dir: Path, wnids: list[str]) -> tuple[list[Path], list[int]]:
    """val/images in sorted file-name order, labelled by val_annotations.txt (filename, wnid, box)."""
    annotations_path = val_dir / "val_annotations.txt"
    annotations = dict(line.split("\t")[:2] for line in annotations_path.read_text().splitlines() if "\t" in line)
    label_of = {wnid: label for label, wnid in enumerate(wnids)}
    paths = _jpegs(val_dir / "images")
    labels: list[int] = []
    for path in paths:
        wnid = annotations.get(path.name)
        if wnid not in label_of:
            raise AdvqError(f"{annotations_path}: no known class for {path.name} (found {wnid!r}).")
        labels.append(label_of[wnid])
    return paths, labels


def _class_names(words_path: Path, wnids: list[str]) -> tuple[str, ...]:
    """The first name words.txt gives each wnid ("goldfish, Carassius auratus" → "goldfish"), else the wnid."""
    words: dict[str, str] = {}
    if words_path.is_file():
        for line in words_path.read_text().splitlines():
            wnid, _, names = line.partition("\t")
            words[wnid.strip()] = names.split(",")[0].strip()
    return tuple(words.get(wnid) or wnid for wnid in wnids)


def _decode_all(paths: list[Path]) -> torch.Tensor:
    """uint8 (N, 3, 64, 64), decoded in threads."""
    return torch.from_numpy(stack_images(paths, _decode, str))


def _decode(path: Path) -> np.ndarray:
    """One image as RGB (some are greyscale), CHW."""
    pixels = AS_RGB.apply(open_image(str(path), partial(Image.open, path)), str(path))
    if pixels.shape != (3, SIZE, SIZE):
        raise AdvqError(f"{path}: {pixels.shape[2]}×{pixels.shape[1]} pixels, expected {SIZE}×{SIZE}.")
    return pixels

"""``npz:FILE``: one NumPy ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test`` and optional ``classes``.

Images are uint8, (N, H, W) greyscale or (N, H, W, C) / (N, C, H, W) with C 1 or 3
(the axis of size 1 or 3 is the channel axis; when both ends could be, it is refused).
Labels are integers in 0..K-1; ``classes`` (K strings) names them, else they are
named ``0``..``K-1``. The canonical order is the arrays' order. The file is read with
``allow_pickle=False``: it cannot run code.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import AdvqError
from .bundle import DatasetBundle
from .own import class_names, own_bundle, resolve_location
from .pixels import ImageShape, stack_images
from .spec import DatasetSpec, take_options

KEYS = ("x_train", "y_train", "x_test", "y_test")
OPTIONS = ("image-size", "channels")
CHANNEL_COUNTS = (1, 3)


def load_npz(spec: DatasetSpec, data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """Both splits from the file, reshaped to (N, C, H, W) and converted or resized as asked."""
    path = resolve_location(spec, data_dir, f"give an .npz with {', '.join(KEYS)}")
    shape = ImageShape.from_options(take_options(spec, OPTIONS), spec.name)
    arrays = read_arrays(path)
    splits = []
    for part in ("train", "test"):
        images = to_nchw(arrays[f"x_{part}"], f"{path}: x_{part}")
        labels = to_labels(arrays[f"y_{part}"], len(images), f"{path}: y_{part}")
        splits.append((reshape(images, shape, f"{path}: x_{part}"), labels))
    names = [str(n) for n in arrays["classes"].tolist()] if "classes" in arrays else None
    classes = class_names(np.concatenate([splits[0][1], splits[1][1]]), names, spec.name)
    canonical = DatasetSpec(spec.name, spec.scheme, str(path), shape.options())
    return own_bundle(canonical, splits[0], splits[1], classes)


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The four arrays (and ``classes``); anything missing or unreadable is one line."""
    try:
        with np.load(path, allow_pickle=False) as content:
            if not isinstance(content, np.lib.npyio.NpzFile):
                raise AdvqError(f"{path}: a single .npy array, not an .npz with {', '.join(KEYS)}.")
            missing = [key for key in KEYS if key not in content.files]
            if missing:
                raise AdvqError(f"{path}: missing {', '.join(missing)} (an npz dataset holds {', '.join(KEYS)}).")
            return {key: content[key] for key in (*KEYS, "classes") if key in content.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise AdvqError(f"{path}: not a readable .npz ({error}).") from error


def to_nchw(images: np.ndarray, what: str) -> np.ndarray:
    """(N, C, H, W) from (N, H, W), (N, H, W, C) or (N, C, H, W) uint8."""
    if images.dtype != np.uint8:
        raise AdvqError(f"{what}: images must be uint8 (0..255), found {images.dtype}.")
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4:
        last, second = images.shape[3] in CHANNEL_COUNTS, images.shape[1] in CHANNEL_COUNTS
        if last and not second:
            return images.transpose(0, 3, 1, 2)
        if second and not last:
            return images
    raise AdvqError(
        f"{what}: shape {images.shape} is not (N, H, W), (N, H, W, C) or (N, C, H, W) with C 1 or 3 "
        "on exactly one side."
    )


def to_labels(labels: np.ndarray, count: int, what: str) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != count or not np.issubdtype(labels.dtype, np.integer):
        raise AdvqError(f"{what}: labels must be {count} integers, found {labels.dtype} {labels.shape}.")
    return labels.astype(np.int64)


def reshape(images: np.ndarray, shape: ImageShape, what: str) -> np.ndarray:
    """The images as they are, or through PIL when --image-size or --channels asks for a change."""
    if shape == ImageShape() or images.shape[0] == 0:
        return images
    hwc = images.transpose(0, 2, 3, 1)
    return stack_images(range(len(hwc)), lambda i: shape.apply(_pil(hwc[i]), f"{what}[{i}]"), lambda i: f"{what}[{i}]")


def _pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels))

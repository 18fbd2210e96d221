"""``hf:NAME_OR_PATH``: a Hugging Face ``datasets`` dataset (optional extra ``advq[hf]``).

A folder written by ``DatasetDict.save_to_disk`` is read from disk; anything else is a
hub name, loaded with ``datasets.load_dataset`` where the network allows. Options:
``image`` and ``label`` (columns; default the first of ``image``/``img`` and of
``label``/``labels``), ``train`` and ``test`` (splits; default ``train`` and the first of
``test``/``validation``), with ``image-size`` and ``channels`` as for every image set.
The image column must be an ``Image`` feature; a ``ClassLabel`` label column names the
classes. The canonical order is the split's row order.
"""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import AdvqError, DatasetNotFoundError
from .bundle import DatasetBundle
from .own import class_names, own_bundle
from .pixels import ImageShape, open_image, stack_images
from .spec import DatasetSpec, take_options

OPTIONS = ("image", "label", "train", "test", "image-size", "channels")
DEFAULTS = {"image": ("image", "img"), "label": ("label", "labels"), "train": ("train",), "test": ("test", "validation")}


def load_hf(spec: DatasetSpec, data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
    """Both splits' images decoded once, labels, and class names from the label feature."""
    options = take_options(spec, OPTIONS)
    shape = ImageShape.from_options(options, spec.name)
    splits, location = _open(spec, data_dir)
    train_split = _pick(options, "train", list(splits), spec.name, "split")
    test_split = _pick(options, "test", list(splits), spec.name, "split")
    train, test = splits[train_split], splits[test_split]
    columns = list(train.features)
    image_column = _pick(options, "image", columns, spec.name, "column")
    label_column = _pick(options, "label", columns, spec.name, "column")
    parts = [_images_and_labels(split, image_column, label_column, shape, f"{spec.name} [{name}]")
             for split, name in ((train, train_split), (test, test_split))]
    feature = train.features[label_column]
    names = list(feature.names) if hasattr(feature, "names") else None
    classes = class_names(np.concatenate([parts[0][1], parts[1][1]]), names, spec.name)
    chosen = {key: value for key, value in options.items() if key not in ("image-size", "channels")}
    canonical = DatasetSpec(spec.name, spec.scheme, location, {**chosen, **shape.options()})
    return own_bundle(canonical, parts[0], parts[1], classes)


def _open(spec: DatasetSpec, data_dir: Path | None) -> tuple[Any, str]:
    """The DatasetDict and the canonical location: an absolute folder, or the hub name as given."""
    try:
        import datasets
    except ImportError:
        raise AdvqError(f"Dataset '{spec.name}' needs Hugging Face datasets: pip install 'advq[hf]'.") from None
    folder = spec.location_path(data_dir)
    if folder.exists():
        try:
            loaded = datasets.load_from_disk(str(folder))
        except (FileNotFoundError, ValueError, OSError) as error:
            raise AdvqError(f"Dataset '{spec.name}': {folder} is not a folder written by save_to_disk ({error}).") from error
        location = str(folder)
    else:
        try:
            loaded = datasets.load_dataset(spec.location)
        except Exception as error:  # the hub fails in many ways (network, name, auth); all mean "not loadable"
            detail = " ".join(str(error).split())[:300]
            raise DatasetNotFoundError(
                f"Dataset '{spec.name}': no folder {folder}, and the hub dataset '{spec.location}' "
                f"could not be loaded ({type(error).__name__}: {detail})."
            ) from error
        location = spec.location
    if not isinstance(loaded, datasets.DatasetDict):
        raise AdvqError(f"Dataset '{spec.name}': one split only; advq needs a train and a test split (a DatasetDict).")
    return loaded, location


def _pick(options: dict[str, str], key: str, available: list[str], dataset: str, what: str) -> str:
    """The option's value when given (it must exist), else the first default that exists."""
    wanted = (options[key],) if key in options else DEFAULTS[key]
    for name in wanted:
        if name in available:
            return name
    raise AdvqError(
        f"Dataset '{dataset}': no {key} {what} {' or '.join(wanted)}; it has {', '.join(available)} "
        f"(choose with ?{key}=NAME)."
    )


def _images_and_labels(split: Any, image_column: str, label_column: str, shape: ImageShape, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Images decoded by PIL in threads from the stored bytes (datasets' own decoding is one row at a time)."""
    import datasets

    if not isinstance(split.features[image_column], datasets.Image):
        raise AdvqError(f"{what}: column '{image_column}' is not an Image feature ({split.features[image_column]}).")
    encoded = list(split.select_columns([image_column]).cast_column(image_column, datasets.Image(decode=False))[image_column])
    labels = np.asarray(split[label_column])
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise AdvqError(f"{what}: column '{label_column}' must hold one integer label per row, found {labels.dtype}.")
    names = [f"{what} row {i}" for i in range(len(encoded))]
    images = stack_images(range(len(encoded)), partial(_decode, encoded=encoded, names=names, shape=shape), names.__getitem__)
    return images, labels


def _decode(row: int, encoded: Any, names: list[str], shape: ImageShape) -> np.ndarray:
    stored = encoded[row]
    source = stored.get("bytes") or stored.get("path")
    opener = partial(Image.open, io.BytesIO(source) if isinstance(source, bytes) else source)
    return shape.apply(open_image(names[row], opener), names[row])

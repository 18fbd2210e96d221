"""Writers of small dataset files in exactly the real on-disk formats, for the loader tests."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

IDX_MAGIC = {1: 2049, 3: 2051}  # labels, images


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file of unsigned bytes (gzip-compressed when the name ends in .gz)."""
    header = IDX_MAGIC[array.ndim].to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    content = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)


def write_fashion_mnist(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = True, seed: int = 0) -> dict:
    """The four idx files; returns the arrays written, keyed like the split names."""
    rng = np.random.default_rng(seed)
    suffix = ".gz" if gz else ""
    written = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        written[prefix] = (images, labels)
    return written


def _dump(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(content, handle)


def _batch(rng: np.random.Generator, n: int, label_key: bytes, num_classes: int, title: bytes) -> dict:
    return {
        b"batch_label": title,
        label_key: [int(v) for v in rng.integers(0, num_classes, size=n)],
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }


def write_cifar10(root: Path, per_batch: int = 3, seed: int = 0) -> dict:
    """cifar-10-batches-py with five small training batches; returns the batch dicts by file name."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    files = {f"data_batch_{i}": _batch(rng, per_batch, b"labels", 10, f"training batch {i} of 5".encode()) for i in range(1, 6)}
    files["test_batch"] = _batch(rng, per_batch, b"labels", 10, b"testing batch 1 of 1")
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    files["batches.meta"] = {b"num_cases_per_batch": per_batch, b"label_names": names, b"num_vis": 3072}
    for name, content in files.items():
        _dump(folder / name, content)
    return files


def write_cifar100(root: Path, n_train: int = 8, n_test: int = 4, seed: int = 1) -> dict:
    """cifar-100-python (train, test, meta) with fine and coarse labels; returns the dicts."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    files = {
        "train": _batch(rng, n_train, b"fine_labels", 100, b"training batch 1 of 1"),
        "test": _batch(rng, n_test, b"fine_labels", 100, b"testing batch 1 of 1"),
        "meta": {
            b"fine_label_names": [f"fine_{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse_{i}".encode() for i in range(20)],
        },
    }
    for split in ("train", "test"):
        files[split][b"coarse_labels"] = [label // 5 for label in files[split][b"fine_labels"]]
    for name, content in files.items():
        _dump(folder / name, content)
    return files


def write_jpeg(path: Path, colour: tuple[int, ...], mode: str = "RGB") -> None:
    """A flat-colour 64×64 JPEG (flat colours survive JPEG almost exactly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (64, 64), colour if mode == "RGB" else colour[0]).save(path, format="JPEG", quality=95)


def write_tiny_imagenet(
    root: Path, wnids: list[str], train_names: list[str], val: dict[str, str], words: dict[str, str], grey: str = ""
) -> Path:
    """A tiny-imagenet-200 tree; the val image named ``grey`` is greyscale. Colours: ``tiny_colour``."""
    folder = root / "tiny-imagenet-200"
    folder.mkdir(parents=True)
    (folder / "wnids.txt").write_text("".join(f"{w}\n" for w in wnids))
    (folder / "words.txt").write_text("".join(f"{w}\t{names}\n" for w, names in words.items()))
    for wnid in wnids:
        for name in train_names:
            write_jpeg(folder / "train" / wnid / "images" / f"{wnid}_{name}.JPEG", tiny_colour(f"{wnid}_{name}.JPEG"))
        (folder / "train" / wnid / f"{wnid}_boxes.txt").write_text("")
    for name in val:
        write_jpeg(folder / "val" / "images" / name, tiny_colour(name, grey=name == grey), "L" if name == grey else "RGB")
    lines = [f"{name}\t{wnid}\t0\t0\t63\t63\n" for name, wnid in val.items()]
    (folder / "val" / "val_annotations.txt").write_text("".join(lines))
    return folder


def tiny_colour(name: str, grey: bool = False) -> tuple[int, int, int]:
    """A colour derived from a file name, so a loaded image tells which file it came from."""
    digest = sum((i + 1) * ord(ch) for i, ch in enumerate(name))
    red = digest * 7 % 200 + 20
    return (red, red, red) if grey else (red, digest * 13 % 200 + 20, digest * 29 % 200 + 20)

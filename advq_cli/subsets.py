"""Index arrays of training examples: checked, read from `.npy` files, named."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import AdvqError


def check_indices(indices: np.ndarray, n_train: int, source: str) -> np.ndarray:
    """Refuse indices that are not whole numbers, out of range or repeated; return them sorted."""
    indices = np.asarray(indices)
    if indices.ndim != 1 or indices.size == 0:
        raise AdvqError(f"{source} must hold a non-empty 1-D array of training indices.")
    if not np.issubdtype(indices.dtype, np.integer):
        if not np.issubdtype(indices.dtype, np.floating) or not np.all(np.isfinite(indices)) or np.any(indices % 1):
            raise AdvqError(f"{source} holds values that are not whole-number indices.")
    if indices.min() < 0 or indices.max() >= n_train:  # before the cast: 1e300 has no int64
        raise AdvqError(
            f"{source} has indices out of range: {indices.min():g}..{indices.max():g}, the training set has {n_train}."
        )
    indices = indices.astype(np.int64)
    unique = np.unique(indices)
    if unique.size != indices.size:
        raise AdvqError(f"{source} repeats {indices.size - unique.size} indices.")
    return unique


def read_npy(path: Path, what: str) -> np.ndarray:
    """One array from a `.npy` file, never unpickling; empty, truncated or foreign files are one clear error."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        reason = "it is empty or cut short" if isinstance(exc, EOFError) or path.stat().st_size == 0 else str(exc)
        raise AdvqError(f"{what} is not a readable .npy file ({reason}).") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise AdvqError(f"{what} is not a readable .npy file (it is an .npz archive of several arrays).")
    return array


def subset_label(spec: str | Path) -> str:
    """What a subset is called: ``NAME`` of ``FILE.h5:NAME``, the file name of an index file."""
    text = str(spec)
    return text.rpartition(":")[2] if names_a_set(text) else Path(text).name


def names_a_set(text: str) -> bool:
    head, sep, tail = text.rpartition(":")
    return bool(sep) and head.lower().endswith((".h5", ".hdf5")) and bool(tail)

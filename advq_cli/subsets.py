"""Reading a training subset given as `FILE.npy` or `FILE.h5:NAME`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import AdvqError, FingerprintMismatchError


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


def load_subset(spec: str | Path, n_train: int, fingerprint: str) -> np.ndarray:
    """Sorted unique int64 indices into the canonical training order."""
    text = str(spec)
    path_text, _, name = text.rpartition(":") if _names_a_set(text) else (text, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise AdvqError(f"Subset file not found: {path}.")
    if name:
        return check_indices(_read_h5_subset(path, name, fingerprint), n_train, f"Subset '{name}' in {path}")
    if path.suffix != ".npy":
        raise AdvqError(f"Subset {path}: give an index file `.npy` or a stored set as `FILE.h5:NAME`.")
    return check_indices(read_npy(path, f"Subset {path}"), n_train, f"Subset {path}")


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


def _names_a_set(text: str) -> bool:
    head, sep, tail = text.rpartition(":")
    return bool(sep) and head.lower().endswith((".h5", ".hdf5")) and bool(tail)


def _read_h5_subset(path: Path, name: str, fingerprint: str) -> np.ndarray:
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise AdvqError(f"{path} is not an HDF5 file.") from None
    with handle:
        group = handle.get(f"subsets/{name}")
        if group is None or "indices" not in group:
            known = sorted(handle["subsets"]) if "subsets" in handle else []
            raise AdvqError(f"{path} has no subset '{name}'. Stored: {', '.join(known) or '(none)'}.")
        stored = group.attrs.get("dataset_fingerprint", handle.attrs.get("dataset_fingerprint"))
        if stored is not None and str(stored) != fingerprint:
            raise FingerprintMismatchError(
                f"Subset '{name}' in {path} was made for another dataset (fingerprint {stored}, expected {fingerprint})."
            )
        return group["indices"][()]

"""HDF5 files advq writes: format tags, checks, and crash-safe updates.

Every file carries root attributes ``format``, ``format_version``, ``advq_version``,
``dataset``, ``dataset_fingerprint`` and ``created``. Updates go to a copy that replaces
the original only when complete, so a kill at any moment leaves the old file or the new.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py

from .atomic import atomic_path
from .errors import AdvqError, FingerprintMismatchError
from .version import __version__

FORMAT_VERSION = 1


def stamp(handle: h5py.File, fmt: str, dataset: str, fingerprint: str, **extra: Any) -> None:
    """Write the identifying root attributes of a new file."""
    handle.attrs.update({
        "format": fmt,
        "format_version": FORMAT_VERSION,
        "advq_version": __version__,
        "dataset": dataset,
        "dataset_fingerprint": fingerprint,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **extra,
    })


def check_file(handle: h5py.File, path: Path, formats: tuple[str, ...], fingerprint: str | None = None) -> None:
    """Refuse files from another tool, a newer advq, or another dataset."""
    fmt = handle.attrs.get("format")
    if fmt not in formats:
        raise AdvqError(f"{path} is not an advq file of kind {' or '.join(formats)} (format: {fmt or 'none'}).")
    version = int(handle.attrs.get("format_version", 0))
    if version > FORMAT_VERSION:
        raise AdvqError(f"{path} was written by a newer advq (format version {version}); upgrade advq to read it.")
    stored = handle.attrs.get("dataset_fingerprint")
    if fingerprint is not None and stored != fingerprint:
        raise FingerprintMismatchError(
            f"{path} was made for dataset '{handle.attrs.get('dataset')}' (fingerprint {stored}), "
            f"not for this one (fingerprint {fingerprint})."
        )


def open_checked(path: str | Path, formats: tuple[str, ...], fingerprint: str | None = None) -> h5py.File:
    """Open an advq HDF5 file read-only after checking what it is."""
    path = Path(path)
    if not path.is_file():
        raise AdvqError(f"File not found: {path}.")
    try:
        handle = h5py.File(path, "r")
    except OSError:
        raise AdvqError(f"{path} is not an HDF5 file.") from None
    try:
        check_file(handle, path, formats, fingerprint)
    except AdvqError:
        handle.close()
        raise
    return handle


@contextlib.contextmanager
def updating(path: str | Path, new: bool = False) -> Iterator[h5py.File]:
    """Modify an HDF5 file all-or-nothing: work on a copy, then atomically replace.

    A new file is created when ``path`` does not exist yet (or, with ``new``, in its place).
    The copy is worked on in memory and written out by Python once complete: HDF5 itself
    never meets a full disk (its close then crashes the process), and Python's error says why.
    """
    path = Path(path)
    existing = path.exists() and not new
    with atomic_path(path) as tmp:
        image = io.BytesIO(path.read_bytes() if existing else b"")
        with h5py.File(image, "r+" if existing else "w") as handle:
            yield handle
        tmp.write_bytes(image.getbuffer())

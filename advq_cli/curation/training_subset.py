"""The training subset of `advq train --subset` and `advq profile --subset`: `FILE.npy` or `FILE.h5:NAME`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets import DatasetBundle
from ..errors import AdvqError
from ..subsets import check_indices, names_a_set, read_npy
from .store import read_set


def load_subset(spec: str | Path, bundle: DatasetBundle) -> np.ndarray:
    """Sorted unique int64 indices into the canonical training order.

    A stored set is read by the store that writes it (format and dataset checked); an
    index file is any 1-D array of whole numbers.
    """
    text = str(spec)
    path_text, _, name = text.rpartition(":") if names_a_set(text) else (text, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise AdvqError(f"Subset file not found: {path}.")
    if name:
        return read_set(path, name, bundle).indices
    if path.suffix != ".npy":
        raise AdvqError(f"Subset {path}: give an index file `.npy` or a stored set as `FILE.h5:NAME`.")
    return check_indices(read_npy(path, f"Subset {path}"), bundle.n_train, f"Subset {path}")

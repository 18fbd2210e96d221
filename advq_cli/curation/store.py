"""Named index sets in HDF5: ``/subsets/<name>/indices`` with their provenance.

Sets go into the profile itself or into a separate file of format ``advq-subsets``
(the same root attributes as a profile). Either kind is read by
``advq train --subset FILE.h5:NAME``. Every write replaces the file atomically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..datasets import DatasetBundle
from ..errors import AdvqError
from ..h5store import open_checked, stamp, updating
from ..subsets import check_indices
from .sources import READABLE_FORMATS, SUBSETS_FORMAT

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class CuratedSet:
    """A set of training indices and how it was made."""

    name: str
    indices: np.ndarray
    rule: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    source: str = ""
    mean_rank: float = float("nan")
    config: dict[str, Any] = field(default_factory=dict)

    def class_counts(self, bundle: DatasetBundle) -> dict[str, int]:
        """Members per class name, for the classes the set contains (in label order)."""
        counts = np.bincount(bundle.train_labels.numpy()[self.indices], minlength=bundle.num_classes)
        return {c: int(n) for c, n in zip(bundle.classes, counts) if n}


def check_name(name: str) -> str:
    """Set names become HDF5 groups, file names and `FILE.h5:NAME` specs: keep them plain."""
    if not _NAME.match(name):
        raise AdvqError(
            f"Set name '{name}' is not allowed: use letters, digits and . _ + - (starting with a letter or digit)."
        )
    return name


def check_target(path: Path, bundle: DatasetBundle, names: list[str], overwrite: bool) -> None:
    """Refuse a target of another kind or dataset, and names already stored unless overwriting."""
    if not path.exists():
        return
    with open_checked(path, READABLE_FORMATS, bundle.fingerprint) as handle:
        taken = sorted(set(names) & set(handle.get("subsets", {})))
    if taken and not overwrite:
        raise AdvqError(f"{path} already holds {', '.join(taken)}; add --overwrite to replace.")


def write_sets(path: Path, sets: list[CuratedSet], bundle: DatasetBundle) -> None:
    """Store the sets in one all-or-nothing update (a new file becomes an advq-subsets file)."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with updating(path) as handle:
        if "format" not in handle.attrs:
            stamp(handle, SUBSETS_FORMAT, bundle.name, bundle.fingerprint, n_train=bundle.n_train)
        subsets = handle.require_group("subsets")
        for s in sets:
            if s.name in subsets:
                del subsets[s.name]
            group = subsets.create_group(s.name)
            group.create_dataset("indices", data=np.asarray(s.indices, dtype=np.int64))
            group.attrs.update({
                "rule": s.rule,
                "params": json.dumps(s.params, sort_keys=True),
                "seed": s.seed,
                "source": s.source,
                "dataset_fingerprint": bundle.fingerprint,
                "mean_rank": s.mean_rank,
                "config": yaml.safe_dump(s.config, sort_keys=False),
                "created": created,
            })


def read_sets(path: Path, bundle: DatasetBundle) -> list[CuratedSet]:
    """Every set stored in an advq profile or subsets file made for ``bundle``, by name."""
    with open_checked(path, READABLE_FORMATS, bundle.fingerprint) as handle:
        subsets = handle.get("subsets")
        names = sorted(subsets, key=_natural) if isinstance(subsets, h5py.Group) else []
        return [_read_set(path, n, subsets[n], bundle) for n in names if "indices" in subsets[n]]


def read_set(path: Path, name: str, bundle: DatasetBundle) -> CuratedSet:
    """One stored set (`--subset FILE.h5:NAME`), read like every set: the file's kind and dataset checked first."""
    with open_checked(path, READABLE_FORMATS, bundle.fingerprint) as handle:
        subsets = handle.get("subsets")
        group = subsets.get(name) if isinstance(subsets, h5py.Group) else None
        if not isinstance(group, h5py.Group) or "indices" not in group:
            known = sorted(subsets, key=_natural) if isinstance(subsets, h5py.Group) else []
            raise AdvqError(f"{path} has no subset '{name}'. Stored: {', '.join(known) or '(none)'}.")
        return _read_set(path, name, group, bundle)


def _natural(name: str) -> list[Any]:
    """Sort key that puts q-2 before q-10 (split parts alternate text, digits, text, …)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _read_set(path: Path, name: str, group: h5py.Group, bundle: DatasetBundle) -> CuratedSet:
    attrs = group.attrs
    indices = check_indices(group["indices"][()], bundle.n_train, f"Subset '{name}' in {path}")
    try:
        params = json.loads(attrs.get("params", "{}"))
        config = yaml.safe_load(attrs.get("config", "")) or {}
    except (json.JSONDecodeError, yaml.YAMLError):  # written by another tool: provenance unknown
        params, config = {}, {}
    return CuratedSet(
        name=name,
        indices=indices,
        rule=str(attrs.get("rule", "")),
        params=params,
        seed=int(attrs.get("seed", 0)),
        source=str(attrs.get("source", "")),
        mean_rank=float(attrs.get("mean_rank", float("nan"))),
        config=config,
    )

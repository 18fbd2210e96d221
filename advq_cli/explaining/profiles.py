"""What `advq explain` reads from a profile file (docs/profile.md), with its checks: the
format, the dataset's fingerprint, and that some run is complete."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..errors import AdvqError
from ..h5store import open_checked
from ..profiling.store import FORMAT, PROBLEM_RANK, complete_runs, quality_arrays, run_checkpoints
from ..registry import normalise_name


@dataclass(frozen=True)
class Profile:
    """A profile's identity and its ``/quality`` arrays (float64 (N,), NaN outside the profiled subset)."""

    path: Path
    dataset: str
    fingerprint: str
    config: dict[str, Any]
    runs: list[str]
    """The complete runs ``/quality`` averages, in seed order."""
    checkpoints: dict[str, Path]
    """Each complete run's checkpoint folder (``best.pt``, ``last.pt``)."""
    quality: dict[str, np.ndarray]

    @property
    def rank(self) -> np.ndarray:
        return self.quality[PROBLEM_RANK]

    def measure(self, name: str) -> str:
        """The stored name of a measure typed with dashes or underscores."""
        return find_measure(self.quality, name, self.path)


def read_profile(path: str | Path, fingerprint: str | None = None) -> Profile:
    """Read a profile, refusing other files, another dataset (``fingerprint``), and a
    profile without ``/quality`` (no run complete yet)."""
    path = Path(path)
    with open_checked(path, (FORMAT,), fingerprint) as handle:
        quality = quality_group(handle, path)
        runs = complete_runs(handle)
        return Profile(
            path=path,
            dataset=str(handle.attrs.get("dataset", "")),
            fingerprint=str(handle.attrs.get("dataset_fingerprint", "")),
            config=_stored_config(handle),
            runs=[str(r) for r in quality.attrs.get("runs", [])],
            checkpoints={_run_id(g): run_checkpoints(path, _run_id(g), str(g.attrs.get("checkpoints", ""))) for g in runs},
            quality=quality_arrays(handle),
        )


def read_run_measures(path: str | Path, name: str, fingerprint: str | None = None) -> tuple[str, dict[str, np.ndarray]]:
    """A measure's per-run arrays ``/runs/<id>/measures/<name>`` (float64) of the complete runs
    that store it, in seed order, with the measure's stored name."""
    path = Path(path)
    with open_checked(path, (FORMAT,), fingerprint) as handle:
        quality_group(handle, path)
        runs = complete_runs(handle)
        stored = find_measure({k for g in runs for k in g["measures"]}, name, path)
        return stored, {
            _run_id(g): g["measures"][stored][()].astype(np.float64) for g in runs if stored in g["measures"]
        }


def quality_group(handle: h5py.File, path: Path) -> h5py.Group:
    quality = handle.get("quality")
    if not isinstance(quality, h5py.Group) or PROBLEM_RANK not in quality:
        raise AdvqError(
            f"{path} has no /quality yet: no run of this profile is complete (finish it with `advq profile --resume`)."
        )
    if not np.isfinite(quality[PROBLEM_RANK][()]).any():
        raise AdvqError(f"{path}:/quality/{PROBLEM_RANK} ranks no example: every value is NaN.")
    return quality


def find_measure(stored: Iterable[str], name: str, path: Path) -> str:
    """The stored name matching ``name`` (dashes, underscores and case ignored); an error naming the stored ones."""
    by_key = {normalise_name(k): k for k in stored}
    key = normalise_name(name)
    if key not in by_key:
        raise AdvqError(f"{path} has no measure '{name}'. Stored: {', '.join(sorted(by_key.values()))}.")
    return by_key[key]


def _run_id(group: h5py.Group) -> str:
    return group.name.rsplit("/", 1)[-1]


def _stored_config(handle: h5py.File) -> dict[str, Any]:
    """The profile's resolved options (empty when unreadable: only defaults depend on them)."""
    try:
        config = yaml.safe_load(str(handle.attrs.get("config", "")))
    except yaml.YAMLError:
        return {}
    return config if isinstance(config, dict) else {}

"""The profile HDF5 file (DESIGN.md, "Storage"), read and written crash-safely.

```
/                       attrs: format "advq-profile", format_version, advq_version, dataset,
                               dataset_fingerprint, n_train, created, config (YAML)
/runs/<run_id>/         attrs: seed, model, method, threat (YAML of norm, eps, steps, step_size,
                               random_start; each also an attribute of its own), eval_threat
                               (YAML, the same for the early-stopping test PGD),
                               epochs, status ("complete"|"partial"), epochs_done, best_epoch,
                               config (YAML), n_trained, best_robust_acc, best_clean_acc,
                               train_robust_acc, checkpoints
    correct             (epochs, N) int8: 1 correct, 0 wrong, -1 not trained (or epoch not run)
    true_prob           (epochs, N) float16, NaN where not trained (or epoch not run)
    measures/<name>     (N,) float32, NaN where not trained
/quality/<name>         (N,) float64: mean over complete runs; attrs runs, n_runs
```

``run_id`` is ``seed-<seed>``. Every change goes through ``h5store.updating`` (work on a
copy, then atomically replace), so a kill at any moment leaves the previous complete
file or the next. The runs' checkpoints (``best.pt``, ``last.pt``) live in the folder
``<out>.runs/<run_id>/`` beside the file, and so do the epochs of a run in progress
(``epoch_rows``: ``epochs/epoch-<E>.npz``) until they are folded into the file, when the
run ends or the profile is resumed. Until then the file's ``epochs_done`` counts only the
folded epochs.

A run executed outside the driver's process (``executors``) writes its epochs to its own
run file ``<out>.runs/<run_id>/record.h5``, a profile file holding that one run, until
the driver merges it into the profile (``copy_run``) and removes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..config import to_yaml
from ..datasets import DatasetBundle
from ..errors import AdvqError
from ..h5store import open_checked, stamp, updating
from ..training.config import TrainConfig
from .ranks import published_rank
from .recorder import NOT_TRAINED

FORMAT = "advq-profile"
PARTIAL, COMPLETE = "partial", "complete"
PROBLEM_RANK = "problem_rank"


def checkpoints_dir(out: str | Path) -> Path:
    """``<out>.runs``: where each run keeps ``best.pt`` and ``last.pt``."""
    out = Path(out)
    return out.with_name(out.name + ".runs")


def run_checkpoints(out: str | Path, run_id: str, stored: str | None = None) -> Path:
    """Where a run's checkpoints are read from: ``<out>.runs/<run_id>`` after the file's present name.

    A profile renamed or moved together with its ``.runs`` folder (renamed alike) finds
    them there. Where that folder is missing, the one recorded when the run began
    (``stored``, relative to the file's folder) is used if it still exists, so a copy of
    a profile beside its original reads the original's checkpoints.
    """
    current = checkpoints_dir(out) / run_id
    if stored and not current.exists():
        recorded = Path(out).parent / stored
        if recorded.is_dir():
            return recorded
    return current


def run_id_for(seed: int) -> str:
    return f"seed-{seed}"


def run_file_for(out: str | Path, seed: int) -> Path:
    """The run file of a run executed outside the driver: ``<out>.runs/seed-<S>/record.h5``."""
    return checkpoints_dir(out) / run_id_for(seed) / "record.h5"


@dataclass
class RunState:
    """What the file says about one run."""

    run_id: str
    seed: int
    status: str
    epochs: int
    epochs_done: int
    best_epoch: int
    best_robust_acc: float = float("nan")
    best_clean_acc: float = float("nan")
    train_robust_acc: float = float("nan")
    checkpoints: str = ""
    """The run's checkpoint folder as recorded when it began, relative to the file's folder."""

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE


@dataclass
class ProfileState:
    """The root attributes and the runs of an existing profile file."""

    path: Path
    dataset: str
    fingerprint: str
    n_train: int
    config: dict[str, Any]
    runs: dict[str, RunState] = field(default_factory=dict)


def create_profile(out: Path, bundle: DatasetBundle, config: Any) -> None:
    """A new, empty profile (replacing any file at ``out`` atomically)."""
    with updating(out, new=True) as handle:
        stamp(handle, FORMAT, bundle.name, bundle.fingerprint, n_train=bundle.n_train, config=to_yaml(config))
        handle.create_group("runs")


def read_state(out: Path, fingerprint: str | None = None) -> ProfileState:
    """The file's identity, its stored configuration and its runs; refuses foreign files."""
    with open_checked(out, (FORMAT,), fingerprint) as handle:
        try:
            config = yaml.safe_load(str(handle.attrs.get("config", ""))) or {}
        except yaml.YAMLError:
            config = None
        if not isinstance(config, dict):
            raise AdvqError(f"{out} has no readable stored configuration; it cannot be resumed.")
        state = ProfileState(
            out, str(handle.attrs["dataset"]), str(handle.attrs["dataset_fingerprint"]),
            int(handle.attrs["n_train"]), config,
        )
        for run_id, group in handle.get("runs", {}).items():
            state.runs[run_id] = run_state(run_id, group)
    return state


def run_state(run_id: str, group: h5py.Group) -> RunState:
    a = group.attrs
    return RunState(
        run_id, int(a["seed"]), str(a["status"]), int(a["epochs"]), int(a["epochs_done"]), int(a["best_epoch"]),
        float(a.get("best_robust_acc", np.nan)), float(a.get("best_clean_acc", np.nan)),
        float(a.get("train_robust_acc", np.nan)), str(a.get("checkpoints", "")),
    )


def set_config(handle: h5py.File, config: Any) -> None:
    handle.attrs["config"] = to_yaml(config)


def start_run(handle: h5py.File, run_id: str, config: TrainConfig, n_train: int, n_trained: int, checkpoints: str) -> None:
    """Create (or reset) a run's group: status partial, no epoch recorded. ``config`` is the run's
    (``TrainingRun.config``, its evaluation threat filled in)."""
    runs = handle.require_group("runs")
    if run_id in runs:
        del runs[run_id]
    group = runs.create_group(run_id)
    threat = config.threat
    group.attrs.update({
        "seed": config.seed,
        "model": config.model,
        "method": config.method,
        "threat": yaml.safe_dump(threat.as_dict(), sort_keys=False),
        "norm": threat.norm,
        "eps": threat.eps,
        "steps": threat.steps,
        "step_size": threat.step_size,
        "random_start": threat.random_start,
        "eval_threat": yaml.safe_dump(config.eval_threat.as_dict(), sort_keys=False),
        "epochs": config.epochs,
        "status": PARTIAL,
        "epochs_done": 0,
        "best_epoch": 0,
        "config": to_yaml(config),
        "n_trained": n_trained,
        "checkpoints": checkpoints,
    })
    chunks = (1, n_train)
    group.create_dataset(
        "correct", (config.epochs, n_train), dtype=np.int8, fillvalue=NOT_TRAINED, chunks=chunks,
        compression="gzip", compression_opts=4,
    )
    group.create_dataset(
        "true_prob", (config.epochs, n_train), dtype=np.float16, fillvalue=np.nan, chunks=chunks,
        compression="gzip", compression_opts=4, shuffle=True,
    )


def write_epoch(
    handle: h5py.File, run_id: str, epoch: int, correct: np.ndarray, true_prob: np.ndarray, **attrs: Any
) -> None:
    """Store epoch ``epoch`` (1-based) of a run and its progress attributes."""
    group = handle["runs"][run_id]
    group["correct"][epoch - 1] = correct
    group["true_prob"][epoch - 1] = true_prob
    group.attrs.update({"epochs_done": epoch, **attrs})


def read_record(handle: h5py.File, run_id: str) -> tuple[np.ndarray, np.ndarray]:
    """A run's recorded epochs: ``correct`` (e, N) int8 and ``true_prob`` (e, N) float16."""
    group = handle["runs"][run_id]
    done = int(group.attrs["epochs_done"])
    return group["correct"][:done], group["true_prob"][:done]


def finish_run(handle: h5py.File, run_id: str, measures: dict[str, np.ndarray]) -> None:
    """Store a run's measures (float32) and mark it complete."""
    group = handle["runs"][run_id]
    stored = group.require_group("measures")
    for name, values in measures.items():
        if name in stored:
            del stored[name]
        stored.create_dataset(name, data=np.asarray(values, dtype=np.float32))
    group.attrs["status"] = COMPLETE


def copy_run(source: Path, target: Path, run_id: str, *, quality: bool) -> None:
    """Put ``/runs/<run_id>`` of ``source`` into ``target`` (replacing it there) in one atomic
    update; with ``quality``, ``/quality`` is recomputed in the same update. A new target
    takes the source's root attributes, so it is a profile file of its own.
    """
    with h5py.File(source, "r") as src, updating(target) as dst:
        if "format" not in dst.attrs:
            dst.attrs.update(src.attrs)
        runs = dst.require_group("runs")
        if run_id in runs:
            del runs[run_id]
        src.copy(src["runs"][run_id], runs, name=run_id)
        if quality:
            update_quality(dst)


def complete_runs(handle: h5py.File) -> list[h5py.Group]:
    """The complete runs, in seed order."""
    runs = [g for g in handle.get("runs", {}).values() if g.attrs.get("status") == COMPLETE]
    return sorted(runs, key=lambda g: int(g.attrs["seed"]))


def update_quality(handle: h5py.File) -> None:
    """Recompute ``/quality`` from the complete runs.

    ``problem_rank`` ranks the runs' mean instability (``published_rank``, ties in a random
    order seeded by the lowest run seed; attrs ``form`` and ``tie_seed`` say so); every other
    measure is the mean of the runs' stored values. Examples outside the profiled subset
    stay NaN.
    """
    runs = complete_runs(handle)
    if "quality" in handle:
        del handle["quality"]
    if not runs:
        return
    quality = handle.create_group("quality")
    names = sorted({name for g in runs for name in g["measures"]})
    for name in names:
        having = [g for g in runs if name in g["measures"]]
        rank = problem_rank_of(having) if name == PROBLEM_RANK else None
        values = rank[0] if rank else np.mean(np.stack([g["measures"][name][()].astype(np.float64) for g in having]), 0)
        data = quality.create_dataset(name, data=values.astype(np.float64))
        data.attrs["runs"] = [os.path.basename(g.name) for g in having]
        data.attrs["n_runs"] = len(having)
        if rank:
            data.attrs.update(rank[1])
    quality.attrs["runs"] = [os.path.basename(g.name) for g in runs]
    quality.attrs["n_runs"] = len(runs)


RANK_FORM = "rank of the mean instability over runs / n, ties in a seeded random order"
"""``/quality/problem_rank``'s ``form`` attribute; files without it hold the older mean of per-run ranks."""


def problem_rank_of(runs: list[h5py.Group]) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The published-form problem rank of complete runs and its attributes; None when a run lacks instability."""
    if not runs or not all("instability" in g["measures"] for g in runs):
        return None
    mean = np.mean(np.stack([g["measures"]["instability"][()].astype(np.float64) for g in runs]), axis=0)
    seed = min(int(g.attrs["seed"]) for g in runs)
    return published_rank(np.nan_to_num(mean), ~np.isnan(mean), seed), {"form": RANK_FORM, "tie_seed": seed}


def quality_arrays(handle: h5py.File) -> dict[str, np.ndarray]:
    """``/quality/<name>`` as float64 arrays; a problem rank stored by an older advq (the mean of
    per-run ranks, no ``form`` attribute) is recomputed in the published form on read, the file untouched."""
    quality = handle.get("quality")
    if not isinstance(quality, h5py.Group):
        return {}
    arrays = {k: v[()].astype(np.float64) for k, v in quality.items() if isinstance(v, h5py.Dataset)}
    stored = quality.get(PROBLEM_RANK)
    if isinstance(stored, h5py.Dataset) and "form" not in stored.attrs:
        names = {str(r) for r in stored.attrs.get("runs", [])}
        rank = problem_rank_of([g for g in complete_runs(handle) if os.path.basename(g.name) in names])
        if rank:
            arrays[PROBLEM_RANK] = rank[0]
    return arrays


# -- reading, for users and other commands ---------------------------------------------------


def read_quality(path: str | Path, name: str = PROBLEM_RANK, fingerprint: str | None = None) -> np.ndarray:
    """``/quality/<name>`` of a profile as float64 (N,), e.g. the averaged problem rank."""
    path = Path(path)
    with open_checked(path, (FORMAT,), fingerprint) as handle:
        quality = quality_arrays(handle)
    key = name.replace("-", "_")
    if key not in quality:
        known = ", ".join(sorted(quality)) or "(none: no run is complete yet)"
        raise AdvqError(f"{path} has no quality measure '{name}'. Stored: {known}.")
    return quality[key]

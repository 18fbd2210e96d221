"""A profile run's epochs as small row files, so that an epoch's write costs one epoch.

Rewriting the whole profile file each epoch (``h5store.updating``) costs the size of the
file, which grows with every epoch and run. Instead each epoch goes to its own file
``<out>.runs/<run_id>/epochs/epoch-<E>.npz`` (``correct`` (N,) int8, ``true_prob`` (N,)
float16, and the run's progress attributes as 0-d arrays), written atomically. The rows are
folded into the run's record (the profile, or the run's own run file) in one ``updating``
when the run ends and when a profile is resumed; only then are the row files removed.

A kill between the two leaves row files for epochs the record already holds: a fold skips
and removes them, so folding twice is folding once. Rows that do not continue the record
(a gap: the record is an older copy than its folder) are left where they are.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..atomic import atomic_path
from ..errors import AdvqError
from ..h5store import updating
from .store import RunState, run_state, write_epoch

ROWS = ("correct", "true_prob")
NAME = re.compile(r"epoch-(\d+)\.npz")


def rows_dir(run_dir: Path) -> Path:
    """``<run_dir>/epochs``: where a run's unfolded epochs wait."""
    return run_dir / "epochs"


def row_file(run_dir: Path, epoch: int) -> Path:
    return rows_dir(run_dir) / f"epoch-{epoch:04d}.npz"


def append_epoch(run_dir: Path, epoch: int, correct: np.ndarray, true_prob: np.ndarray, **attrs: float) -> None:
    """Write epoch ``epoch`` (1-based) and the run's progress attributes atomically, beside the run."""
    arrays = {name: np.asarray(value) for name, value in attrs.items()}
    with atomic_path(row_file(run_dir, epoch)) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, correct=correct.astype(np.int8, copy=False),
                 true_prob=true_prob.astype(np.float16, copy=False), **arrays)


def pending_epochs(run_dir: Path) -> list[int]:
    """The epochs with a row file, in order."""
    folder = rows_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := NAME.fullmatch(p.name)))


def read_epoch(run_dir: Path, epoch: int, n: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """One row file: ``correct``, ``true_prob`` and the progress attributes; refuses another run's shape."""
    path = row_file(run_dir, epoch)
    try:
        with np.load(path, allow_pickle=False) as stored:
            correct, true_prob = stored["correct"], stored["true_prob"]
            attrs = {key: stored[key].item() for key in stored.files if key not in ROWS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        raise AdvqError(f"{path} is not an epoch's row file of advq: move it away and resume again.") from None
    if correct.shape != (n,) or true_prob.shape != (n,):
        raise AdvqError(f"{path} holds {correct.shape[0]} examples, not the profile's {n}: it is from another profile.")
    return correct, true_prob, attrs


def fold_epochs(record: Path, run_id: str, run_dir: Path) -> RunState:
    """Move the row files that continue ``record``'s run into it (one atomic update), then remove
    every row file it now holds. Returns the run's state in ``record`` afterwards."""
    with h5py.File(record, "r") as handle:
        state = run_state(run_id, handle["runs"][run_id])
        n = handle["runs"][run_id]["correct"].shape[1]
    pending = pending_epochs(run_dir)
    following = _continuing(pending, state.epochs_done)
    if following:
        with updating(record) as handle:
            for epoch in following:
                correct, true_prob, attrs = read_epoch(run_dir, epoch, n)
                write_epoch(handle, run_id, epoch, correct, true_prob, **attrs)
            state = run_state(run_id, handle["runs"][run_id])
    _remove_folded(run_dir, pending, state.epochs_done)
    return state


def _continuing(epochs: list[int], done: int) -> list[int]:
    """The run of consecutive epochs from ``done + 1`` on."""
    following = []
    for epoch in epochs:
        if epoch == done + len(following) + 1:
            following.append(epoch)
        elif epoch > done:
            break
    return following


def _remove_folded(run_dir: Path, epochs: list[int], done: int) -> None:
    """Remove the row files of epochs up to ``done``, what killed writes left (``.epoch-*.tmp``),
    and the folder once it is empty."""
    folder = rows_dir(run_dir)
    for epoch in epochs:
        if epoch <= done:
            row_file(run_dir, epoch).unlink()
    if not folder.is_dir():
        return
    for leftover in folder.glob(".epoch-*.tmp"):
        leftover.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()

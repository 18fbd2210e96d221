"""The built-in epoch loggers, through the same hook a plugin's logger uses.

- CSV: every run's ``history.csv`` in its run folder (``advq train``'s ``--out``; each
  profile run's ``<out>.runs/seed-S/``), rewritten atomically from the whole history so a
  resumed run's file is complete.
- TensorBoard: when ``ADVQ_TENSORBOARD=DIR`` is set, each epoch's numbers go to
  ``DIR/<run folder>`` (train) or ``DIR/<profile file stem>/seed-S`` (profile); it needs
  the ``tensorboard`` package.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..atomic import atomic_write_text
from ..errors import AdvqError
from ..events import EpochEvent
from ..hookspecs import hookimpl

TENSORBOARD_ENV = "ADVQ_TENSORBOARD"

HISTORY_COLUMNS = (
    "epoch", "lr", "train_loss", "train_clean_acc", "train_robust_acc", "test_clean_acc", "test_robust_acc", "seconds",
)

_writers: dict[Path, Any] = {}
"""Open SummaryWriters by log folder: one event file per run and process."""


@hookimpl
def advq_on_epoch_end(event: EpochEvent) -> None:
    """Writes history.csv in the run folder; TensorBoard scalars when ADVQ_TENSORBOARD is set."""
    write_history(event)
    folder = os.environ.get(TENSORBOARD_ENV)
    if folder:
        write_tensorboard(Path(folder), event)


def write_history(event: EpochEvent) -> None:
    """The whole history every epoch, so a resumed run's file is complete: the one writer of history.csv."""
    atomic_write_text(event.run_dir / "history.csv", history_csv(event.history))


def history_csv(history: Iterable[Mapping[str, float]]) -> str:
    """The rows (``EpochStats`` as dicts) in HISTORY_COLUMNS' order, floats to six decimals."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def tensorboard_dir(root: Path, event: EpochEvent) -> Path:
    """One TensorBoard run per advq run, grouped by profile so runs of one profile compare side by side."""
    if event.command == "profile":
        return root / event.out.stem / event.run_id
    return root / event.run_id


def write_tensorboard(root: Path, event: EpochEvent) -> None:
    """Scalars under ``accuracy/…`` (the four accuracies), ``loss/train``, ``lr`` and ``seconds``, per epoch."""
    log_dir = tensorboard_dir(root, event)
    writer = _writers.get(log_dir)
    if writer is None:
        writer = _writers[log_dir] = _summary_writer(log_dir)
    for key, value in event.stats.items():
        if key == "epoch":
            continue
        tag = f"accuracy/{key.removesuffix('_acc')}" if key.endswith("_acc") else key.replace("train_loss", "loss/train")
        writer.add_scalar(tag, value, event.epoch)
    if event.epoch >= event.epochs:
        _writers.pop(log_dir).close()
    else:
        writer.flush()


def _summary_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise AdvqError(
            f"{TENSORBOARD_ENV} is set but TensorBoard is not installed: pip install tensorboard "
            f"(or unset {TENSORBOARD_ENV})."
        ) from None
    return SummaryWriter(log_dir=str(log_dir))

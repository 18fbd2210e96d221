"""Training events for plugins: what a finished epoch tells the ``advq_on_epoch_end`` hook.

The training loops call ``epoch_end`` once per epoch after saving; every implementation of
the hook is called, and a failing one stops the command with an error that names it
(everything up to the epoch is saved, so ``--resume`` continues).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import to_plain
from .errors import AdvqError
from .plugins import callers_by_plugin, load_plugins, pm

if TYPE_CHECKING:
    from .training.loop import TrainingRun


@dataclass(frozen=True)
class EpochEvent:
    """One finished epoch of one run, in plain values a logger can write anywhere."""

    command: str
    """``"train"`` or ``"profile"``."""
    out: Path
    """The command's ``--out``: the run folder (train) or the profile's HDF5 file (profile)."""
    run_dir: Path
    """This run's folder: its checkpoints and ``history.csv`` (``<out>.runs/<run_id>`` for a profile)."""
    run_id: str
    """The run folder's name: ``seed-S`` within a profile."""
    seed: int
    epoch: int
    """1-based number of the epoch just finished."""
    epochs: int
    stats: Mapping[str, float]
    """The epoch's row of history.csv: epoch, lr, train_loss, train/test clean/robust accuracy, seconds."""
    history: tuple[Mapping[str, float], ...]
    """Every row so far, those restored by ``--resume`` included; the last one is ``stats``."""
    config: Mapping[str, Any]
    """The run's resolved training configuration (plain values, as in config.yaml)."""


def epoch_end(command: str, run: TrainingRun, out: Path) -> None:
    """Tell every ``advq_on_epoch_end`` implementation that ``run`` finished an epoch."""
    run_dir = Path(run.config.out)
    history = tuple(asdict(stats) for stats in run.history)
    notify(EpochEvent(
        command=command, out=Path(out), run_dir=run_dir, run_id=run_dir.name, seed=run.config.seed,
        epoch=run.epochs_done, epochs=run.config.epochs, stats=history[-1], history=history,
        config=to_plain(run.config),
    ))


def listeners() -> list[tuple[str, str]]:
    """(plugin name, first docstring line) of every ``advq_on_epoch_end`` implementation, for `advq plugins`."""
    load_plugins()
    impls = reversed(pm.hook.advq_on_epoch_end.get_hookimpls())
    return [(impl.plugin_name, (impl.function.__doc__ or "").strip().split("\n")[0]) for impl in impls]


def notify(event: EpochEvent) -> None:
    """Call every implementation, in pluggy's order, even after one fails; then report the first failure."""
    failure: tuple[str, Exception] | None = None
    for plugin, call in callers_by_plugin("advq_on_epoch_end"):
        try:
            call(event=event)
        except Exception as exc:  # a plugin's bug must not hide the other loggers' output
            failure = failure or (plugin, exc)
    if failure is not None:
        plugin, exc = failure
        reason = str(exc) if isinstance(exc, AdvqError) else f"{type(exc).__name__}: {exc}"
        raise AdvqError(
            f"Plugin '{plugin}' failed at the end of epoch {event.epoch} of {event.run_dir} ({reason}); "
            f"everything up to that epoch is saved: --resume continues."
        ) from exc

"""Training events for plugins: telling the ``advq_on_epoch_end`` hook that an epoch finished.

The training loops ``notify`` once per epoch after saving (``TrainingRun.epoch_event``
makes the event); every implementation of the hook is called, and a failing one stops
the command with an error that names it (everything up to the epoch is saved, so
``--resume`` continues).
"""

from __future__ import annotations

from .errors import AdvqError
from .hookspecs import EpochEvent
from .plugins import callers_by_plugin, load_plugins, pm

__all__ = ["EpochEvent", "listeners", "notify"]


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

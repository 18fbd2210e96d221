"""The edge between command line and library: user errors become one line (exit 2), Ctrl-C the
command that resumes (exit 130), and process-wide settings apply once a command's work starts."""

from __future__ import annotations

import functools
import gc
import os
import shlex
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape

from ..errors import AdvqError
from ..threads import configure_cpu_threads
from .output import err_console

F = TypeVar("F", bound=Callable[..., Any])


def debug_enabled() -> bool:
    return bool(os.environ.get("ADVQ_DEBUG"))


_settle_pending = False


def settle_process_when_work_starts() -> None:
    """For the `advq` executable alone: ``settle_process`` runs when a command's work starts.

    Not at start-up, since help, `--version` and completion need neither PyTorch nor its threads.
    """
    global _settle_pending
    _settle_pending = True


def settle_process() -> None:
    """PyTorch's threads capped at the usable cores; then the garbage collector stops re-scanning
    what is imported by now (PyTorch above all), which lives until exit anyway: otherwise its lazy
    imports during a run spend about half a second in collections that free nothing."""
    global _settle_pending
    if _settle_pending:
        _settle_pending = False
        configure_cpu_threads()
        gc.freeze()


def handle_errors(func: F) -> F:
    """Turn the library's user errors into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            settle_process()
            return func(*args, **kwargs)
        except AdvqError as exc:
            if debug_enabled():
                raise
            err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            message = resume_hint(kwargs.get("ctx")) if "resume" in kwargs else "Interrupted."
            err_console.print(message, highlight=False, soft_wrap=True, markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# What a resumable command has saved when it is interrupted (each is written as it completes).
SAVED_UNIT = {"train": "epoch", "profile": "epoch", "evaluate": "attack"}


def resume_hint(ctx: typer.Context | None) -> str:
    """One line after Ctrl-C: what is on disk and the exact command that continues.

    That command is this process's own (``sys.argv``) with ``--resume`` in place of
    ``--overwrite``, which would throw the saved work away.
    """
    unit = SAVED_UNIT.get(ctx.info_name if ctx is not None else "", "step")
    args = [a for a in sys.argv[1:] if a != "--overwrite"]
    if "--resume" not in args:
        args.append("--resume")
    return f"Interrupted: every completed {unit} is saved; continue with `{shlex.join(['advq', *args])}`"

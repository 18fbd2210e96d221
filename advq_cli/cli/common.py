"""What every command shares: error handling at the boundary, config merging, progress."""

from __future__ import annotations

import dataclasses
import functools
import gc
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..config import load_config_file, resolve
from ..errors import AdvqError
from ..threads import configure_cpu_threads

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")

console = Console()
"""Results (tables, written files) on stdout; rich drops colour when stdout is no terminal or NO_COLOR is set."""
err_console = Console(stderr=True)


def set_quiet(quiet: bool) -> None:
    """`advq --quiet`: no progress, no info lines, no tables; errors and `--json` documents still print."""
    console.quiet = quiet


WAIT_HELP = "If another advq process is writing the same output, wait for it instead of stopping."
Wait = Annotated[bool, typer.Option("--wait", help=WAIT_HELP)]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout instead of tables.")]


def print_json(document: Any) -> None:
    """`--json`: one JSON document on stdout (bypassing rich, so no markup, wrapping or colour)."""
    typer.echo(json.dumps(json_ready(document), indent=2, allow_nan=False))


def json_ready(value: Any) -> Any:
    """Plain JSON values: dataclasses as objects, paths as strings, NaN and infinities as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_ready(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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


def resolved_config(cls: type[C], ctx: typer.Context, config_file: Path | None, values: dict[str, Any]) -> C:
    """Defaults < `--config FILE.yaml` < options typed on the command line."""
    explicit = {
        name: value
        for name, value in values.items()
        if name != "config" and typed_on_command_line(ctx, name)
    }
    return resolve(cls, load_config_file(config_file), explicit)


def typed_on_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")


class RichReporter:
    """The library's reporter interface on the terminal: progress bars there, plain lines when piped.

    With stderr not a terminal (a log file, a pipe, a batch job) bars would print nothing
    until the end, so each finished epoch or run prints one plain line to stderr, and finer
    work a line when it ends (an attack) or at most every ``PLAIN_EVERY_S`` seconds (the
    batches of an epoch). ``--quiet`` silences both.
    """

    PLAIN_EVERY_S = 30.0
    COARSE = {"epochs": "epoch ", "runs": "run "}  # key: the unit its plain line names
    INNER = ("batches", "eval")  # the parts of an epoch, whose end the epoch's own line reports

    def __init__(self) -> None:
        on_terminal = err_console.is_terminal or bool(os.environ.get("ADVQ_FORCE_PROGRESS"))
        self.plain = not on_terminal and not console.quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
            disable=console.quiet or not on_terminal,
        )
        self.tasks: dict[str, Any] = {}
        self.last_line: dict[str, float] = {}

    def __enter__(self) -> "RichReporter":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def start(self, key: str, description: str, total: int) -> None:
        if key in self.tasks:
            self.progress.reset(self.tasks[key], total=total, description=description, status="", visible=True)
        else:
            self.tasks[key] = self.progress.add_task(description, total=total, status="")

    def advance(self, key: str, n: int = 1, **fields: Any) -> None:
        status = "  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        update: dict[str, Any] = {"advance": n}
        if status:
            update["status"] = status
        self.progress.update(self.tasks[key], **update)
        if self.plain and n > 0:
            self.print_plain_line(key, status)

    def print_plain_line(self, key: str, status: str) -> None:
        task = self.progress.tasks[self.tasks[key]]
        now = time.monotonic()
        finished = task.completed >= (task.total or 0)
        due = key in self.COARSE or (finished and key not in self.INNER)
        if not due and now - self.last_line.get(key, task.start_time or now) < self.PLAIN_EVERY_S:
            return
        self.last_line[key] = now
        elapsed = f"{task.elapsed or 0.0:.0f} s"
        count = f"{self.COARSE.get(key, '')}{task.completed:g}/{task.total:g}"
        line = "  ".join(part for part in (f"{task.description}: {count}", status, elapsed) if part)
        err_console.print(line, highlight=False, markup=False, soft_wrap=True)

    def finish(self, key: str) -> None:
        if key in self.tasks and key != "epochs":
            self.progress.update(self.tasks[key], visible=False)

    def info(self, message: str) -> None:
        if not console.quiet:
            self.progress.console.print(message, highlight=False)

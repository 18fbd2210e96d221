"""What every command shares: error handling at the boundary, config merging, progress."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..config import load_config_file, resolve
from ..errors import AdvqError

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


def handle_errors(func: F) -> F:
    """Turn the library's user errors into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
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
    """Progress bars for the library's reporter interface."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
            disable=console.quiet or (not err_console.is_terminal and not os.environ.get("ADVQ_FORCE_PROGRESS")),
        )
        self.tasks: dict[str, Any] = {}

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

    def finish(self, key: str) -> None:
        if key in self.tasks and key != "epochs":
            self.progress.update(self.tasks[key], visible=False)

    def info(self, message: str) -> None:
        if not console.quiet:
            self.progress.console.print(message, highlight=False)

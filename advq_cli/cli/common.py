"""What every command shares: error handling at the boundary, config merging, progress."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..config import load_config_file, resolve
from ..errors import AdvqError

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")

console = Console()
err_console = Console(stderr=True)


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
            err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("Interrupted.", highlight=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


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
            disable=not err_console.is_terminal and not os.environ.get("ADVQ_FORCE_PROGRESS"),
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
        self.progress.console.print(message, highlight=False)

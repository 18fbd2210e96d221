"""The library's reporter interface on a terminal (rich progress bars) or in a pipe (plain lines)."""

from __future__ import annotations

import os
import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .output import console, err_console


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

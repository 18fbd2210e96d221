"""`advq explain` subcommands (not implemented yet: each says so and exits 2)."""

from __future__ import annotations

from typing import Optional

import typer

from .common import handle_errors, not_implemented

explain_app = typer.Typer(help="Figures and reports that show why data quality matters. (Not implemented yet.)")


@explain_app.callback(invoke_without_command=True)
@handle_errors
def explain_root(args: Optional[list[str]] = typer.Argument(None, hidden=True)) -> None:
    not_implemented("explain", "see the issue tracker")

"""`advq evaluate` (not implemented yet: it says so and exits 2)."""

from __future__ import annotations

from typing import Optional

import typer

from .common import handle_errors, not_implemented


@handle_errors
def evaluate_command(args: Optional[list[str]] = typer.Argument(None, hidden=True)) -> None:
    """(Not implemented yet.)"""
    not_implemented("evaluate", "see the issue tracker")

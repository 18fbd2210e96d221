"""`advq plugins`: every registered name, by kind, with its plugin and description."""

from __future__ import annotations

from rich.table import Table

from ..plugins import KINDS, registry
from .common import console, handle_errors


@handle_errors
def plugins_command() -> None:
    """List every installed plugin and what it registers."""
    table = Table(title="advq plugins")
    for column in ("kind", "name", "plugin", "description"):
        table.add_column(column, overflow="fold")
    for kind, singular in KINDS.items():
        for entry in registry(kind).entries():
            table.add_row(singular, entry.name, entry.plugin, entry.description)
    console.print(table)

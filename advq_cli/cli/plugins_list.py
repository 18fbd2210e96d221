"""`advq plugins`: every registered name, by kind, with its plugin and description."""

from __future__ import annotations

from rich.table import Table

from ..plugins import DEFAULT_PLUGINS, KINDS, registry
from .boundary import handle_errors
from .options import JsonOutput
from .output import console, print_json


@handle_errors
def plugins_command(json_output: JsonOutput = False) -> None:
    """List every installed plugin and what it registers (and which plugins listen to training epochs)."""
    from ..events import listeners

    rows = [
        {"kind": singular, "name": entry.name, "plugin": entry.plugin, "description": entry.description}
        for kind, singular in KINDS.items()
        for entry in registry(kind).entries()
    ]
    rows += [
        {"kind": "hook", "name": "advq_on_epoch_end", "plugin": plugin, "description": description}
        for plugin, description in listeners()
    ]
    if json_output:
        print_json(rows)
        return
    table = Table(title="advq plugins")
    for column in ("kind", "name", "plugin"):
        table.add_column(column, no_wrap=True)
    table.add_column("description")
    for row in rows:
        table.add_row(row["kind"], row["name"], plugin_label(row["plugin"]), row["description"])
    console.print(table)


def plugin_label(plugin: str) -> str:
    """Built-ins by one word, so that names and descriptions keep the width of a narrow terminal."""
    return "built-in" if plugin in DEFAULT_PLUGINS else plugin

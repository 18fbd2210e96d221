"""A command's configuration: its dataclass's defaults < `--config FILE.yaml` < what was typed."""

from __future__ import annotations

from typing import Any, TypeVar

import typer

from ..config import load_config_file, resolve

C = TypeVar("C")


COMMAND_LINE_ONLY = ("config", "json_output", "list_file")
"""Parameters that steer the command itself, not the library call it makes."""


def explicit_options(ctx: typer.Context) -> dict[str, Any]:
    """The options typed on the command line, by parameter name (= the config's field name)."""
    return {
        name: value for name, value in ctx.params.items()
        if name not in COMMAND_LINE_ONLY and typed_on_command_line(ctx, name)
    }


def resolved_config(cls: type[C], ctx: typer.Context) -> C:
    """Defaults < `--config FILE.yaml` < options typed on the command line."""
    return resolve(cls, load_config_file(ctx.params.get("config")), explicit_options(ctx))


def typed_on_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")

"""What the commands print: results on stdout (rich, or one JSON document), messages on stderr."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

console = Console()
"""Results (tables, written files) on stdout; rich drops colour when stdout is no terminal or NO_COLOR is set."""
err_console = Console(stderr=True)


def set_quiet(quiet: bool) -> None:
    """`advq --quiet`: no progress, no info lines, no tables; errors and `--json` documents still print."""
    console.quiet = quiet


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

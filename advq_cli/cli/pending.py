"""Commands whose issues have not landed yet: they say so and exit 2."""

from __future__ import annotations

from typing import Any

import typer

from .common import handle_errors, not_implemented

PENDING = {
    "profile": "Adversarially train R runs while recording every example under attack, and rank them.",
    "curate": "Turn quality ranks into named, exportable subsets.",
    "evaluate": "Measure a checkpoint's robustness with the attack suite.",
    "explain": "Draw the figures that show why data quality matters.",
}


def pending_command(name: str) -> Any:
    @handle_errors
    def command(args: list[str] = typer.Argument(None, hidden=True)) -> None:
        not_implemented(name, "coming soon")

    command.__doc__ = PENDING[name] + " (Not implemented yet.)"
    return command

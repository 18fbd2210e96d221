"""The `advq` command line: a thin layer over the library."""

from __future__ import annotations

import os
from typing import Annotated, Optional

import typer

from ..version import __version__
from .boundary import settle_process_when_work_starts
from .curate import curate_command
from .evaluate import evaluate_command
from .explain import explain_app
from .output import set_quiet
from .plugins_list import plugins_command
from .profile import profile_command
from .train import train_command

app = typer.Typer(
    name="advq",
    help="Find the training examples that hurt adversarial training, and prove it.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"advq {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print only errors (and the document of a command's --json): no progress, no tables."),
    ] = False,
) -> None:
    """Find the training examples that hurt adversarial training, and prove it."""
    set_quiet(quiet)
    if debug:
        os.environ["ADVQ_DEBUG"] = "1"


app.command("profile")(profile_command)
app.command("curate")(curate_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.add_typer(explain_app, name="explain")
app.command("plugins")(plugins_command)


def main() -> None:
    """The `advq` executable: the one command it runs, with process-wide settings once its work starts.

    (Not in ``root``: a host process that calls ``app``, such as a test, keeps its own.)
    """
    settle_process_when_work_starts()
    app()

"""The `advq` command line: a thin layer over the library."""

from __future__ import annotations

import gc
import os
from typing import Optional

import typer

from .. import __version__
from ..threads import configure_cpu_threads
from .common import set_quiet
from .curate import curate_command
from .evaluate import evaluate_command
from .explain import explain_app
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
    version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True, help="Show the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Print only errors (and the document of a command's --json): no progress, no tables."
    ),
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
    """The `advq` executable: process-wide settings for the one command it runs, then the command.

    (Not in ``root``: a host process that calls ``app``, such as a test, keeps its own.)
    Everything imported so far lives until exit, so the garbage collector is told to stop
    re-scanning it: PyTorch's lazy imports during a run otherwise spend about half a second
    in collections that free nothing.
    """
    configure_cpu_threads()
    gc.freeze()
    app()

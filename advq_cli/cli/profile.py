"""`advq profile`: options in, `advq_cli.profiling.profile` out, a summary table printed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from .. import profiling  # its names import their modules (and PyTorch) on first use, not at `--help`
from .boundary import handle_errors
from .configs import resolved_config
from .options import CONFIG_FILE, JsonOutput, TRAINING, with_training_options
from .output import console, print_json
from .progress import RichReporter

MEASURES = "Profile"
EXECUTION = "Running the repeats"


@with_training_options
@handle_errors
def profile_command(
    ctx: typer.Context,
    config: CONFIG_FILE = None,
    out: Annotated[
        Path, typer.Option("--out", help="The profile's HDF5 file (checkpoints go to <out>.runs/).", rich_help_panel=MEASURES)
    ] = Path("runs/profile.h5"),
    repeats: Annotated[
        int,
        typer.Option(
            "--repeats", help="Independent runs, seeds S..S+R-1 (the paper: 10). With --resume, a larger R adds runs.",
            rich_help_panel=TRAINING,
        ),
    ] = 10,
    min_perturbation_max: Annotated[
        str,
        typer.Option(
            "--min-perturbation-max", help="Largest L∞ radius the minimum-perturbation search tries (reported for "
            "examples never flipped), in 1/255 steps.", rich_help_panel=MEASURES,
        ),
    ] = "32/255",
    executor: Annotated[
        Optional[str],
        typer.Option(
            "--executor", help="sequential (one run after another), parallel (K worker processes on this "
            "machine) or ray (a Ray task per run; pip install 'advq\\[ray]'). Default: parallel with --parallel K>1, "
            "else sequential.", rich_help_panel=EXECUTION,
        ),
    ] = None,
    parallel: Annotated[
        Optional[int],
        typer.Option(
            "--parallel", help="Runs at once, K (implies --executor parallel; default 2 there, unlimited with ray).",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    ray_address: Annotated[
        Optional[str],
        typer.Option(
            "--ray-address", help="The Ray cluster to use (e.g. auto, HOST:6379); default: a local one.",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    runs_together: Annotated[
        int,
        typer.Option(
            "--runs-together", help="Runs trained together in one pass as a stacked ensemble, R (at most --repeats; "
            "--parallel and ray then schedule groups of R). Each run's record then matches its lone run to rounding.",
            rich_help_panel=EXECUTION,
        ),
    ] = 1,
    json_output: JsonOutput = False,
    **options: Any,
) -> None:
    """Adversarially train R runs, recording every example under attack each epoch, and rank the examples by quality.

    Writes one HDF5 file: each run's per-epoch record, the quality measures and the averaged problem rank.
    """
    cfg = resolved_config(profiling.ProfileConfig, ctx)
    with RichReporter() as reporter:
        result = profiling.profile(cfg, reporter)
    if json_output:
        print_json(result)
    else:
        print_profile_result(result)


def _number(value: float, digits: int = 4) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def print_profile_result(result: profiling.ProfileResult) -> None:
    from ..profiling.store import PROBLEM_RANK

    runs = Table(title=f"Profile runs ({result.out})")
    for column in ("run", "seed", "status", "epochs", "best epoch", "best robust test acc", "last robust train acc"):
        runs.add_column(column, justify="right")
    for r in result.runs:
        runs.add_row(
            r.run_id, str(r.seed), r.status, f"{r.epochs_done}/{r.epochs}", str(r.best_epoch),
            _number(r.best_robust_acc), _number(r.train_robust_acc), style=None if r.complete else "yellow",
        )
    console.print(runs)
    if not result.quality:
        console.print("No run is complete yet: /quality is not written.", highlight=False)
        return
    quality = Table(title=f"Quality over {result.quality_runs} complete run(s)")
    quality.add_column("measure (/quality/…)")
    quality.add_column("mean over examples", justify="right")
    for name in sorted(result.quality, key=lambda n: (n != PROBLEM_RANK, n)):
        quality.add_row(name, _number(result.quality[name]))
    console.print(quality)
    console.print(
        f"Problem ranks: {result.out}:/quality/problem_rank; checkpoints in {result.checkpoints}/.", highlight=False
    )

"""`advq train`: options in, `advq_cli.training.train` out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .. import training  # its names import their modules (and PyTorch) on first use, not at `--help`
from .boundary import handle_errors
from .configs import resolved_config
from .options import CONFIG_FILE, JsonOutput, with_training_options
from .output import print_json
from .progress import RichReporter
from .report import print_training_result


@with_training_options
@handle_errors
def train_command(
    ctx: typer.Context,
    config: CONFIG_FILE = None,
    out: Annotated[Path, typer.Option("--out", help="Run folder for config.yaml, best.pt, last.pt, history.csv.")] = Path("runs/train"),
    json_output: JsonOutput = False,
    **options: Any,
) -> None:
    """Adversarially train a model, with early stopping on robust test accuracy."""
    from ..training.distributed import World

    cfg = resolved_config(training.TrainConfig, ctx)
    with RichReporter() as reporter:
        result = training.train(cfg, reporter)
    if not World.from_environment().is_main:
        return  # under torchrun, rank 0 alone prints the result
    if json_output:
        print_json(result)
    else:
        print_training_result(result)

"""`advq evaluate CHECKPOINT`: options in, `advq_cli.evaluation.evaluate` out, tables printed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.table import Table

from .. import evaluation  # its names import their modules (and PyTorch) on first use, not at `--help`
from ..evaluation.config import DEFAULT_ATTACKS

if TYPE_CHECKING:
    import numpy as np
from .boundary import handle_errors
from .configs import resolved_config
from .options import CONFIG_FILE, DataDir, Device, JsonOutput, NExamples, Wait
from .output import console, print_json
from .progress import RichReporter


ATTACKS_HELP = (
    "Comma list of attack plugins: pgd-10, pgd-1000, autoattack, autoattack-apgd-ce-t, square, rays, transfer, … "
    "(options per attack under attack_options in --config). autoattack is the standard version (APGD-CE, APGD-T, "
    "FAB-T, Square); the paper's numbers came from autoattack-apgd-ce-t (APGD-CE and APGD-T), what its authors ran."
)
Checkpoint = Annotated[Path, typer.Argument(help="A checkpoint written by `advq train` (best.pt or last.pt).")]
Attacks = Annotated[str, typer.Option("--attacks", help=ATTACKS_HELP)]
Eps = Annotated[Optional[str], typer.Option("--eps", help=(
    "L∞ radius, e.g. 8/255 or 0.0314 (default: the checkpoint's evaluation radius: 8/255 on cifar10, cifar100 and "
    "tiny-imagenet, as the paper reports every model, also those trained at 12/255; the training ε on digits and "
    "fashion-mnist, for which the paper sets none)."
))]
StepSize = Annotated[Optional[str], typer.Option("--step-size", help=(
    "PGD step size (default: the checkpoint's evaluation step, 2/255 on the paper's datasets; ε/4 with --eps)."
))]
RandomStart = Annotated[bool, typer.Option("--random-start/--zero-start", help=(
    "Start PGD at a uniform random point of the ε-ball instead of at x (the default, as the paper's code)."
))]
BatchSize = Annotated[int, typer.Option("--batch-size", help="Examples per attack batch.")]
PerClass = Annotated[bool, typer.Option("--per-class", help="Also print accuracy per class.")]
Out = Annotated[Optional[Path], typer.Option("--out", help="HDF5 file of per-example results (default: <checkpoint>-evaluation.h5).")]
Resume = Annotated[bool, typer.Option("--resume", help="Keep the attacks already stored in --out; run the others.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed of the attacks.")]
Surrogate = Annotated[Optional[Path], typer.Option("--surrogate", help="Surrogate checkpoint of the transfer attack.")]


@handle_errors
def evaluate_command(
    ctx: typer.Context,
    checkpoint: Checkpoint,
    config: CONFIG_FILE = None,
    attacks: Attacks = ",".join(DEFAULT_ATTACKS),
    eps: Eps = None,
    step_size: StepSize = None,
    random_start: RandomStart = False,
    n_examples: NExamples = None,
    batch_size: BatchSize = 256,
    per_class: PerClass = False,
    out: Out = None,
    device: Device = None,
    resume: Resume = False,
    overwrite: Overwrite = False,
    wait: Wait = False,
    seed: Seed = 0,
    surrogate: Surrogate = None,
    data_dir: DataDir = None,
    json_output: JsonOutput = False,
) -> None:
    """Robust accuracy of a checkpoint under an attack suite, per example, with the overestimation gap."""
    cfg = resolved_config(evaluation.EvaluateConfig, ctx)
    with RichReporter() as reporter:
        result = evaluation.evaluate(cfg, reporter)
    if json_output:
        print_json(result_document(result, cfg.per_class))
        return
    print_summary(result)
    if cfg.per_class:
        print_per_class(result)
    gap = result.overestimation_gap
    if gap is not None:
        console.print(f"Overestimation gap (PGD-10 − AutoAttack): {gap:+.4f}", highlight=False)
    console.print(f"Per-example results → {result.out}", highlight=False)


def _rows(result: evaluation.EvaluationResult) -> list[tuple[str, np.ndarray]]:
    return [("clean", result.clean), *result.attacks.items(), ("worst case", result.worst_case)]


@dataclass(frozen=True)
class SummaryRow:
    attack: str
    accuracy: float
    seconds: float
    """NaN where not timed (clean, worst case)."""
    stored: bool
    """Kept from the file by --resume rather than run now."""


def summary_rows(result: evaluation.EvaluationResult) -> list[SummaryRow]:
    """The summary table's rows: clean, each attack, the worst case."""
    return [
        SummaryRow(name, float(correct.mean()), result.seconds.get(name, math.nan), name in result.resumed)
        for name, correct in _rows(result)
    ]


def result_document(result: evaluation.EvaluationResult, per_class: bool) -> dict[str, object]:
    """`--json`: the tables and the gap as one document (per-class accuracies keyed by class name)."""
    document: dict[str, object] = {
        "dataset": result.dataset, "eps": result.eps, "n_examples": result.n_examples,
        "attacks": summary_rows(result), "overestimation_gap": result.overestimation_gap, "out": result.out,
    }
    if per_class:
        document["per_class"] = {
            name: dict(zip(result.classes, result.per_class(correct))) for name, correct in _rows(result)
        }
    return document


def print_summary(result: evaluation.EvaluationResult) -> None:
    table = Table(title=f"{result.dataset}, ε = {result.eps:.6g}, {result.n_examples} test examples")
    for column in ("attack", "accuracy", "seconds"):
        table.add_column(column, justify="left" if column == "attack" else "right")
    for row in summary_rows(result):
        note = " (stored)" if row.stored else ""
        style = "bold" if row.attack == "worst case" else None
        shown = "" if math.isnan(row.seconds) else f"{row.seconds:.1f}"
        table.add_row(row.attack + note, f"{row.accuracy:.4f}", shown, style=style)
    console.print(table)


def print_per_class(result: evaluation.EvaluationResult) -> None:
    rows = _rows(result)
    table = Table(title="Accuracy per class")
    table.add_column("class")
    for name, _ in rows:
        table.add_column(name, justify="right")
    per_class = [result.per_class(correct) for _, correct in rows]
    for k, label in enumerate(result.classes):
        table.add_row(label, *("–" if math.isnan(acc[k]) else f"{acc[k]:.4f}" for acc in per_class))
    console.print(table)

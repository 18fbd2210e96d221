"""`advq explain correlations|consistency|examples`: options in, `advq_cli.explaining` out,
the numbers and the written files printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..explaining import (
    ConsistencyConfig, CorrelationsConfig, ExamplesConfig, ExplainResult, explain_consistency, explain_correlations,
    explain_examples,
)
from ..explaining.report import number
from .common import console, handle_errors, resolved_config
from .options import CONFIG_FILE

explain_app = typer.Typer(
    help="Figures (PNG), report.md and summary.json from stored profiles: why data quality matters.",
    no_args_is_help=True,
)

Profile = Annotated[Path, typer.Argument(metavar="PROFILE.h5", help="A profile written by `advq profile`.")]
OutDir = Annotated[
    Optional[Path],
    typer.Option("--out-dir", help="Folder for the figures, report.md and summary.json (default: beside the profile)."),
]
MaxPoints = Annotated[int, typer.Option("--max-points", help="Most examples drawn in a scatter plot (a seeded sample).")]
SampleSeed = Annotated[int, typer.Option("--seed", help="Seed of the scatter plots' sample.")]


@explain_app.command("correlations")
@handle_errors
def correlations_command(
    ctx: typer.Context,
    profile: Profile,
    config: CONFIG_FILE = None,
    out_dir: OutDir = None,
    measures: Annotated[
        Optional[str], typer.Option("--measures", help="Comma list of measures (default: every /quality/<measure>).")
    ] = None,
    bins: Annotated[int, typer.Option("--bins", help="Equal-width bins of the problem rank.")] = 20,
    max_points: MaxPoints = 5000,
    seed: SampleSeed = 0,
) -> None:
    """Each stored measure against the problem rank: Spearman's ρ, binned means ± std, a scatter (Fig. 11)."""
    values = dict(profile=profile, out_dir=out_dir, measures=measures, bins=bins, max_points=max_points, seed=seed)
    result = explain_correlations(resolved_config(CorrelationsConfig, ctx, config, values))
    table = Table(title=f"Spearman's ρ with the problem rank ({result.summary['n_examples']} examples)")
    for column in ("measure", "ρ", "examples"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, rho in result.summary["spearman"].items():
        table.add_row(name, number(rho, sign=True), str(result.summary["n_finite"][name]))
    console.print(table)
    print_files(result)


@explain_app.command("consistency")
@handle_errors
def consistency_command(
    ctx: typer.Context,
    profiles: Annotated[
        list[Path],
        typer.Argument(metavar="PROFILE.h5...", help="One profile (its runs are compared) or several of one dataset."),
    ],
    config: CONFIG_FILE = None,
    out_dir: OutDir = None,
    measure: Annotated[str, typer.Option("--measure", help="The measure compared.")] = "problem_rank",
    labels: Annotated[
        Optional[str], typer.Option("--labels", help="Comma list naming the runs or files (default: run ids, file names).")
    ] = None,
    max_pairs: Annotated[int, typer.Option("--max-pairs", help="Pairs drawn as scatter plots.")] = 6,
    max_points: MaxPoints = 5000,
    seed: SampleSeed = 0,
) -> None:
    """Rank agreement between the runs of one profile or between profiles: Spearman matrix and scatters (Fig. 12-14)."""
    values = dict(
        profiles=profiles, out_dir=out_dir, measure=measure, labels=labels, max_pairs=max_pairs,
        max_points=max_points, seed=seed,
    )
    result = explain_consistency(resolved_config(ConsistencyConfig, ctx, config, values))
    matrix = result.summary["spearman_matrix"]
    table = Table(title=f"Spearman's ρ of {result.summary['measure']} between {result.summary['between']}")
    table.add_column("")
    for label in matrix["labels"]:
        table.add_column(label, justify="right")
    for label, row in zip(matrix["labels"], matrix["values"]):
        table.add_row(label, *(number(v) for v in row))
    console.print(table)
    print_files(result)


@explain_app.command("examples")
@handle_errors
def examples_command(
    ctx: typer.Context,
    profile: Profile,
    config: CONFIG_FILE = None,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option("--checkpoint", help="Model to attack (default: best.pt of the profile's first complete run)."),
    ] = None,
    out_dir: OutDir = None,
    per_class: Annotated[
        int, typer.Option("--per-class", help="Examples per class of the lowest and of the highest quality.")
    ] = 4,
    eps: Annotated[
        Optional[str], typer.Option("--eps", help="L∞ radius of the attack (default: twice the training ε).")
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="PGD iterations (step size ε/8).")] = 20,
    classes: Annotated[
        Optional[str], typer.Option("--classes", help="Comma list of class names or labels (default: all, at most 20).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the attack's random start.")] = 0,
    device: Annotated[
        Optional[str], typer.Option("--device", help="cpu, cuda, cuda:N (default: cuda when available).")
    ] = None,
    data_dir: Annotated[
        Optional[str], typer.Option("--data-dir", help="Where the dataset's files are (default: as profiled).")
    ] = None,
) -> None:
    """The lowest- and highest-quality training examples per class beside their PGD counterparts (Fig. 3a)."""
    values = dict(
        profile=profile, checkpoint=checkpoint, out_dir=out_dir, per_class=per_class, eps=eps, steps=steps,
        classes=classes, seed=seed, device=device, data_dir=data_dir,
    )
    result = explain_examples(resolved_config(ExamplesConfig, ctx, config, values))
    summary = result.summary
    names = summary["class_names"]
    attack = summary["attack"]
    table = Table(title=f"{attack['name']} at ε = {attack['eps']:.4g}: true → predicted on the adversarial counterparts")
    for column in ("class", "lowest quality", "highest quality"):
        table.add_column(column)
    for low, high in zip(summary["lowest_quality"], summary["highest_quality"]):
        table.add_row(low["class"], *(
            "  ".join(f"#{e['index']}→{names[e['pred_adversarial']]}" for e in side["examples"]) for side in (low, high)
        ))
    console.print(table)
    for side, acc in summary["accuracy"].items():
        console.print(
            f"{side.replace('_', ' ')}: clean accuracy {number(acc['clean'])}, adversarial {number(acc['adversarial'])}",
            highlight=False,
        )
    print_files(result)


def print_files(result: ExplainResult) -> None:
    for path in result.files:
        console.print(f"Wrote {path}", highlight=False)

"""`advq explain correlations|consistency|examples`: options in, `advq_cli.explaining` out,
the numbers and the written files printed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from .. import explaining  # its names import their modules (and PyTorch) on first use, not at `--help`
from ..explaining.competing_config import TRAINING_OPTIONS as COMPETING_TRAINING_OPTIONS
from ..explaining.report import number
from .boundary import handle_errors
from .configs import resolved_config
from .options import CONFIG_FILE, DataDir, Device, NExamples, Wait, inherited, with_options
from .output import console
from .progress import RichReporter
from .sweep_options import resolved_sweep_config, sweep_options

explain_app = typer.Typer(
    help="Figures (PNG), report.md, summary.json and one HTML page from stored profiles: why data quality matters.",
    no_args_is_help=True,
)

Profile = Annotated[Path, typer.Argument(metavar="PROFILE.h5", help="A profile written by `advq profile`.")]
OutDir = Annotated[
    Optional[Path],
    typer.Option("--out-dir", help="Folder for the figures, report.md and summary.json (default: beside the profile)."),
]
SubRunsOutDir = Annotated[
    Optional[Path], typer.Option("--out-dir", help="Folder for the sub-runs, figures, report.md, summary.json.")
]
# The PGD attack on the lowest- and highest-quality examples (`explain examples`, `explain report`).
ExtremesEps = Annotated[Optional[str], typer.Option("--eps", help="L∞ radius of the attack (default: twice the training ε).")]
ExtremesSteps = Annotated[int, typer.Option("--steps", help="PGD iterations (step size ε/8).")]
FINETUNE_EVALUATION = ("eval_eps", "eval_step_size", "eval_random_start")
"""The evaluation threat of `advq explain finetune`, the checkpoint's unless typed (its PGD iterations are --attack's)."""
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
    wait: Wait = False,
) -> None:
    """Each stored measure against the problem rank: Spearman's ρ, binned means ± std, a scatter (Fig. 11)."""
    with RichReporter() as reporter:
        result = explaining.explain_correlations(resolved_config(explaining.CorrelationsConfig, ctx), reporter)
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
    wait: Wait = False,
) -> None:
    """Rank agreement between the runs of one profile or between profiles: Spearman matrix and scatters (Fig. 12-14)."""
    with RichReporter() as reporter:
        result = explaining.explain_consistency(resolved_config(explaining.ConsistencyConfig, ctx), reporter)
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
    eps: ExtremesEps = None,
    steps: ExtremesSteps = 20,
    classes: Annotated[
        Optional[str], typer.Option("--classes", help="Comma list of class names or labels (default: all, at most 20).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the attack's random start.")] = 0,
    device: Device = None,
    data_dir: DataDir = None,
    wait: Wait = False,
) -> None:
    """The lowest- and highest-quality training examples per class beside their PGD counterparts (Fig. 3a)."""
    with RichReporter() as reporter:
        result = explaining.explain_examples(resolved_config(explaining.ExamplesConfig, ctx), reporter)
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


@explain_app.command("report")
@handle_errors
def report_command(
    ctx: typer.Context,
    profile: Profile,
    config: CONFIG_FILE = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", help="The HTML file (default: <profile stem>-report.html beside it).")
    ] = None,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option("--checkpoint", help="Model whose PGD counterparts of the extremes the gallery shows."),
    ] = None,
    evaluations: Annotated[
        Optional[list[Path]],
        typer.Option("--evaluation", help="An `advq evaluate` file for the evaluations table (repeat for more)."),
    ] = None,
    max_points: Annotated[
        int, typer.Option("--max-points", help="Most examples on the data map (a seeded sample).")
    ] = 5000,
    per_class: Annotated[
        int, typer.Option("--per-class", help="Lowest- and highest-quality examples per class always in the gallery.")
    ] = 24,
    eps: ExtremesEps = None,
    steps: ExtremesSteps = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the map's sample and the attack.")] = 0,
    device: Device = None,
    data_dir: DataDir = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    wait: Wait = False,
) -> None:
    """One self-contained HTML page of a profile: data map, per-class galleries, measures, subsets."""
    result = explaining.explain_report(resolved_config(explaining.ReportConfig, ctx))
    examples = result.data["examples"]
    console.print(
        f"Wrote {result.out} ({result.size / 1e6:.1f} MB): {len(result.data['map']['rows'])} examples on the data map, "
        f"{len(examples['index'])} pictures in the gallery.",
        highlight=False,
    )


@explain_app.command("finetune")
@with_options(inherited(FINETUNE_EVALUATION, "the checkpoint's", panel="Evaluation attack (L∞ PGD)"))
@handle_errors
def finetune_command(
    ctx: typer.Context,
    checkpoint: Annotated[
        Path, typer.Argument(metavar="CHECKPOINT.pt", help="best.pt of a standard or an adversarially trained run.")
    ],
    config: CONFIG_FILE = None,
    pairs: Annotated[
        Optional[str],
        typer.Option("--pairs", help="Comma list of TARGET:OTHER class pairs (names or labels), e.g. airplane:truck."),
    ] = None,
    profile: Annotated[
        Optional[Path], typer.Option("--profile", help="Profile whose problem rank defines the high-quality subset.")
    ] = None,
    out_dir: SubRunsOutDir = None,
    remove_lowest: Annotated[
        str, typer.Option("--remove-lowest", help="High-quality subset: the profile's ranked examples without this lowest fraction.")
    ] = "0.2",
    epochs: Annotated[int, typer.Option("--epochs", help="Fine-tuning epochs (the paper: 30).")] = 30,
    lr: Annotated[float, typer.Option("--lr", help="Fine-tuning SGD learning rate (constant).")] = 0.01,
    batch_size: Annotated[
        Optional[int], typer.Option("--batch-size", help="Examples per step (default: the checkpoint's).")
    ] = None,
    eps: Annotated[
        Optional[str],
        typer.Option("--eps", help="L∞ radius of the targeted attack and the evaluation (default: the checkpoint's)."),
    ] = None,
    steps: Annotated[
        Optional[int], typer.Option("--steps", help="Targeted PGD iterations (default: the checkpoint's).")
    ] = None,
    step_size: Annotated[
        Optional[str], typer.Option("--step-size", help="Targeted PGD step size (default: the checkpoint's).")
    ] = None,
    attack: Annotated[
        str, typer.Option("--attack", help="Attack plugin of the robust test accuracy (pgd-10: 10 iterations).")
    ] = "pgd-10",
    n_examples: NExamples = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fine-tuning and the evaluation.")] = 0,
    device: Device = None,
    data_dir: DataDir = None,
    wait: Wait = False,
    **options: Any,
) -> None:
    """Targeted class-pair adversarial fine-tuning on all data versus the high-quality subset (appendix G.1/G.2)."""
    cfg = resolved_config(explaining.FinetuneConfig, ctx)
    with RichReporter() as reporter:
        result = explaining.explain_finetune(cfg, reporter)
    summary = result.summary
    table = Table(title=f"Target class accuracy: before → after fine-tuning (robust: {summary['evaluation']['attack']})")
    for column in ("pair", "data", "clean", "robust"):
        table.add_column(column, justify="left" if column in ("pair", "data") else "right")
    for entry in summary["pairs"]:
        target = entry["target"]
        for condition, measured in entry["conditions"].items():
            table.add_row(entry["pair"], condition.replace("_", "-"), *(
                f"{number(summary['before'][kind]['per_class'][target])} → {number(measured[kind]['per_class'][target])}"
                for kind in ("clean", "robust")
            ))
    console.print(table)
    print_files(result)


@explain_app.command("competing")
@with_options(inherited(COMPETING_TRAINING_OPTIONS, "the profile's"))
@handle_errors
def competing_command(
    ctx: typer.Context,
    profile: Profile,
    config: CONFIG_FILE = None,
    classes: Annotated[
        Optional[str],
        typer.Option("--classes", help="One or two classes (names or labels) whose examples are added, e.g. airplane,ship."),
    ] = None,
    out_dir: SubRunsOutDir = None,
    core_fraction: Annotated[
        str,
        typer.Option("--core-fraction", help="Size of the class-balanced high-quality core, as a fraction of the ranked examples."),
    ] = "0.2",
    added_fraction: Annotated[
        str, typer.Option("--added-fraction", help="Examples added per chosen class, as a fraction of that class.")
    ] = "0.1",
    controls: Annotated[
        bool,
        typer.Option("--controls/--no-controls", help="Also add the chosen classes' best examples outside the core (separate runs)."),
    ] = True,
    attacks: Annotated[
        str, typer.Option("--attacks", help="Two attacks A,B: the gap is A's robust accuracy minus B's.")
    ] = "pgd-10,autoattack",
    n_examples: NExamples = None,
    wait: Wait = False,
    **options: Any,
) -> None:
    """The per-class overestimation gap after adding low-quality examples of competing classes (appendix G.3)."""
    cfg = resolved_config(explaining.CompetingConfig, ctx)
    with RichReporter() as reporter:
        result = explaining.explain_competing(cfg, reporter)
    summary = result.summary
    first, second = summary["attacks"]
    table = Table(title=f"Overestimation gap ({first} − {second}) per training set")
    for column in ("training set", "examples", "clean", first, second, "gap", "largest class gap"):
        table.add_column(column, justify="left" if column == "training set" else "right")
    for r in summary["conditions"]:
        gaps = [(g, name) for g, name in zip(r["gap"]["per_class"], summary["class_names"]) if g is not None]
        worst = max(gaps, default=None)
        table.add_row(
            r["label"], str(r["n_train"]), number(r["accuracy"]["clean"]["all"]), number(r["accuracy"][first]["all"]),
            number(r["accuracy"][second]["all"]), number(r["gap"]["all"], sign=True),
            "–" if worst is None else f"{worst[1]} {number(worst[0], sign=True)}",
        )
    console.print(table)
    print_files(result)


@explain_app.command("sweep")
@sweep_options
@handle_errors
def sweep_command(
    ctx: typer.Context,
    profile: Profile,
    config: CONFIG_FILE = None,
    out_dir: OutDir = None,
    fractions: Annotated[
        str, typer.Option("--fractions", help="Comma list of fractions removed, each in (0, 1).")
    ] = "0.1,0.2,0.3",
    repeats: Annotated[
        int, typer.Option("--repeats", help="Seeds per condition and fraction: --seed S gives S..S+R-1.")
    ] = 3,
    attacks: Annotated[
        str, typer.Option("--attacks", help="Attacks on every checkpoint (the gap needs pgd-10 and autoattack).")
    ] = "pgd-10,autoattack",
    n_examples: NExamples = None,
    **options: Any,
) -> None:
    """Lowest-quality versus random removal at several fractions, each over seeds (Fig. 8/9).

    Reports best and last robust accuracy, clean accuracy and the PGD-10 − AutoAttack gap.
    Training options default to the profile's.
    """
    with RichReporter() as reporter:
        result = explaining.explain_sweep(resolved_sweep_config(ctx), reporter)
    metrics, summary = result.summary["metrics"], result.summary
    table = Table(title=f"Mean over {len(summary['seeds'])} seed(s): lowest quality removed / removed at random")
    table.add_column("fraction removed")
    for key in metrics:
        table.add_column(key.replace("_", " "), justify="right")
    table.add_row("0 (full set)", *(number(metrics[key]["full"]["mean"]) for key in metrics))
    for k, fraction in enumerate(summary["fractions"]):
        table.add_row(f"{fraction:g}", *(
            f"{number(metrics[key]['quality']['mean'][k])} / {number(metrics[key]['random']['mean'][k])}" for key in metrics
        ))
    console.print(table)
    print_files(result)


def print_files(result: explaining.ExplainResult) -> None:
    for path in result.files:
        console.print(f"Wrote {path}", highlight=False)

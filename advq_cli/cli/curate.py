"""`advq curate`: options in, `advq_cli.curation.curate` (or `list_subsets`) out."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from .. import curation  # its names import their modules (and PyTorch) on first use, not at `--help`
from ..errors import AdvqError
from .boundary import handle_errors
from .configs import explicit_options, resolved_config
from .options import CONFIG_FILE, JsonOutput, Wait
from .output import console, print_json
from .progress import RichReporter

SOURCE, RULES, OUTPUT = "Source of ranks", "Rules", "Output"


@handle_errors
def curate_command(
    ctx: typer.Context,
    profile: Annotated[
        Optional[Path],
        typer.Argument(metavar="PROFILE.h5", help="Profile HDF5 file to curate by (sets are stored in it unless --out)."),
    ] = None,
    config: CONFIG_FILE = None,
    from_npy: Annotated[
        Optional[Path],
        typer.Option("--from-npy", help="Import a problem rank instead: one value in [0, 1) per training example (NaN: unranked).", rich_help_panel=SOURCE),
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option("--dataset", help="The dataset the --from-npy ranks are for.", rich_help_panel=SOURCE),
    ] = None,
    data_dir: Annotated[
        Optional[str], typer.Option("--data-dir", help="Where the dataset's files are.", rich_help_panel=SOURCE)
    ] = None,
    rank: Annotated[
        str, typer.Option("--rank", help="Curate by this stored measure (/quality/<MEASURE>).", rich_help_panel=SOURCE)
    ] = "problem_rank",
    higher_is_worse: Annotated[
        Optional[bool],
        typer.Option("--higher-is-worse/--higher-is-better", help="Direction of a --rank measure advq does not know.", rich_help_panel=SOURCE),
    ] = None,
    remove_lowest: Annotated[
        Optional[str],
        typer.Option("--remove-lowest", help="Drop this fraction (0.2 or 1/5) of lowest quality.", rich_help_panel=RULES),
    ] = None,
    keep: Annotated[
        Optional[int], typer.Option("--keep", help="Keep the N examples of highest quality.", rich_help_panel=RULES)
    ] = None,
    quantiles: Annotated[
        Optional[int],
        typer.Option("--quantiles", help="K disjoint sets NAME-1 (lowest quality) .. NAME-K (highest).", rich_help_panel=RULES),
    ] = None,
    balanced: Annotated[
        bool, typer.Option("--balanced", help="Apply the rule within each class.", rich_help_panel=RULES)
    ] = False,
    classes: Annotated[
        Optional[str],
        typer.Option("--classes", help="Only these classes (names or labels, comma-separated).", rich_help_panel=RULES),
    ] = None,
    baseline: Annotated[
        Optional[str],
        typer.Option("--baseline", help="'random': also a seeded random set of the same class counts, NAME-random.", rich_help_panel=RULES),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the random baseline.", rich_help_panel=RULES)
    ] = 0,
    name: Annotated[
        Optional[str], typer.Option("--name", help="Name of the set.", rich_help_panel=OUTPUT)
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", help="Store the sets in this file instead of the profile.", rich_help_panel=OUTPUT),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace sets and exports of the same name.", rich_help_panel=OUTPUT)
    ] = False,
    export: Annotated[
        Optional[str],
        typer.Option("--export", help="Also export every set made: npy, imagefolder, hdf5 (comma-separated) or a plugin.", rich_help_panel=OUTPUT),
    ] = None,
    export_dir: Annotated[
        Optional[Path], typer.Option("--export-dir", help="Folder for --export.", rich_help_panel=OUTPUT)
    ] = None,
    wait: Wait = False,
    list_file: Annotated[
        Optional[Path],
        typer.Option("--list", help="Show the sets stored in this file and exit.", rich_help_panel=OUTPUT),
    ] = None,
    json_output: JsonOutput = False,
) -> None:
    """Build named index sets from quality ranks; store them, and export them for any PyTorch code."""
    if list_file is not None:
        others = [k for k in explicit_options(ctx) if k != "data_dir"]
        if others or config is not None:
            raise AdvqError("--list FILE.h5 shows stored sets; give it alone (with --data-dir if needed).")
        sets = curation.list_subsets(list_file, data_dir)
        if json_output:
            print_json({"file": list_file, "sets": sets})
        else:
            print_sets(f"Sets in {list_file}", sets)
        return
    cfg = resolved_config(curation.CurateConfig, ctx)
    with RichReporter() as reporter:
        result = curation.curate(cfg, reporter)
    if json_output:
        print_json(result)
        return
    print_sets(f"Sets stored in {result.target}", result.sets)
    for path in result.exports:
        console.print(f"Exported {path}", highlight=False)


def print_sets(title: str, sets: list[curation.SetSummary]) -> None:
    if not sets:
        console.print(f"{title}: none.", highlight=False)
        return
    table = Table(title=title)
    for column in ("name", "size", "per class", "rule", "mean rank"):
        table.add_column(column, justify="right" if column in ("size", "mean rank") else "left", overflow="fold")
    for s in sets:
        rank = "—" if math.isnan(s.mean_rank) else f"{s.mean_rank:.4f}"
        table.add_row(s.name, str(s.size), _per_class(s.class_counts), s.rule, rank)
    console.print(table)


def _per_class(counts: dict[str, int]) -> str:
    """Every class's count for up to 10 classes; a range beyond that."""
    if len(counts) <= 10:
        return " ".join(f"{c}:{n}" for c, n in counts.items())
    return f"{len(counts)} classes, {min(counts.values())}–{max(counts.values())} each"

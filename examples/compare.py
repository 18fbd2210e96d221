"""Print trained runs side by side and write comparison.csv and comparison.png.

    python examples/compare.py RUN/evaluation.h5 [RUN/evaluation.h5 …] --out-dir DIR [--paper-table3]

Reads only `advq evaluate` files (`advq_cli.comparison` does the work); `--paper-table3`
puts the paper's Table 3 numbers beside the runs that match one of its rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from advq_cli.evaluation.comparison import PAPER_TABLE3_SOURCE, Comparison, compare_runs, eps_text, write_comparison
from advq_cli.errors import AdvqError


def print_comparison(comparison: Comparison, console: Console) -> None:
    first = comparison.rows[0]
    table = Table(title=f"{first.dataset}: test accuracy at ε = {eps_text(first.eval_eps)} "
                        f"({first.n_examples} test examples; ε, epoch: training ε, best epoch)")
    worst = len(comparison.attacks) > 1  # with one attack the worst case is that attack
    for column in ("method", "ε", "set", "removed", "epoch", "clean", *comparison.attacks, *["worst"] * worst):
        text = column in ("method", "set", "removed")
        table.add_column(column, justify="left" if text else "right", no_wrap=text)
    if comparison.has_paper:
        table.add_column("paper clean", justify="right", style="cyan")
        table.add_column("paper robust", justify="right", style="cyan")
    for r in comparison.rows:
        cells = [
            r.method, eps_text(r.train_eps), r.training_set.name, r.training_set.removal or "–", str(r.best_epoch), f"{r.clean:.2%}",
            *(f"{r.robust[a]:.2%}" if a in r.robust else "–" for a in comparison.attacks),
            *[f"{r.worst_case:.2%}"] * worst,
        ]
        if comparison.has_paper:
            cells += [f"{r.paper[0]:.2f}%", f"{r.paper[1]:.2f}%"] if r.paper else ["–", "–"]
        table.add_row(*cells)
    console.print(table)
    if comparison.has_paper:
        console.print(f"paper: {PAPER_TABLE3_SOURCE}.", highlight=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluations", nargs="+", type=Path, help="evaluation files written by `advq evaluate`")
    parser.add_argument("--out-dir", type=Path, required=True, help="folder for comparison.csv and comparison.png")
    parser.add_argument("--paper-table3", action="store_true", help="show the paper's Table 3 beside matching runs")
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log file: room for the whole table on one line per run
        console = Console(width=160)
    try:
        comparison = compare_runs(args.evaluations, paper=args.paper_table3)
        files = write_comparison(comparison, args.out_dir)
    except AdvqError as exc:
        Console(stderr=True).print(f"[bold red]Error:[/] {exc}", highlight=False)
        return 2
    print_comparison(comparison, console)
    for path in files:
        console.print(f"Wrote {path}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

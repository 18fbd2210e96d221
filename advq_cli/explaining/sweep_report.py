"""The removal sweep's numbers turned into what a reader sees: mean and spread over seeds
per condition and fraction, one figure per metric (as the paper's Fig. 8), and
``report.md`` with quality-based and random removal side by side.

Kept apart from ``sweep.py`` (which trains and evaluates) so that the aggregation and the
drawing depend only on the stored per-sub-run results.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .figures import Drawn, errorbars_of, new_figure, points_of, save
from .profiles import Profile
from .report import markdown_table, number

FULL, QUALITY, RANDOM = "full", "quality", "random"
CONDITIONS = (QUALITY, RANDOM)
LABELS = {FULL: "full training set", QUALITY: "lowest quality removed", RANDOM: "removed at random"}
STYLES = {QUALITY: {"fmt": "o-", "color": "C0"}, RANDOM: {"fmt": "s--", "color": "C3"}}
X_LABEL = "fraction of the training set removed (0 = full set)"


@dataclass(frozen=True)
class Metric:
    """A per-sub-run number: its figure title, axis label, and whether zero is a reference line."""

    title: str
    axis: str
    signed: bool = False

    def figure(self, key: str) -> str:
        return f"sweep-{key.replace('_', '-')}.png"


METRICS = {
    "best_robust": Metric("Best robust accuracy", "robust test accuracy of best.pt"),
    "last_robust": Metric("Last robust accuracy", "robust test accuracy of last.pt"),
    "robust_overfitting": Metric("Robust overfitting", "best − last robust accuracy", signed=True),
    "clean": Metric("Clean accuracy", "clean test accuracy of best.pt"),
    "gap": Metric("Robustness overestimation", "PGD-10 − AutoAttack accuracy of best.pt", signed=True),
}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and standard deviation (ddof 0) over seeds; NaN when a value is missing."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std())


def aggregate(results: list[dict[str, Any]], fractions: list[float], seeds: list[int]) -> dict[str, Any]:
    """Per metric: the full set's values over seeds, and per condition a list over fractions
    of the values over seeds, each with its mean and std."""
    metrics = {(r["condition"], r["fraction"], r["seed"]): r["metrics"] for r in results}

    def values(key: str, condition: str, fraction: float) -> list[float]:
        return [float("nan") if (v := metrics[condition, fraction, s][key]) is None else v for s in seeds]

    summary: dict[str, Any] = {}
    for key in METRICS:
        full = values(key, FULL, 0.0)
        summary[key] = {FULL: dict(zip(("mean", "std"), mean_std(full)), values=full)}
        for condition in CONDITIONS:
            per_fraction = [values(key, condition, f) for f in fractions]
            spread = [mean_std(v) for v in per_fraction]
            summary[key][condition] = {
                "mean": [m for m, _ in spread], "std": [s for _, s in spread], "values": per_fraction,
            }
    return summary


def drawn_metrics(metrics: dict[str, Any]) -> list[str]:
    """The metrics with a number at all (the gap needs both pgd-10 and autoattack)."""
    def finite(entry: dict[str, Any]) -> bool:
        every = [entry[FULL]["values"]] + [v for c in CONDITIONS for v in entry[c]["values"]]
        return bool(np.isfinite(np.asarray(every, dtype=np.float64)).any())

    return [key for key in METRICS if finite(metrics[key])]


def draw_metrics(
    out_dir: Path, metrics: dict[str, Any], fractions: list[float], setup: dict[str, Any]
) -> dict[str, Drawn]:
    """One figure per metric that has numbers, by file name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return {
        METRICS[key].figure(key): draw_metric(out_dir / METRICS[key].figure(key), key, metrics[key], fractions, setup)
        for key in drawn_metrics(metrics)
    }


def setup_line(setup: dict[str, Any]) -> str:
    return (
        f"{setup['dataset']}, {setup['model']}, {setup['method']}, ε = {setup['eps']:.4g}, {setup['epochs']} epochs, "
        f"{len(setup['seeds'])} seed(s); {', '.join(setup['attacks'])} on {setup['n_examples']} test examples"
    )


def draw_metric(path: Path, key: str, entry: dict[str, Any], fractions: list[float], setup: dict[str, Any]) -> Drawn:
    """Mean ± std over seeds against the fraction removed, a line per condition starting at
    the full set (fraction 0), and every seed's value as a faint point."""
    metric = METRICS[key]
    n_seeds = len(setup["seeds"])
    figure, axes = new_figure(12.0, 7.5)
    x = np.array([0.0, *fractions])
    full = entry[FULL]
    drawn: Drawn = {}
    for condition in CONDITIONS:
        line = entry[condition]
        bars = axes.errorbar(
            x, [full["mean"], *line["mean"]], yerr=[full["std"], *line["std"]], capsize=4, linewidth=2,
            label=f"{LABELS[condition]}: mean ± std over {n_seeds} seed(s)", **STYLES[condition],
        )
        drawn[condition] = errorbars_of(bars)
        seeds = axes.scatter(
            np.repeat(fractions, n_seeds), np.ravel(line["values"]), s=16, alpha=0.35,
            color=STYLES[condition]["color"], label=f"{LABELS[condition]}: each seed",
        )
        drawn[f"{condition}_seeds"] = points_of(seeds)
    seeds = axes.scatter(
        np.zeros(n_seeds), full["values"], s=22, marker="D", color="black", alpha=0.6,
        label=f"{LABELS[FULL]}: each seed",
    )
    drawn[f"{FULL}_seeds"] = points_of(seeds)
    if metric.signed:
        axes.axhline(0, color="black", linewidth=0.8)
    axes.set_xticks(x, [f"{v:g}" for v in x])
    title = f"{metric.title} against the fraction removed\n{setup_line(setup)}"
    axes.set(title=title, xlabel=X_LABEL, ylabel=metric.axis)
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    save(figure, path)
    return drawn


def cell(mean: float, std: float) -> str:
    return f"{number(mean)} ± {number(std)}"


def metric_table(entry: dict[str, Any], fractions: list[float], sizes: dict[str, int]) -> str:
    """A row per fraction (the full set first): quality-based and random removal side by side."""
    full = cell(entry[FULL]["mean"], entry[FULL]["std"])
    rows = [("0 (full set)", sizes["full"], full, full, "–")]
    for k, fraction in enumerate(fractions):
        quality, random = (entry[c]["mean"][k] for c in CONDITIONS)
        rows.append((
            f"{fraction:g}", sizes[f"{QUALITY}-f{fraction:g}"], cell(quality, entry[QUALITY]["std"][k]),
            cell(random, entry[RANDOM]["std"][k]), number(quality - random, sign=True),
        ))
    header = ["fraction removed", "examples kept", "lowest quality removed", "removed at random", "quality − random"]
    return markdown_table(header, rows)


def runs_table(runs: list[dict[str, Any]]) -> str:
    rows = [
        (f"`{r['name']}`", r["train_size"], f"{r['best_epoch']}/{r['epochs']}",
         *(number(r["metrics"][k], sign=METRICS[k].signed) for k in METRICS))
        for r in runs
    ]
    return markdown_table(["sub-run", "examples", "best epoch", *(METRICS[k].title.lower() for k in METRICS)], rows)


def report(profile: Profile, summary: dict[str, Any], figures: list[str]) -> str:
    sections = []
    for key, metric in METRICS.items():
        name = metric.figure(key)
        missing = "(No figure: the evaluation lacks pgd-10 or autoattack.)"
        image = f"\n\n![{name}]({name})" if name in figures else f"\n\n{missing}"
        table = metric_table(summary["metrics"][key], summary["fractions"], summary["subsets"]["sizes"])
        sections.append(f"## {metric.title}: {metric.axis}\n\n{table}{image}")
    seeds = summary["seeds"]
    return (
        f"# Removal sweep: lowest quality removed versus removed at random\n\n"
        f"Profile `{profile.path}` ({profile.dataset}; problem rank over {len(profile.runs)} complete run(s)). "
        f"Setup: {setup_line(summary)}; seeds {seeds[0]}..{seeds[-1]}. At each fraction F, *lowest quality removed* "
        f"drops the F of the ranked training set with the highest problem rank; *removed at random* drops as many "
        f"at random with the same class counts, drawn anew for each seed. Robust accuracy is the worst case over "
        f"the attacks (correct on the clean input and under every attack). Cells: mean ± std (ddof 0) over the "
        f"seeds; every sub-run is stored under `runs/`, its sets in `subsets.h5`.\n\n"
        + "\n\n".join(sections)
        + f"\n\n## Sub-runs\n\n{runs_table(summary['runs'])}\n"
    )

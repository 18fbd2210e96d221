"""`advq explain consistency`: how well independent estimates of a measure agree (the
paper's Fig. 12-14): between the runs of one profile, or between profiles made with other
methods, models or seeds on the same dataset. Spearman's rho for every pair, as a matrix,
and scatter plots of the examples' ranks for the first pairs."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import parse_name_list
from ..errors import AdvqError, FingerprintMismatchError
from ..profiling.store import PROBLEM_RANK
from ..progress import Reporter
from .figures import Drawn, new_figure, points_of, save
from .profiles import read_profile, read_run_measures
from .report import ExplainResult, finish, markdown_table, number, writing
from .stats import normalised_ranks, sample, spearman

COMMAND = "consistency"
MATRIX, SCATTER = f"{COMMAND}-matrix.png", f"{COMMAND}-scatter.png"


@dataclass
class ConsistencyConfig:
    """One profile (its runs are compared) or several (their ``/quality`` arrays are compared).

    ``labels`` names the runs or files in the figures (default: run ids, file names);
    ``out_dir`` None means ``<first profile stem>-consistency/`` beside it. Scatter plots are
    drawn for the first ``max_pairs`` pairs, each with at most ``max_points`` examples.
    """

    profiles: list[Path]
    out_dir: Path | None = None
    measure: str = PROBLEM_RANK
    labels: list[str] | None = field(default=None, metadata={"parse": lambda value, what: parse_name_list(value)})
    max_pairs: int = 6
    max_points: int = 5000
    seed: int = 0
    wait: bool = False

    def __post_init__(self) -> None:
        self.profiles = [Path(p) for p in self.profiles]
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)
        if not self.profiles:
            raise ValueError("Give at least one profile file.")
        if self.max_pairs < 0 or self.max_points < 1:
            raise ValueError("--max-pairs must be non-negative and --max-points positive.")


@dataclass(frozen=True)
class Compared:
    """The estimates compared: one array per label, all over the same training set."""

    between: str
    """``runs`` (of one file) or ``files``."""
    measure: str
    dataset: str
    sources: list[Path]
    labels: list[str]
    arrays: list[np.ndarray]
    runs_agreement: list[float] = field(default_factory=list)
    """For files: the mean Spearman's rho between each file's own runs (NaN with one run)."""


def explain_consistency(config: ConsistencyConfig, reporter: Reporter | None = None) -> ExplainResult:
    """The Spearman matrix between runs or files, its heatmap and the scatter plots of ranks."""
    with writing(config.out_dir, config.profiles[0], COMMAND, config.wait, reporter) as out_dir:
        compared = between_runs(config) if len(config.profiles) == 1 else between_files(config)
        labels = checked_labels(config.labels, compared.labels, compared.between)
        values, counts = spearman_matrix(compared.arrays)
        pairs = list(itertools.combinations(range(len(labels)), 2))[: config.max_pairs]

        drawn = {MATRIX: draw_matrix(out_dir / MATRIX, labels, values, compared)}
        if pairs:
            drawn[SCATTER] = draw_scatter(out_dir / SCATTER, labels, pairs, values, compared, config)
        summary = {
            "measure": compared.measure,
            "between": compared.between,
            "dataset": compared.dataset,
            "sources": [p.resolve() for p in compared.sources],
            "spearman_matrix": {"labels": labels, "values": values},
            "n_common": counts,
            "scatter_pairs": [[labels[i], labels[j]] for i, j in pairs],
            "scatter": {"max_points": config.max_points, "seed": config.seed},
            "runs_spearman_mean": dict(zip(labels, compared.runs_agreement)),
            "figures": list(drawn),
        }
        return finish(COMMAND, out_dir, summary, report(compared, labels, values, counts, list(drawn)), drawn)


def between_runs(config: ConsistencyConfig) -> Compared:
    """The per-run arrays ``/runs/<id>/measures/<measure>`` of one profile."""
    path = config.profiles[0]
    profile = read_profile(path)
    measure, runs = read_run_measures(path, config.measure)
    if len(runs) < 2:
        raise AdvqError(
            f"{path} has {len(runs)} complete run(s) storing '{measure}': comparing runs needs two "
            f"(or give several profile files)."
        )
    return Compared("runs", measure, profile.dataset, [path], list(runs), list(runs.values()))


def between_files(config: ConsistencyConfig) -> Compared:
    """``/quality/<measure>`` of each profile; all must be made for one dataset."""
    profiles = [read_profile(p) for p in config.profiles]
    first = profiles[0]
    for other in profiles[1:]:
        if other.fingerprint != first.fingerprint:
            raise FingerprintMismatchError(
                f"{other.path} was made for dataset '{other.dataset}' but {first.path} for '{first.dataset}' "
                f"(fingerprints {other.fingerprint} and {first.fingerprint}): only profiles of one dataset compare."
            )
    names = [p.measure(config.measure) for p in profiles]
    agreement = []
    for profile in profiles:
        _, runs = read_run_measures(profile.path, config.measure)
        matrix, _ = spearman_matrix(list(runs.values()))
        agreement.append(float(np.mean(matrix[np.triu_indices(len(runs), 1)])) if len(runs) > 1 else math.nan)
    return Compared(
        "files", names[0], first.dataset, [p.path for p in profiles], file_labels([p.path for p in profiles]),
        [p.quality[name] for p, name in zip(profiles, names)], agreement,
    )


def file_labels(paths: list[Path]) -> list[str]:
    """File names without ``.h5``; numbered when two are alike."""
    stems = [p.stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{k + 1}:{stem}" for k, stem in enumerate(stems)]


def checked_labels(given: list[str] | None, default: list[str], between: str) -> list[str]:
    if not given:
        return default
    if len(given) != len(default):
        raise AdvqError(f"--labels names {len(given)} item(s), but {len(default)} {between} are compared.")
    if len(set(given)) != len(given):
        raise AdvqError(f"--labels must be distinct, got {','.join(given)}.")
    return list(given)


def spearman_matrix(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Spearman's rho between every two arrays (over the examples finite in both; 1 on the
    diagonal) and the number of those examples."""
    k = len(arrays)
    values = np.eye(k)
    counts = np.diag([int(np.isfinite(a).sum()) for a in arrays])
    for i, j in itertools.combinations(range(k), 2):
        values[i, j], counts[i, j] = spearman(arrays[i], arrays[j])
        values[j, i], counts[j, i] = values[i, j], counts[i, j]
    return values, counts


def pair_ranks(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 2) normalised ranks of two arrays over the examples finite in both: their Pearson
    correlation is Spearman's rho, so the scatter shows exactly what the matrix reports."""
    both = np.isfinite(a) & np.isfinite(b)
    return np.column_stack([normalised_ranks(a[both]), normalised_ranks(b[both])])


def draw_matrix(path: Path, labels: list[str], values: np.ndarray, compared: Compared) -> Drawn:
    size = 7.0 + 0.6 * len(labels)
    figure, axes = new_figure(size + 2.0, size)
    image = axes.imshow(values, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    for (i, j), value in np.ndenumerate(values):
        axes.text(j, i, number(value), ha="center", va="center", color="white" if abs(value) > 0.6 else "black")
    ticks = np.arange(len(labels))
    axes.set_xticks(ticks, labels, rotation=30, ha="right")
    axes.set_yticks(ticks, labels)
    axes.set(
        title=f"Agreement of {compared.measure} between {compared.between} ({compared.dataset}): Spearman ρ",
        xlabel=compared.between[:-1], ylabel=compared.between[:-1],
    )
    figure.colorbar(image, ax=axes, label="Spearman ρ (colour scale)")
    save(figure, path)
    return {"matrix": np.asarray(image.get_array(), dtype=np.float64), "cells": [t.get_text() for t in axes.texts]}


def draw_scatter(
    path: Path, labels: list[str], pairs: list[tuple[int, int]], values: np.ndarray, compared: Compared,
    config: ConsistencyConfig,
) -> Drawn:
    columns = min(3, len(pairs))
    rows = math.ceil(len(pairs) / columns)
    figure, axes = new_figure(5.0 * columns, 4.6 * rows + 0.6, nrows=rows, ncols=columns, squeeze=False)
    figure.suptitle(
        f"Ranks of {compared.measure} between {compared.between} ({compared.dataset}); "
        f"rank 0 = lowest value, 1 = highest"
    )
    drawn = []
    for axis, (i, j) in zip(axes.flat, pairs):
        ranks = pair_ranks(compared.arrays[i], compared.arrays[j])
        shown = ranks[sample(len(ranks), config.max_points, config.seed)]
        points = axis.scatter(
            shown[:, 0], shown[:, 1], s=3, alpha=0.3, label=f"training examples ({len(shown)} of {len(ranks)})"
        )
        axis.set(
            title=f"{labels[i]} vs {labels[j]}: ρ = {number(values[i, j], sign=True)}",
            xlabel=f"rank of {compared.measure}, {labels[i]}", ylabel=f"rank of {compared.measure}, {labels[j]}",
            xlim=(0, 1), ylim=(0, 1), aspect="equal",
        )
        axis.legend(loc="upper left", markerscale=3)
        drawn.append(points_of(points))
    for axis in axes.flat[len(pairs):]:
        axis.set_visible(False)
    save(figure, path)
    return {"pairs": [(labels[i], labels[j]) for i, j in pairs], "points": drawn}


def report(
    compared: Compared, labels: list[str], values: np.ndarray, counts: np.ndarray, figures: list[str]
) -> str:
    rows = [[f"**{label}**", *(number(v) for v in row)] for label, row in zip(labels, values)]
    table = markdown_table(["", *labels], rows)
    if compared.between == "files":
        sources = "\n".join(f"- `{label}`: `{path}`" for label, path in zip(labels, compared.sources))
        within = markdown_table(["file", "ρ"], [(label, number(v)) for label, v in zip(labels, compared.runs_agreement)])
        within = f"\n\nMean Spearman's ρ between each file's own runs (the agreement a second seed gives):\n\n{within}"
    else:
        sources, within = f"Profile `{compared.sources[0]}`, runs {', '.join(labels)}.", ""
    images = "\n\n".join(f"![{name}]({name})" for name in figures)
    smallest = int(counts[np.triu_indices(len(labels), 1)].min())
    return (
        f"# Consistency of `{compared.measure}` between {compared.between}\n\n{sources}\n\n"
        f"Spearman's ρ over the training examples where both estimates are finite (at least {smallest}):\n\n"
        f"{table}{within}\n\n{images}\n"
    )

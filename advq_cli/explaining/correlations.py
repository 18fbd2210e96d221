"""`advq explain correlations`: each stored measure against the problem rank (the paper's
Fig. 11): Spearman's rho, binned means with their spread, and a scatter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import parse_name_list
from ..errors import AdvqError
from ..profiling.store import PROBLEM_RANK
from ..progress import Reporter
from .figures import Drawn, errorbars_of, new_figure, points_of, save
from .profiles import Profile, read_profile
from .report import ExplainResult, finish, markdown_table, number, writing
from .stats import Bins, bin_by_rank, sample, spearman

COMMAND = "correlations"
RANK_LABEL = "problem rank (0 = most stable = highest quality)"
RANK_AXIS = (-0.02, 1.02)  # a little room, so that the markers of examples ranked near 0 or 1 are drawn whole

# The directions the paper reports (appendix D, Fig. 11): +1 rises with the rank, -1 falls.
PAPER_SIGNS = {"true_prob": -1, "min_perturbation": -1, "first_learned_epoch": +1}


def _names(value: Any, what: str) -> list[str]:
    names = parse_name_list(value)
    if not names:
        raise ValueError(f"{what} needs at least one measure name, such as true_prob,min_perturbation.")
    return names


@dataclass
class CorrelationsConfig:
    """Which profile and measures (default: every stored one), and how figures bin and sample.

    ``out_dir`` None means ``<profile stem>-correlations/`` beside the profile. The scatter
    shows at most ``max_points`` examples, drawn with ``seed``; the rho and the bins use all.
    """

    profile: Path
    out_dir: Path | None = None
    measures: list[str] | None = field(default=None, metadata={"parse": _names})
    bins: int = 20
    max_points: int = 5000
    seed: int = 0
    wait: bool = False

    def __post_init__(self) -> None:
        self.profile = Path(self.profile)
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)
        if self.bins < 1 or self.max_points < 1:
            raise ValueError("--bins and --max-points must be positive.")


@dataclass(frozen=True)
class MeasureCorrelation:
    """One measure against the problem rank, over the examples where both are finite."""

    name: str
    rho: float
    n: int
    bins: Bins
    points: np.ndarray
    """(k, 2) rank and value of the sampled examples, in index order."""
    value_range: tuple[float, float]
    """Smallest and largest value of the measure: a spread drawn beyond them would show values that do not occur."""


def explain_correlations(config: CorrelationsConfig, reporter: Reporter | None = None) -> ExplainResult:
    """Spearman's rho of every measure with the problem rank, a figure per measure and an overview."""
    with writing(config.out_dir, config.profile, COMMAND, config.wait, reporter) as out_dir:
        profile = read_profile(config.profile)
        names = [profile.measure(m) for m in config.measures] if config.measures else sorted(profile.quality)
        ranked = int(np.isfinite(profile.rank).sum())
        if config.bins > ranked:
            raise AdvqError(f"--bins {config.bins} is more than the {ranked} examples {profile.path} ranks: give at most {ranked}.")
        results = [correlate(profile, name, config) for name in dict.fromkeys(names) if name != PROBLEM_RANK]
        if not results:
            raise AdvqError(f"{profile.path} has no measure to set against the problem rank (asked for: {', '.join(names)}).")

        drawn = {f"{COMMAND}-{r.name}.png": draw_measure(out_dir / f"{COMMAND}-{r.name}.png", r, profile) for r in results}
        drawn[f"{COMMAND}-overview.png"] = draw_overview(out_dir / f"{COMMAND}-overview.png", results, profile)
        summary = {
            "source": profile.path.resolve(),
            "dataset": profile.dataset,
            "runs": profile.runs,
            "n_examples": int(np.isfinite(profile.rank).sum()),
            "spearman": {r.name: r.rho for r in results},
            "n_finite": {r.name: r.n for r in results},
            "bins": {
                r.name: {"edges": r.bins.edges, "count": r.bins.count, "mean": r.bins.mean, "std": r.bins.std}
                for r in results
            },
            "scatter": {"max_points": config.max_points, "seed": config.seed},
            "figures": list(drawn),
        }
        return finish(COMMAND, out_dir, summary, report(profile, results, list(drawn)), drawn)


def correlate(profile: Profile, name: str, config: CorrelationsConfig) -> MeasureCorrelation:
    rank, values = profile.rank, profile.quality[name]
    rho, n = spearman(values, rank)
    both = np.flatnonzero(np.isfinite(rank) & np.isfinite(values))
    shown = both[sample(len(both), config.max_points, config.seed)]
    bins = bin_by_rank(rank[both], values[both], config.bins)
    value_range = (float(values[both].min()), float(values[both].max())) if both.size else (np.nan, np.nan)
    return MeasureCorrelation(name, rho, n, bins, np.column_stack([rank[shown], values[shown]]), value_range)


def title_of(result: MeasureCorrelation) -> str:
    return f"{result.name} against the problem rank: Spearman ρ = {number(result.rho, sign=True)} ({result.n} examples)"


def draw_measure(path: Path, result: MeasureCorrelation, profile: Profile) -> Drawn:
    """Left: mean ± std per rank bin (as Fig. 11), cut at the measure's range; right: the sampled examples."""
    figure, (binned, scatter) = new_figure(14.0, 7.0, ncols=2)
    figure.suptitle(f"{title_of(result)}\n{profile.dataset}, {len(profile.runs)} run(s), {profile.path.name}")
    filled = result.bins.count > 0
    centers, mean, std = result.bins.centers[filled], result.bins.mean[filled], result.bins.std[filled]
    low, high = np.maximum(mean - std, result.value_range[0]), np.minimum(mean + std, result.value_range[1])
    binned.fill_between(centers, low, high, alpha=0.2, color="C0", label="± 1 standard deviation (within the values' range)")
    bars = binned.errorbar(centers, mean, yerr=np.vstack([mean - low, high - mean]), fmt="o-", color="C0", capsize=3,
                           label="mean per rank bin")
    binned.set(title=f"{len(result.bins.count)} equal-width rank bins", xlabel=RANK_LABEL, ylabel=result.name, xlim=RANK_AXIS)
    binned.legend(loc="best")
    binned.grid(alpha=0.3)
    points = scatter.scatter(
        result.points[:, 0], result.points[:, 1], s=4, alpha=0.3, color="C1",
        label=f"training examples ({len(result.points)} of {result.n} shown)",
    )
    scatter.set(title="per example", xlabel=RANK_LABEL, ylabel=result.name, xlim=RANK_AXIS)
    scatter.legend(loc="best", markerscale=3)
    scatter.grid(alpha=0.3)
    save(figure, path)
    return {"bins": errorbars_of(bars), "points": points_of(points)}


def draw_overview(path: Path, results: list[MeasureCorrelation], profile: Profile) -> Drawn:
    """One bar per measure: which fall and which rise with the problem rank."""
    from matplotlib.patches import Patch

    figure, axes = new_figure(12.0, 7.0)
    names = [r.name for r in results]
    rhos = np.array([r.rho for r in results], dtype=np.float64)
    falls = np.nan_to_num(rhos) < 0
    bars = axes.bar(names, np.nan_to_num(rhos), color=np.where(falls, "C3", "C0"))
    axes.bar_label(bars, labels=[number(r, sign=True) for r in rhos], padding=3)
    axes.axhline(0, color="black", linewidth=0.8)
    axes.set(
        title=f"Measures against the problem rank ({profile.dataset}, {len(profile.runs)} run(s), {profile.path.name})",
        xlabel="measure (/quality/…)", ylabel="Spearman ρ", ylim=(-1.1, 1.45),
    )
    axes.tick_params(axis="x", labelrotation=20)
    axes.legend(
        handles=[Patch(color="C3", label="falls as the rank grows (ρ < 0)"), Patch(color="C0", label="rises (ρ > 0)")],
        loc="upper left", ncols=2,
    )
    axes.grid(axis="y", alpha=0.3)
    save(figure, path)
    return {"names": [t.get_text() for t in axes.get_xticklabels()], "rho": np.array([b.get_height() for b in bars])}


def report(profile: Profile, results: list[MeasureCorrelation], figures: list[str]) -> str:
    def direction(sign: float) -> str:
        return "–" if not sign or np.isnan(sign) else ("rises" if sign > 0 else "falls")

    rows = [
        (f"`{r.name}`", number(r.rho, sign=True), r.n, direction(np.sign(r.rho)), direction(PAPER_SIGNS.get(r.name, 0)))
        for r in results
    ]
    table = markdown_table(["measure", "Spearman ρ", "examples", "with the rank it", "paper (Fig. 11)"], rows)
    images = "\n\n".join(f"![{name}]({name})" for name in figures)
    return (
        f"# Measures against the problem rank\n\n"
        f"Profile `{profile.path}` ({profile.dataset}; /quality over {len(profile.runs)} complete run(s): "
        f"{', '.join(profile.runs)}). Spearman's ρ of each `/quality/<measure>` with `/quality/problem_rank` over "
        f"the examples where both are finite. The problem rank grows as quality falls.\n\n{table}\n\n{images}\n"
    )

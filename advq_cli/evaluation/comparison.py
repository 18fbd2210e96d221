"""Trained runs side by side: each run's clean and robust test accuracy, read from its
`advq evaluate` file, with the paper's Table 3 beside the rows it has a number for.

Everything comes from the evaluation files themselves: each stores its checkpoint's
training configuration (method, ε, the subset trained on), so a run cannot be mislabelled
by the order or the names its files were given in. The set a run trained on is described
from the provenance `advq curate` stored with it (lowest quality removed, or its random
control), when that file can still be read.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..atomic import atomic_write_text
from ..errors import AdvqError
from ..h5store import open_checked
from .store import FORMAT as EVALUATION_FORMAT
from .store import read_result

PAPER_TABLE3: dict[tuple[str, int, float], tuple[float, float]] = {
    # (method, training ε × 255, fraction of lowest quality removed): (standard %, robust %)
    ("pgd-at", 8, 0.0): (83.92, 48.12),
    ("pgd-at", 8, 0.2): (82.26, 48.24),
    ("pgd-at", 12, 0.0): (76.08, 48.95),
    ("pgd-at", 12, 0.2): (77.85, 49.22),
    ("trades", 8, 0.0): (81.73, 48.18),
    ("trades", 8, 0.2): (78.16, 49.35),
    ("trades", 12, 0.0): (76.56, 45.40),
    ("trades", 12, 0.2): (73.53, 46.85),
}
PAPER_TABLE3_SOURCE = (
    "Dong, Liu & Shang (arXiv 2102.07437), appendix E, Table 3: pre-activation ResNet-18 adversarially "
    "trained on CIFAR-10 with PGD and TRADES; standard and robust test accuracy (%)"
)

FULL, LOWEST_REMOVED, RANDOM_REMOVED, OTHER_SUBSET = "full", "lowest removed", "random removed", "subset"
# A plain subset (an index file) comes before the sets cut from it: it is a starting set,
# such as the 10,000 profiled images of the Fashion-MNIST walkthrough.
_KIND_ORDER = (FULL, OTHER_SUBSET, LOWEST_REMOVED, RANDOM_REMOVED)


@dataclass(frozen=True)
class TrainingSet:
    """What a run trained on: ``name`` is "full" or the set's name; ``removed`` the fraction of
    the ranked examples left out (None when unknown)."""

    name: str
    kind: str
    removed: float | None = None

    @property
    def removal(self) -> str:
        """How the set was cut from the ranked examples ("20% lowest", "20% random"); empty otherwise."""
        if self.kind in (LOWEST_REMOVED, RANDOM_REMOVED) and self.removed is not None:
            return f"{self.removed:.0%} {self.kind.split()[0]}"
        return ""


@dataclass(frozen=True)
class RunRow:
    """One evaluated run; accuracies are fractions in [0, 1], ``paper`` is in percent."""

    evaluation: Path
    run: str
    dataset: str
    method: str
    train_eps: float
    training_set: TrainingSet
    eval_eps: float
    n_examples: int
    best_epoch: int
    clean: float
    robust: dict[str, float]
    worst_case: float
    paper: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        removal = self.training_set.removal
        return f"{self.method} ε={eps_text(self.train_eps)} {removal and '−' + removal or self.training_set.name}"


@dataclass
class Comparison:
    """The rows in display order (method, ε, then full / plain subset / lowest removed / random removed)."""

    rows: list[RunRow]
    attacks: list[str] = field(default_factory=list)

    @property
    def has_paper(self) -> bool:
        return any(row.paper is not None for row in self.rows)


def eps_text(eps: float) -> str:
    """8/255 when ε is a whole number of grey levels, else the number."""
    levels = eps * 255
    return f"{round(levels)}/255" if abs(levels - round(levels)) < 1e-6 else f"{eps:.4g}"


def compare_runs(evaluation_files: Sequence[Path], paper: bool = False) -> Comparison:
    """Read every evaluation file; with ``paper``, attach Table 3's numbers to the rows it has."""
    if not evaluation_files:
        raise AdvqError("Give at least one evaluation file written by `advq evaluate`.")
    rows = [read_row(Path(p), paper) for p in evaluation_files]
    rows.sort(key=lambda r: (r.method, r.train_eps, _KIND_ORDER.index(r.training_set.kind), r.training_set.name, r.run))
    attacks: list[str] = []
    for row in rows:
        attacks += [name for name in row.robust if name not in attacks]
    return Comparison(rows, attacks)


def read_row(path: Path, paper: bool = False) -> RunRow:
    """One run's row from its evaluation file."""
    result = read_result(path)
    with open_checked(path, (EVALUATION_FORMAT,)) as handle:
        attrs = dict(handle.attrs)
    training = yaml.safe_load(str(attrs.get("training_config", ""))) or {}
    checkpoint = Path(str(attrs.get("checkpoint", path)))
    method = str(training.get("method", "?"))
    train_eps = float(training.get("eps", math.nan))
    subset = training_set(training.get("subset"))
    return RunRow(
        evaluation=path,
        run=checkpoint.parent.name,
        dataset=result.dataset,
        method=method,
        train_eps=train_eps,
        training_set=subset,
        eval_eps=result.eps,
        n_examples=result.n_examples,
        best_epoch=int(attrs.get("checkpoint_epoch", -1)),
        clean=result.clean_accuracy,
        robust=result.accuracies,
        worst_case=result.worst_case_accuracy,
        paper=paper_table3(method, train_eps, subset) if paper else None,
    )


def training_set(subset: Any) -> TrainingSet:
    """Describe `--subset` as stored in a training configuration (None: the full set)."""
    if subset is None:
        return TrainingSet(FULL, FULL, 0.0)
    spec = str(subset)
    file, sep, name = spec.rpartition(":")
    if not sep or not file.endswith(".h5"):
        return TrainingSet(Path(spec).stem, OTHER_SUBSET)
    sets = _stored_provenance(Path(file))
    rule, params = sets.get(name, ("", {}))
    if rule == "remove-lowest":
        return TrainingSet(name, LOWEST_REMOVED, float(params["fraction"]))
    if rule == "random" and params.get("baseline_of") in sets:
        base_rule, base_params = sets[params["baseline_of"]]
        removed = float(base_params["fraction"]) if base_rule == "remove-lowest" else None
        return TrainingSet(name, RANDOM_REMOVED, removed)
    return TrainingSet(name, OTHER_SUBSET)


def _stored_provenance(path: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each stored set's rule and parameters; nothing when the file is gone or unreadable."""
    try:
        with h5py.File(path, "r") as handle:
            group = handle.get("subsets")
            if not isinstance(group, h5py.Group):
                return {}
            return {
                name: (str(g.attrs.get("rule", "")), json.loads(g.attrs.get("params", "{}")))
                for name, g in group.items()
            }
    except (OSError, ValueError):
        return {}


def paper_table3(method: str, eps: float, subset: TrainingSet) -> tuple[float, float] | None:
    """Table 3's (standard, robust) accuracy in percent for this setting, if the table has it."""
    if subset.kind not in (FULL, LOWEST_REMOVED) or subset.removed is None or not math.isfinite(eps):
        return None
    return PAPER_TABLE3.get((method, round(eps * 255), round(subset.removed, 6)))


def comparison_csv(comparison: Comparison) -> str:
    """One line per run; accuracies as fractions, the paper's numbers in percent."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([
        "run", "dataset", "method", "train_eps", "training_set", "kind", "removed", "eval_eps", "n_examples",
        "best_epoch", "clean", *comparison.attacks, "worst_case", "paper_standard_pct", "paper_robust_pct",
    ])
    for r in comparison.rows:
        paper = r.paper or ("", "")
        removed = "" if r.training_set.removed is None else f"{r.training_set.removed:g}"
        writer.writerow([
            r.run, r.dataset, r.method, f"{r.train_eps:.6g}", r.training_set.name, r.training_set.kind, removed,
            f"{r.eval_eps:.6g}", r.n_examples, r.best_epoch, f"{r.clean:.4f}",
            *(f"{r.robust[a]:.4f}" if a in r.robust else "" for a in comparison.attacks),
            f"{r.worst_case:.4f}", *paper,
        ])
    return buffer.getvalue()


def draw_comparison(comparison: Comparison, path: Path) -> dict[str, Any]:
    """A grouped bar chart (PNG): clean and each attack's accuracy per run, the paper's beside.

    Returns what was drawn: the bar heights and the values written on them, per series, and
    the accuracy axis's range.
    """
    from ..explaining.figures import new_figure, save

    series: dict[str, list[float]] = {"clean": [100 * r.clean for r in comparison.rows]}
    for attack in comparison.attacks:
        series[attack] = [100 * r.robust.get(attack, math.nan) for r in comparison.rows]
    if comparison.has_paper:
        series["paper standard (Table 3)"] = [r.paper[0] if r.paper else math.nan for r in comparison.rows]
        series["paper robust (Table 3)"] = [r.paper[1] if r.paper else math.nan for r in comparison.rows]
    n = len(comparison.rows)
    figure, axes = new_figure(width_in=max(12.0, 1.6 * n + 4), height_in=8.0)
    width = 0.8 / len(series)
    x = np.arange(n)
    heights_drawn: dict[str, np.ndarray] = {}
    labels_drawn: dict[str, list[str]] = {}
    hatches = {"paper standard (Table 3)": "//", "paper robust (Table 3)": "xx"}  # unfilled: not our runs
    for k, (name, heights) in enumerate(series.items()):
        paper = name in hatches
        bars = axes.bar(
            x + (k - (len(series) - 1) / 2) * width, heights, width, label=name,
            hatch=hatches.get(name), fill=not paper, edgecolor="black" if paper else None,
        )
        heights_drawn[name] = np.array([b.get_height() for b in bars], dtype=np.float64)
        texts = axes.bar_label(bars, labels=[f"{h:.1f}" if math.isfinite(h) else "" for h in heights], fontsize=8, padding=2)
        labels_drawn[name] = [t.get_text() for t in texts]
    low, high = zoomed_range(np.concatenate(list(heights_drawn.values())))
    axes.set_xticks(x, [r.label for r in comparison.rows], rotation=20, ha="right")
    axes.set_ylabel(f"test accuracy (%; the axis starts at {low:g})" if low > 0 else "test accuracy (%)")
    axes.set_xlabel("run (method, training ε, training set)")
    first = comparison.rows[0]
    axes.set_title(
        f"{first.dataset}: clean and robust accuracy at ε = {eps_text(first.eval_eps)} "
        f"({first.n_examples} test examples)"
    )
    axes.set_ylim(low, high)
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes.grid(axis="y", alpha=0.3)
    save(figure, path)
    return {"heights": heights_drawn, "labels": labels_drawn, "axis": axes.get_ylim()}


def zoomed_range(heights: np.ndarray) -> tuple[float, float]:
    """The accuracy axis around the drawn values, in steps of 5 points within [0, 100].

    On a 0-100 axis the 1-5 point differences between training sets vanish; the bars carry
    their values, so a cut axis hides nothing.
    """
    finite = heights[np.isfinite(heights)]
    if finite.size == 0:
        return 0.0, 100.0
    low = max(0.0, 5 * math.floor((finite.min() - 5) / 5))
    high = min(100.0, 5 * math.ceil((finite.max() + 5) / 5))
    return low, high


def write_comparison(comparison: Comparison, out_dir: Path) -> list[Path]:
    """``comparison.csv`` and ``comparison.png`` in ``out_dir``, each written atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    table, figure = out_dir / "comparison.csv", out_dir / "comparison.png"
    atomic_write_text(table, comparison_csv(comparison))
    draw_comparison(comparison, figure)
    return [table, figure]

"""What the appendix-G experiments (`advq explain finetune|competing`) share: training
configurations derived from a stored one, resumable sub-run folders under the output
folder, their per-class evaluation, and the per-class bar charts drawn from it.

A sub-run is a folder ``<out-dir>/runs/<name>/`` holding a training run (``best.pt``,
``last.pt``) and ``evaluation.h5``; both are resumed, so an interrupted experiment
continues where it stopped and a finished sub-run costs nothing on a rerun.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_path
from ..config import normalise_key, resolve
from ..datasets import DatasetBundle
from ..evaluation import EvaluateConfig, EvaluationResult, evaluate
from ..plugins import registry
from ..progress import Reporter
from ..training import TrainConfig
from .figures import Drawn, new_figure, save

RUNS = "runs"
NOT_INHERITED = {"out", "resume", "overwrite", "wait", "subset"}
"""Stored options a sub-run never takes over: each has its own folder and data."""


def derived_train_config(stored: Mapping[str, Any], overrides: Mapping[str, Any], **fixed: Any) -> TrainConfig:
    """A ``TrainConfig`` from a stored configuration (a checkpoint's or a profile's), the
    options given (None: keep the stored value) and the values the experiment fixes."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    base = {k: v for k, v in ((normalise_key(k), v) for k, v in stored.items()) if k in fields and k not in NOT_INHERITED}
    given = {k: v for k, v in overrides.items() if v is not None}
    return resolve(TrainConfig, base, {**given, **fixed})


def run_folder(out_dir: Path, name: str) -> Path:
    return out_dir / RUNS / name


def write_indices(path: Path, indices: np.ndarray) -> Path:
    """A subset as an ``.npy`` index file (atomically), for ``TrainConfig.subset``."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(indices, dtype=np.int64), allow_pickle=False)
    return path


@dataclass(frozen=True)
class Evaluation:
    """Which attacks evaluate every sub-run, at which ε (PGD step and start), on how many test examples."""

    attacks: list[str]
    eps: float
    n_examples: int | None
    device: str | None
    seed: int
    data_dir: str | None
    attack_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    step_size: float | None = None
    random_start: bool = False

    @classmethod
    def at_threat_of(
        cls, train: TrainConfig, bundle: DatasetBundle, attacks: list[str], n_examples: int | None, seed: int,
        attack_options: dict[str, Any] | None = None,
    ) -> Evaluation:
        """The sub-runs' evaluation at their training's evaluation threat (``--eval-eps`` …, by default
        8/255 with step 2/255 on the paper's datasets), so their numbers match `advq train`'s."""
        threat = train.with_evaluation_threat(bundle).eval_threat
        return cls(
            attacks, threat.eps, n_examples, train.device, seed, train.data_dir, dict(attack_options or {}),
            threat.step_size, threat.random_start,
        )

    def __post_init__(self) -> None:
        for name in self.attacks:  # an unknown name fails here, before any sub-run is written
            registry("attacks").entry(name)

    def run(self, checkpoint: Path, out: Path, reporter: Reporter) -> EvaluationResult:
        """Evaluate (or finish evaluating) ``checkpoint`` into ``out``; stored attacks are kept."""
        return evaluate(EvaluateConfig(
            checkpoint=checkpoint, attacks=self.attacks, eps=self.eps, step_size=self.step_size,
            random_start=self.random_start, n_examples=self.n_examples, out=out, device=self.device, resume=True,
            seed=self.seed, data_dir=self.data_dir, attack_options=self.attack_options,
        ), reporter)


def per_class(result: EvaluationResult, name: str) -> dict[str, Any]:
    """Accuracy over all evaluated examples and per class: ``clean`` or an attack's name."""
    correct = result.clean if name == "clean" else result.attacks[name]
    return {"all": float(correct.mean()), "per_class": result.per_class(correct)}


def draw_class_bars(
    axes: Any, categories: Sequence[str], series: Mapping[str, np.ndarray], title: str, ylabel: str,
    ylim: tuple[float, float] | None = None, highlight: int | None = None,
) -> dict[str, np.ndarray]:
    """Grouped bars: one group per category, one bar per series (its legend entry); NaN
    draws no bar; the ``highlight`` category's label in red. Returns the heights drawn, per series."""
    x = np.arange(len(categories), dtype=np.float64)
    width = 0.8 / max(len(series), 1)
    heights = {}
    for k, (label, values) in enumerate(series.items()):
        bars = axes.bar(x + (k - (len(series) - 1) / 2) * width, np.asarray(values, dtype=np.float64), width, label=label)
        heights[label] = np.array([b.get_height() for b in bars], dtype=np.float64)
    axes.set_xticks(x, list(categories))
    if highlight is not None:
        axes.get_xticklabels()[highlight].set(color="red", fontweight="bold")
    axes.set(title=title, ylabel=ylabel, xlabel="class")
    low, high = ylim if ylim is not None else axes.get_ylim()
    axes.set_ylim(low, high + 0.3 * (high - low))  # headroom: the legend sits above the bars
    axes.axhline(0, color="black", linewidth=0.8)
    axes.legend(loc="upper center", ncols=min(len(series), 4), fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    return heights


def save_panels(path: Path, title: str, panels: Sequence[dict[str, Any]], ylabel: str,
                ylim: tuple[float, float] | None = None) -> Drawn:
    """One figure of per-class bar panels stacked vertically (``panels``: title, categories,
    series, optionally highlight), written to ``path``; returns each panel's drawn heights by its title."""
    width = max(12.0, 0.9 * max(len(p["categories"]) for p in panels) + 3)
    figure, axes = new_figure(width, 4.2 * len(panels) + 1, nrows=len(panels), squeeze=False)
    figure.suptitle(title)
    drawn = {
        p["title"]: draw_class_bars(axis, p["categories"], p["series"], p["title"], ylabel, ylim, p.get("highlight"))
        for axis, p in zip(axes[:, 0], panels)
    }
    save(figure, path)
    return drawn

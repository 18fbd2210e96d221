"""`advq explain report`: one self-contained HTML page of a profile (docs/report.md).

Everything is computed first, from the profile, the dataset, an optional checkpoint and
optional evaluation files, so that bad input fails before the page is written; the page is
then written atomically (a reader never sees half of it, an old report survives a failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import check_fingerprint, model_from_checkpoint, read_checkpoint
from ..config import parse_eps
from ..curation.run import summarise
from ..curation.store import read_sets
from ..datasets import DatasetBundle
from ..devices import resolve_device
from ..errors import AdvqError
from ..evaluation.store import read_result, read_training_config
from ..locking import exclusive
from ..profiling.store import PROBLEM_RANK
from ..subsets import subset_label
from .consistency import spearman_matrix
from .correlations import CorrelationsConfig, correlate
from .examples import STEP_FRACTION, attack, eps_text, profile_dataset, twice_training_eps
from .page_data import agreement_growth, class_spread, epoch_strips, map_points, page_examples
from .page_images import png_data_uri
from .page_render import write_page
from .profiles import Profile, read_profile, read_run_measures
from .report import to_plain

MAP_AXES = ("variability", "confidence")
"""The data map's x and y (Swayamdipta et al.'s data maps, here under the training attack)."""
SIGNIFICANT = 5
"""Digits kept of each measure on the page: finer than 1/N for N up to 100,000."""


@dataclass
class ReportConfig:
    """Which profile, where the page goes, and how much of a large profile it carries.

    ``out`` None means ``<profile stem>-report.html`` beside the profile. The data map draws
    at most ``max_points`` examples (a sample seeded with ``seed``); the gallery holds those
    and, per class, the ``per_class`` lowest- and highest-quality examples. With a
    ``checkpoint``, those extremes get PGD-``steps`` counterparts at ``eps`` (default: twice
    the training ε, as `advq explain examples`).
    """

    profile: Path
    out: Path | None = None
    checkpoint: Path | None = None
    evaluations: list[Path] = field(default_factory=list)
    max_points: int = 5000
    per_class: int = 24
    eps: float | None = field(default=None, metadata={"parse": parse_eps})
    steps: int = 20
    seed: int = 0
    device: str | None = None
    data_dir: str | None = None
    overwrite: bool = False
    wait: bool = False
    """Wait for another writer of ``out`` instead of stopping."""

    def __post_init__(self) -> None:
        self.profile = Path(self.profile)
        self.out = self.profile.with_name(f"{self.profile.stem}-report.html") if self.out is None else Path(self.out)
        self.checkpoint = None if self.checkpoint is None else Path(self.checkpoint)
        self.evaluations = [Path(p) for p in self.evaluations]
        if self.max_points < 1 or self.per_class < 1 or self.steps < 1:
            raise ValueError("--max-points, --per-class and --steps must be positive.")


@dataclass(frozen=True)
class ReportResult:
    """The page written and what it holds (the same document the page's script reads)."""

    out: Path
    data: dict[str, Any]

    @property
    def size(self) -> int:
        return self.out.stat().st_size


def explain_report(config: ReportConfig) -> ReportResult:
    """Gather the profile's numbers and images and write the page, holding ``out``'s lock throughout."""
    with exclusive(config.out, wait=config.wait):
        data = gather(config)
        write_page(config.out, data, title=f"advq report: {config.profile.name} ({data['summary']['dataset']})")
    return ReportResult(config.out, data)


def gather(config: ReportConfig) -> dict[str, Any]:
    """Everything the page shows, JSON-ready; refuses bad input before anything is written."""
    check_out(config.out, config.overwrite)
    profile = read_profile(config.profile)
    bundle = profile_dataset(profile, config.data_dir)
    evaluations = [evaluation_row(path, profile) for path in config.evaluations]
    labels = bundle.train_labels.numpy()
    x_name, y_name = map_axes(profile)
    shown = map_points(profile.quality[x_name], profile.quality[y_name], profile.rank, config.max_points, config.seed)
    chosen = page_examples(profile.rank, labels, shown, config.per_class)
    rows = chosen["rows"]
    strips, n_runs = epoch_strips(profile.path, rows)
    data = {
        "summary": summary(profile, bundle),
        "agreement": agreement(profile, config.seed),
        "classes": list(bundle.classes),
        "measures": sorted(profile.quality, key=lambda name: (name != PROBLEM_RANK, name)),
        "examples": {
            "index": rows,
            "label": labels[rows],
            "measures": {name: rounded(values[rows]) for name, values in profile.quality.items()},
            "epochs": strips,
            "runs": n_runs,
            "image": [png_data_uri(bundle.train_images[i].numpy()) for i in rows],
            **adversarial_columns(config, profile, bundle, rows, chosen["extremes"]),
        },
        "map": {
            "x": x_name, "y": y_name, "rows": np.searchsorted(rows, shown), "drawable": int(drawable(profile, x_name, y_name)),
            "max_points": config.max_points, "seed": config.seed,
        },
        "per_class": {"size": config.per_class, "spread": vars(class_spread(profile.rank, labels, bundle.num_classes))},
        "correlations": correlations(profile, config),
        "subsets": [vars(summarise(s, bundle)) for s in read_sets(profile.path, bundle)],
        "evaluations": evaluations,
    }
    return to_plain(data)


def check_out(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise AdvqError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}.")
    if out.exists() and not overwrite:
        raise AdvqError(f"{out} already exists; add --overwrite to replace it.")


def map_axes(profile: Profile) -> tuple[str, str]:
    """Variability and confidence when stored, else the first two other measures."""
    if all(name in profile.quality for name in MAP_AXES):
        return MAP_AXES
    others = sorted(name for name in profile.quality if name != PROBLEM_RANK)
    if len(others) < 2:
        raise AdvqError(f"{profile.path} stores fewer than two measures besides the problem rank: no data map to draw.")
    return others[0], others[1]


def drawable(profile: Profile, x_name: str, y_name: str) -> int:
    finite = np.isfinite(profile.quality[x_name]) & np.isfinite(profile.quality[y_name]) & np.isfinite(profile.rank)
    return int(finite.sum())


def rounded(values: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(v) else float(f"{v:.{SIGNIFICANT}g}") for v in values]


def summary(profile: Profile, bundle: DatasetBundle) -> dict[str, Any]:
    config = profile.config
    return {
        "profile": profile.path.name,
        "dataset": profile.dataset,
        "n_train": bundle.n_train,
        "n_ranked": int(np.isfinite(profile.rank).sum()),
        "runs": profile.runs,
        "method": config.get("method"),
        "model": config.get("model"),
        "threat": {key: config.get(key) for key in ("norm", "eps", "steps", "step_size")},
        "epochs": config.get("epochs"),
    }


def agreement(profile: Profile, seed: int) -> dict[str, Any]:
    """Spearman's rho between every two runs' problem ranks, and how it grows with the runs averaged."""
    _, runs = read_run_measures(profile.path, PROBLEM_RANK, profile.fingerprint)
    ranks = list(runs.values())
    values, _ = spearman_matrix(ranks)
    growth = agreement_growth(ranks, seed)
    return {"labels": list(runs), "matrix": values, "growth": vars(growth)}


def correlations(profile: Profile, config: ReportConfig) -> list[dict[str, Any]]:
    """Each measure against the problem rank, as `advq explain correlations` computes it."""
    settings = CorrelationsConfig(profile=profile.path, max_points=config.max_points, seed=config.seed)
    results = [correlate(profile, name, settings) for name in sorted(profile.quality) if name != PROBLEM_RANK]
    return [
        {
            "name": r.name, "rho": r.rho, "n": r.n, "centers": r.bins.centers, "mean": r.bins.mean, "std": r.bins.std,
            "count": r.bins.count, "range": r.value_range, "rank": rounded(r.points[:, 0]), "value": rounded(r.points[:, 1]),
        }
        for r in results
    ]


def adversarial_columns(
    config: ReportConfig, profile: Profile, bundle: DatasetBundle, rows: np.ndarray, extremes: np.ndarray
) -> dict[str, Any]:
    """With a checkpoint: the extremes' PGD counterparts and the model's predictions (null elsewhere)."""
    if config.checkpoint is None:
        return {"attack": None}
    payload = read_checkpoint(config.checkpoint)
    check_fingerprint(payload, bundle.fingerprint, bundle.name, config.checkpoint)
    eps = config.eps if config.eps is not None else twice_training_eps(profile)
    model = model_from_checkpoint(payload).to(resolve_device(config.device)).eval()
    clean = bundle.train_images[torch.from_numpy(extremes)].float().div_(255)
    adversarial, pred_clean, pred_adv = attack(model, clean, bundle.train_labels[extremes], eps, config.steps, config.seed)
    where = np.searchsorted(rows, extremes)
    images: list[str | None] = [None] * len(rows)
    clean_column, adversarial_column = [-1] * len(rows), [-1] * len(rows)
    for k, row in enumerate(where):
        images[row] = png_data_uri(adversarial[k].numpy())
        clean_column[row], adversarial_column[row] = int(pred_clean[k]), int(pred_adv[k])
    return {
        "adversarial": images, "pred_clean": clean_column, "pred_adversarial": adversarial_column,
        "attack": {
            "text": f"PGD-{config.steps} at ε = {eps_text(eps)} (step ε/{STEP_FRACTION}, random start, seed {config.seed})",
            "checkpoint": config.checkpoint.name, "eps": eps, "steps": config.steps,
        },
    }


def evaluation_row(path: Path, profile: Profile) -> dict[str, Any]:
    """One evaluation file as a table row: what the model was trained on, and its accuracies."""
    trained = read_training_config(path, profile.fingerprint)
    result = read_result(path)
    subset = trained.get("subset")
    return {
        "file": path.name,
        "trained_on": subset_label(subset) if subset else "full training set",
        "method": trained.get("method"),
        "eps": result.eps,
        "n_examples": result.n_examples,
        "clean": result.clean_accuracy,
        "attacks": result.accuracies,
        "gap": result.overestimation_gap,
    }


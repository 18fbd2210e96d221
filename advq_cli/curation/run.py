"""`advq curate` as one library call: ranks in, named sets stored (and exported) out.

Everything that can be refused is checked before the first write: the source, the
dataset, the rule, the names already stored, the exporters and the export folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import to_plain
from ..datasets import DatasetBundle
from ..lookups import get_dataset
from ..datasets.spec import same_dataset
from ..errors import AdvqError, FingerprintMismatchError
from ..locking import exclusive
from ..progress import NullReporter, Reporter
from . import rules
from .config import CurateConfig
from .export import check_export_dir, export_set, exporter_entries
from .sources import Ranking, file_dataset, read_npy_ranking, read_profile_ranking
from .store import CuratedSet, check_target, read_sets, write_sets


@dataclass(frozen=True)
class SetSummary:
    """One stored set as the tables show it."""

    name: str
    size: int
    class_counts: dict[str, int]
    rule: str
    mean_rank: float


@dataclass
class CurateResult:
    """Where the sets went, what they are, and the files every export wrote."""

    target: Path
    sets: list[SetSummary]
    exports: list[Path] = field(default_factory=list)


def curate(config: CurateConfig, reporter: Reporter | None = None) -> CurateResult:
    """Build the sets the config asks for, store them in ``config.target`` and export them.

    Both outputs stay locked from the first read of the target to the last write, so two
    curates of one file add their sets one after the other and neither set is lost.
    """
    reporter = reporter or NullReporter()
    with exclusive(config.target, config.export_dir, wait=config.wait, reporter=reporter):
        return _curate_locked(config, reporter)


def _curate_locked(config: CurateConfig, reporter: Reporter) -> CurateResult:
    """``curate`` once this process alone writes the target and the export folder."""
    bundle, ranking = load_ranking(config)
    classes = resolve_classes(config.classes, bundle)
    sets = build_sets(config, ranking, bundle.train_labels.numpy(), classes)
    names = [s.name for s in sets]
    exporters = exporter_entries(config.export)
    check_target(config.target, bundle, names, config.overwrite)
    if config.export_dir is not None:
        check_export_dir(config.export_dir, names, config.overwrite)
    write_sets(config.target, sets, bundle)
    exports: list[Path] = []
    for s in sets:
        if exporters:
            reporter.info(f"Exporting {s.name} ({s.indices.size} examples) as {', '.join(e.name for e in exporters)}")
            exports += export_set(s, bundle, exporters, config.export_dir)  # type: ignore[arg-type]
    return CurateResult(config.target, [summarise(s, bundle) for s in sets], exports)


def list_subsets(path: str | Path, data_dir: str | Path | None = None) -> list[SetSummary]:
    """Every set stored in an advq profile or subsets file."""
    path = Path(path)
    bundle = get_dataset(file_dataset(path), data_dir)
    return [summarise(s, bundle) for s in read_sets(path, bundle)]


def load_ranking(config: CurateConfig) -> tuple[DatasetBundle, Ranking]:
    """The dataset and the ranks, checked against each other."""
    if config.from_npy is not None:
        bundle = get_dataset(config.dataset, config.data_dir)  # type: ignore[arg-type]
        return bundle, read_npy_ranking(config.from_npy, bundle)
    profile: Path = config.profile  # type: ignore[assignment]
    dataset = file_dataset(profile)
    if config.dataset is not None and not same_dataset(config.dataset, dataset, config.data_dir):
        raise FingerprintMismatchError(f"{profile} was made for dataset '{dataset}', not '{config.dataset}'.")
    bundle = get_dataset(dataset, config.data_dir)
    return bundle, read_profile_ranking(profile, config.rank, config.higher_is_worse, bundle)


def resolve_classes(tokens: list[str] | None, bundle: DatasetBundle) -> list[int] | None:
    """Class names or labels → sorted labels; None keeps every class."""
    return sorted(bundle.class_labels(tokens)) if tokens else None


def build_sets(
    config: CurateConfig, ranking: Ranking, labels: np.ndarray, classes: list[int] | None
) -> list[CuratedSet]:
    """The rule's sets (and their random baselines), with their provenance."""
    ranked = ~np.isnan(ranking.scores)
    if classes is not None:
        ranked &= np.isin(labels, classes)
    pool = np.flatnonzero(ranked)
    if pool.size == 0:
        raise AdvqError(f"No ranked example in classes {classes}: nothing to choose from.")
    ordered = rules.quality_order(ranking.badness, pool)
    name, balanced = config.name, config.balanced
    made: list[tuple[str, np.ndarray, str, dict]]
    if config.remove_lowest is not None:
        kept = rules.remove_lowest(ordered, labels, config.remove_lowest, balanced)
        made = [(name, kept, "remove-lowest", {"fraction": config.remove_lowest})]
    elif config.keep is not None:
        made = [(name, rules.keep_best(ordered, labels, config.keep, balanced), "keep", {"keep": config.keep})]
    elif config.quantiles is not None:
        parts = rules.quantiles(ordered, labels, config.quantiles, balanced)
        made = [(f"{name}-{k}", part, "quantiles", {"quantile": k, "quantiles": config.quantiles})
                for k, part in enumerate(parts, start=1)]
    else:
        made = [(name, pool, "classes", {})]
    if config.baseline == "random":
        made += [(f"{set_name}-random", rules.random_like(chosen, pool, labels, np.random.default_rng([config.seed, i])),
                  "random", {"baseline_of": set_name})
                 for i, (set_name, chosen, _, _) in enumerate(made)]
    common = {"rank": ranking.measure, "higher_is_worse": ranking.higher_is_worse, "balanced": balanced,
              "classes": classes, "pool_size": int(pool.size)}
    sets = []
    for set_name, indices, rule, params in made:
        if indices.size == 0:
            raise AdvqError(f"Set '{set_name}' would be empty: the rule keeps none of the {pool.size} ranked examples.")
        sets.append(CuratedSet(set_name, indices, rule, {**common, **params}, config.seed, ranking.source,
                               ranking.mean_rank(indices), to_plain(config)))
    return sets


def summarise(subset: CuratedSet, bundle: DatasetBundle) -> SetSummary:
    return SetSummary(subset.name, int(subset.indices.size), subset.class_counts(bundle), subset.rule, subset.mean_rank)

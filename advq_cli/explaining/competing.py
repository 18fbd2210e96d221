"""`advq explain competing`: robustness overestimation from competing classes (the
paper's appendix G.3, Fig. 17 and 18).

A class-balanced high-quality core (the paper: 10⁴ of CIFAR-10's 5·10⁴ examples) is
trained on its own and with the lowest-quality examples of one or two classes added
(the paper: 500 per class, 10% of a class). The overestimation gap (PGD-10 minus
AutoAttack robust accuracy) grows little when one class's low-quality examples are
added, much when those of two *competing* classes (airplane and ship) are added
together, and not when the added examples are of high quality (the controls).

Every condition is a sub-run folder ``<out-dir>/runs/<name>/`` (``advq train`` with the
profile's own training options unless overridden, then ``advq evaluate`` with the two
attacks per class), resumed where it stopped and skipped when finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from ..curation.rules import keep_best, quality_order
from ..datasets import DatasetBundle
from ..errors import AdvqError
from ..evaluation import EvaluationResult
from ..progress import NullReporter, Reporter
from ..training import TrainConfig, train
from .competing_config import CompetingConfig
from .examples import chosen_classes, profile_dataset
from .profiles import Profile, read_profile
from .report import ExplainResult, finish, markdown_table, number, writing
from .subruns import Evaluation, derived_train_config, per_class, run_folder, save_panels, write_indices

COMMAND = "competing"
CORE, LOW, HIGH = "core", "low", "high"
KIND_TEXT = {LOW: "low-quality", HIGH: "high-quality"}


@dataclass(frozen=True)
class Condition:
    """One training set: the core, plus ``kind`` examples of ``added`` classes."""

    kind: str
    added: tuple[int, ...]
    indices: np.ndarray

    @property
    def key(self) -> str:
        return CORE if self.kind == CORE else f"{self.kind}-" + "-".join(map(str, self.added))

    def label(self, classes: tuple[str, ...]) -> str:
        if self.kind == CORE:
            return "high-quality core"
        return f"+ {KIND_TEXT[self.kind]} " + " & ".join(classes[c] for c in self.added)


def explain_competing(config: CompetingConfig, reporter: Reporter | None = None) -> ExplainResult:
    """Build the subsets, train and evaluate each (resuming), and draw the per-class gap (Fig. 17)."""
    reporter = reporter or NullReporter()
    with writing(config.out_dir, config.profile, COMMAND, config.wait, reporter) as out_dir:
        profile = read_profile(config.profile)
        bundle = profile_dataset(profile, config.data_dir)
        classes = chosen_classes(config.classes, bundle)
        conditions = build_conditions(profile, bundle, classes, config)
        template = training_config(config, profile, out_dir, None)  # checks the options before anything is written
        evaluation = Evaluation.at_threat_of(template, bundle, config.attacks, config.n_examples, template.seed,
                                             config.attack_options)

        records = []
        for condition in conditions:
            folder = run_folder(out_dir, condition.key)
            subset = write_indices(out_dir / "subsets" / f"{condition.key}.npy", condition.indices)
            reporter.info(f"{condition.label(bundle.classes)}: {len(condition.indices)} examples → {folder}.")
            train(training_config(config, profile, folder, subset), reporter)
            result = evaluation.run(folder / "best.pt", folder / "evaluation.h5", reporter)
            records.append(record(condition, bundle, result, config.attacks, folder, subset))

        drawn = {f"{COMMAND}-gap.png": draw(out_dir / f"{COMMAND}-gap.png", records, bundle, classes, config)}
        summary = {
            "source": profile.path.resolve(),
            "dataset": bundle.name,
            "class_names": list(bundle.classes),
            "classes": [bundle.classes[c] for c in classes],
            "core_fraction": config.core_fraction,
            "added_fraction": config.added_fraction,
            "attacks": config.attacks,
            "gap": f"{config.attacks[0]} minus {config.attacks[1]} robust accuracy",
            "evaluation": {
                "eps": evaluation.eps, "step_size": evaluation.step_size, "random_start": evaluation.random_start,
                "n_examples": len(records[0]["labels"]),
            },
            "training": {k: v for k, v in vars(template).items() if k not in ("out", "resume", "overwrite", "subset")},
            "conditions": [{k: v for k, v in r.items() if k != "labels"} for r in records],
            "figures": list(drawn),
        }
        return finish(COMMAND, out_dir, summary, report(summary, list(drawn)), drawn)


def build_conditions(
    profile: Profile, bundle: DatasetBundle, classes: list[int], config: CompetingConfig
) -> list[Condition]:
    """The core, then for each kind (low, and high with controls) each non-empty set of the chosen classes."""
    labels = bundle.train_labels.numpy()
    ordered = quality_order(profile.rank, np.flatnonzero(np.isfinite(profile.rank)))
    core = keep_best(ordered, labels, round(config.core_fraction * len(ordered)), balanced=True)
    outside = ordered[~np.isin(ordered, core)]
    extra = {}
    for kind in (LOW, HIGH) if config.controls else (LOW,):
        for c in classes:
            members = outside[labels[outside] == c]  # lowest quality first
            n = round(config.added_fraction * int((labels[ordered] == c).sum()))
            if not 1 <= n <= len(members):
                raise AdvqError(
                    f"--added-fraction {config.added_fraction} asks for {n} examples of class '{bundle.classes[c]}'; "
                    f"{len(members)} ranked ones lie outside the core."
                )
            extra[kind, c] = members[:n] if kind == LOW else members[::-1][:n]
    conditions = [Condition(CORE, (), core)]
    for kind in dict.fromkeys(k for k, _ in extra):
        for size in range(1, len(classes) + 1):
            for added in combinations(classes, size):
                indices = np.sort(np.concatenate([core, *(extra[kind, c] for c in added)]))
                conditions.append(Condition(kind, added, indices))
    return conditions


def training_config(config: CompetingConfig, profile: Profile, folder: Path, subset: Path | None) -> TrainConfig:
    """The profile's training options, overridden by the ones given, on ``subset`` into ``folder``."""
    return derived_train_config(
        profile.config, config.training_options(), subset=None if subset is None else str(subset.resolve()),
        out=folder, resume=True,
    )


def record(
    condition: Condition, bundle: DatasetBundle, result: EvaluationResult, attacks: list[str], folder: Path, subset: Path
) -> dict[str, Any]:
    """One condition's sizes, accuracies and the gap, overall and per class."""
    first, second = (per_class(result, a) for a in attacks)
    return {
        "name": condition.key,
        "label": condition.label(bundle.classes),
        "kind": condition.kind,
        "added": [bundle.classes[c] for c in condition.added],
        "n_train": len(condition.indices),
        "subset": subset,
        "run": folder,
        "accuracy": {"clean": per_class(result, "clean"), attacks[0]: first, attacks[1]: second},
        "gap": {"all": first["all"] - second["all"], "per_class": first["per_class"] - second["per_class"]},
        "labels": result.labels,
    }


def draw(
    path: Path, records: list[dict[str, Any]], bundle: DatasetBundle, classes: list[int], config: CompetingConfig
) -> dict[str, Any]:
    """Per class (and over all), the gap of the core and of each addition; a panel per kind."""
    core = records[0]
    categories = ["all", *bundle.classes]
    added = " and ".join(f"'{bundle.classes[c]}'" for c in classes)
    panels = [
        {
            "title": f"Adding {KIND_TEXT[kind]} examples of {added} to the class-balanced high-quality core",
            "categories": categories,
            "series": {
                r["label"]: np.concatenate([[r["gap"]["all"]], r["gap"]["per_class"]])
                for r in [core, *(r for r in records if r["kind"] == kind)]
            },
        }
        for kind in dict.fromkeys(r["kind"] for r in records[1:])
    ]
    ylabel = f"overestimation gap ({config.attacks[0]} − {config.attacks[1]})"
    title = f"Robustness overestimation from competing classes ({bundle.name}, {config.profile.name})"
    return save_panels(path, title, panels, ylabel)


def report(summary: dict[str, Any], figures: list[str]) -> str:
    names = summary["class_names"]
    first, second = summary["attacks"]
    overall = markdown_table(
        ["training set", "examples", "clean", first, second, "gap"],
        [(r["label"], r["n_train"], number(r["accuracy"]["clean"]["all"]), number(r["accuracy"][first]["all"]),
          number(r["accuracy"][second]["all"]), number(r["gap"]["all"], sign=True)) for r in summary["conditions"]],
    )
    per_class_table = markdown_table(
        ["training set", *names],
        [(r["label"], *(number(g, sign=True) for g in r["gap"]["per_class"])) for r in summary["conditions"]],
    )
    images = "\n\n".join(f"![{name}]({name})" for name in figures)
    return (
        f"# Robustness overestimation from competing classes (appendix G.3)\n\n"
        f"Profile `{summary['source']}` ({summary['dataset']}). A class-balanced high-quality core "
        f"({summary['core_fraction']:.0%} of the ranked examples), alone and with {summary['added_fraction']:.0%} of each "
        f"of {', '.join(summary['classes'])} added (their lowest-quality examples; the controls add their best ones "
        f"outside the core). Gap = {summary['gap']} on {summary['evaluation']['n_examples']} test examples at "
        f"ε = {summary['evaluation']['eps']:.4g}.\n\n## Overall\n\n{overall}\n\n## Gap per class\n\n"
        f"{per_class_table}\n\n{images}\n"
    )

"""`advq explain sweep`: the removal sweep (the paper's Fig. 8/9 and appendix B).

From one profile's problem rank, train and evaluate on the full (ranked) training set,
on the set with its lowest-quality fraction F removed, and on the set with the same
number of examples removed at random (the same class counts, a new draw per seed), for
every F and every seed. Per sub-run: best and last robust accuracy (robust overfitting),
clean accuracy (the trade-off) and the PGD-10 − AutoAttack gap (overestimation).

Nothing here trains or attacks by itself: the sets come from ``advq_cli.curation``, the
models from ``training.train``, the numbers from ``evaluation.evaluate``. Every set is
stored in ``<out-dir>/subsets.h5``, every sub-run in ``<out-dir>/runs/<name>/`` (a
training run, ``best-evaluation.h5``, ``last-evaluation.h5`` and ``result.json``, the
last written once it is complete), so ``--resume`` skips what is finished and continues
what is not.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..config import to_plain
from ..curation.config import CurateConfig
from ..curation.run import build_sets, load_ranking
from ..curation.store import CuratedSet, read_sets, write_sets
from ..datasets import DatasetBundle
from ..datasets.spec import same_dataset
from ..errors import AdvqError
from ..evaluation import EvaluateConfig, EvaluationResult, overestimation_gap, worst_case
from ..evaluation.results import accuracy
from ..evaluation.suite import build
from ..plugins import registry
from ..progress import NullReporter, Reporter
from ..training import TrainConfig, train
from ..training.config import RESUMABLE_DIFFERENCES
from .profiles import Profile, read_profile
from .report import ExplainResult, finish, writing
from .subruns import RUNS, Evaluation, derived_train_config, run_folder
from .sweep_config import SweepConfig
from .sweep_report import FULL, QUALITY, RANDOM, aggregate, draw_metrics, report

COMMAND = "sweep"
SUBSETS = "subsets.h5"
RESULT = "result.json"
@dataclass(frozen=True)
class SubRun:
    """One training set and seed: its stored set, its training configuration, its folder."""

    condition: str
    fraction: float
    seed: int
    subset: CuratedSet
    train: TrainConfig

    @property
    def name(self) -> str:
        return run_name(self.condition, self.fraction, self.seed)

    @property
    def folder(self) -> Path:
        return Path(self.train.out)


def explain_sweep(config: SweepConfig, reporter: Reporter | None = None) -> ExplainResult:
    """Train and evaluate every sub-run (skipping finished ones on --resume), then draw one
    figure per metric and write ``report.md`` and ``summary.json``."""
    reporter = reporter or NullReporter()
    with writing(config.out_dir, config.profile, COMMAND, config.wait, reporter) as out_dir:
        check_fresh(out_dir, config.resume)
        profile = read_profile(config.profile)
        stored = dict(profile.config)
        bundle, sets = subsets(config, profile, stored)
        plan = sub_runs(config, stored, out_dir, sets)
        evaluation = evaluation_of(config, plan[0].train, bundle)

        store_subsets(out_dir / SUBSETS, sets, bundle)
        reporter.start(COMMAND, "removal sweep", len(plan))
        results = []
        for position, sub in enumerate(plan, start=1):
            reporter.info(f"[{position}/{len(plan)}] {sub.name}: {sub.subset.indices.size} training examples")
            results.append(run_sub(sub, evaluation, reporter))
            reporter.advance(COMMAND)
        reporter.finish(COMMAND)

        train_cfg = plan[0].train
        metrics = aggregate(results, config.fractions, config.seeds)
        setup = {
            "dataset": profile.dataset, "model": train_cfg.model, "method": train_cfg.method, "eps": train_cfg.eps,
            "epochs": train_cfg.epochs, "seeds": config.seeds, "attacks": config.attacks,
            "n_examples": results[0]["best"]["n_examples"],
        }
        drawn = draw_metrics(out_dir, metrics, config.fractions, setup)
        summary = {
            "source": profile.path.resolve(),
            **setup,
            "fractions": config.fractions,
            "training": {k: v for k, v in to_plain(train_cfg).items() if k not in ("subset", "seed", "out", "resume")},
            "attack_options": config.attack_options,
            "robust_accuracy": "worst case over the attacks: correct on the clean input and under every attack",
            "subsets": {"file": (out_dir / SUBSETS).resolve(), "sizes": {s.name: int(s.indices.size) for s in sets}},
            "runs": results,
            "metrics": metrics,
            "figures": list(drawn),
        }
        return finish(COMMAND, out_dir, summary, report(profile, summary, list(drawn)), drawn)


def check_fresh(out_dir: Path, resume: bool) -> None:
    """Without --resume, refuse a folder that already holds sweep runs or sets: nothing is replaced."""
    runs = out_dir / RUNS
    if resume or not ((runs.is_dir() and any(runs.iterdir())) or (out_dir / SUBSETS).exists()):
        return
    raise AdvqError(f"{out_dir} already holds a sweep: pass --resume to continue it, or choose another --out-dir.")


def subsets(config: SweepConfig, profile: Profile, stored: dict[str, Any]) -> tuple[DatasetBundle, list[CuratedSet]]:
    """The full (ranked) set, the quality-based set of each fraction and its random twin for each seed."""
    data_dir = config.train.get("data_dir") or stored.get("data_dir")
    first = CurateConfig(profile=profile.path, remove_lowest=config.fractions[0], name=FULL, data_dir=data_dir)
    bundle, ranking = load_ranking(first)
    labels = bundle.train_labels.numpy()
    pool = np.flatnonzero(~np.isnan(ranking.scores))
    params = {"rank": ranking.measure, "pool_size": int(pool.size)}
    sets = [CuratedSet(FULL, pool, "ranked", params, 0, ranking.source, ranking.mean_rank(pool), to_plain(config))]
    for fraction in config.fractions:
        for seed in config.seeds:
            curate = dataclasses.replace(
                first, remove_lowest=fraction, baseline="random", name=set_name(QUALITY, fraction), seed=seed
            )
            quality, random = build_sets(curate, ranking, labels, None)
            if seed == config.seeds[0]:
                sets.append(quality)
            sets.append(dataclasses.replace(random, name=set_name(RANDOM, fraction, seed)))
    return bundle, sets


def set_name(condition: str, fraction: float, seed: int | None = None) -> str:
    """``full``, ``quality-f0.2`` (one set for every seed), ``random-f0.2-seed1`` (a draw per seed)."""
    if condition == FULL:
        return FULL
    return f"{condition}-f{fraction:g}" + ("" if seed is None else f"-seed{seed}")


def run_name(condition: str, fraction: float, seed: int) -> str:
    """A sub-run's folder under ``runs/``: ``full-f0-seed0``, ``quality-f0.2-seed0``, ``random-f0.2-seed0``."""
    return f"{condition}-f{fraction:g}-seed{seed}"


def sub_runs(config: SweepConfig, stored: dict[str, Any], out_dir: Path, sets: list[CuratedSet]) -> list[SubRun]:
    """Seed by seed: the full set, then quality-based and random removal at each fraction."""
    by_name = {s.name: s for s in sets}
    given = config.train.get("dataset")
    if given is not None and not same_dataset(str(given), str(stored.get("dataset")), stored.get("data_dir")):
        raise AdvqError(
            f"The sweep trains on the profile's dataset '{stored.get('dataset')}', not '{config.train['dataset']}'."
        )
    plan = []
    for seed in config.seeds:
        chosen = [(FULL, 0.0, FULL)] + [
            (c, f, set_name(c, f, seed if c == RANDOM else None)) for f in config.fractions for c in (QUALITY, RANDOM)
        ]
        for condition, fraction, name in chosen:
            folder = run_folder(out_dir, run_name(condition, fraction, seed))
            train_cfg = derived_train_config(
                stored, config.train, subset=f"{out_dir / SUBSETS}:{name}", seed=seed, out=folder, resume=config.resume
            )
            plan.append(SubRun(condition, fraction, seed, by_name[name], train_cfg))
    return plan


def evaluation_of(config: SweepConfig, train_cfg: TrainConfig, bundle: DatasetBundle) -> Evaluation:
    """The attacks every checkpoint meets, at the evaluation threat; built once now so a bad name or option fails first."""
    probe = EvaluateConfig(checkpoint=Path("best.pt"), attacks=config.attacks, attack_options=config.attack_options)
    evaluation = Evaluation.at_threat_of(train_cfg, bundle, probe.attacks, config.n_examples, 0, probe.attack_options)
    for name in probe.attacks:
        build(registry("attacks").entry(name), evaluation.eps, probe, bundle.fingerprint, evaluation.step_size)
    return evaluation


def store_subsets(path: Path, sets: list[CuratedSet], bundle: DatasetBundle) -> None:
    """Add the sets ``path`` lacks; a stored set that differs (the profile changed) is refused, never replaced."""
    stored = {s.name: s.indices for s in read_sets(path, bundle)} if path.exists() else {}
    changed = [s.name for s in sets if s.name in stored and not np.array_equal(stored[s.name], s.indices)]
    if changed:
        raise AdvqError(
            f"{path} holds other sets than the profile gives now ({', '.join(changed[:3])}"
            f"{', …' if len(changed) > 3 else ''}): the profile changed; choose another --out-dir."
        )
    missing = [s for s in sets if s.name not in stored]
    if missing:
        write_sets(path, missing, bundle)


def identity(sub: SubRun, evaluation: Evaluation) -> dict[str, Any]:
    """What a finished sub-run must match to be skipped: its training and its evaluation."""
    training = {k: v for k, v in to_plain(sub.train).items() if k not in RESUMABLE_DIFFERENCES}
    return json.loads(json.dumps({"train": training, "evaluation": to_plain(evaluation)}, default=str))


def run_sub(sub: SubRun, evaluation: Evaluation, reporter: Reporter) -> dict[str, Any]:
    """Train (or resume) and evaluate one sub-run; a finished one with the same identity is read back."""
    wanted = identity(sub, evaluation)
    done = read_result(sub.folder / RESULT)
    if done is not None and done.get("identity") == wanted:
        reporter.info(f"{sub.name}: finished in {sub.folder}, skipped.")
        return done
    trained = train(sub.train, reporter)
    best = checkpoint_numbers(evaluation.run(sub.folder / "best.pt", sub.folder / "best-evaluation.h5", reporter),
                              evaluation.attacks)
    if trained.best_epoch == sub.train.epochs:  # the last epoch was the best: the same weights
        last = {**best, "same_as_best": True}
    else:
        last = checkpoint_numbers(evaluation.run(sub.folder / "last.pt", sub.folder / "last-evaluation.h5", reporter),
                                  evaluation.attacks)
    result = {
        "name": sub.name, "condition": sub.condition, "fraction": sub.fraction, "seed": sub.seed,
        "subset": sub.subset.name, "train_size": int(sub.subset.indices.size),
        "best_epoch": trained.best_epoch, "epochs": sub.train.epochs, "folder": str(sub.folder),
        "best": best, "last": last,
        "metrics": {
            "best_robust": best["robust"], "last_robust": last["robust"],
            "robust_overfitting": best["robust"] - last["robust"], "clean": best["clean"], "gap": best["gap"],
        },
        "identity": wanted,
    }
    result = json.loads(json.dumps(result))  # the form a skipped sub-run reads back (NaN kept)
    atomic_write_text(sub.folder / RESULT, json.dumps(result, indent=2) + "\n")
    return result


def checkpoint_numbers(result: EvaluationResult, attacks: list[str]) -> dict[str, Any]:
    """Clean and per-attack accuracy, the worst case over ``attacks`` and the overestimation gap."""
    chosen = {name: result.attacks[name] for name in attacks}
    accuracies = {name: accuracy(correct) for name, correct in chosen.items()}
    gap = overestimation_gap(accuracies)
    return {
        "n_examples": result.n_examples, "clean": result.clean_accuracy, "attacks": accuracies,
        "robust": accuracy(worst_case(result.clean, chosen)), "gap": float("nan") if gap is None else gap,
        "file": str(result.out),
    }


def read_result(path: Path) -> dict[str, Any] | None:
    """A sub-run's stored result, None when missing or unreadable (it is then redone)."""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) else None


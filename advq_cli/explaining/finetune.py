"""`advq explain finetune`: targeted class-pair adversarial fine-tuning (the paper's
appendix G.1/G.2, Fig. 15 and 16).

In c–c″ adversarial training the inner maximisation is replaced by a minimisation of the
cross-entropy towards class c, except for the examples of class c, which are pushed
towards c″. Fine-tuning a standard checkpoint this way on all training data costs class
c much of its clean test accuracy (G.1); fine-tuning a robust one, its robust accuracy
(G.2). On the high-quality subset the loss is much smaller: the low-quality examples of
other classes, pushed towards c, end up looking like c and teach the model to call c's
features something else.

Each pair is fine-tuned twice from the same checkpoint (all data, then the profile's
high-quality subset) through ``TrainingRun`` with the targeted method below; the model
of the last epoch is kept. The checkpoint itself and every fine-tuned model are
evaluated per class (clean and one attack, by default PGD-10 at the fine-tuning ε).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..atomic import atomic_write_text
from ..attacks.pgd import cross_entropy_sum
from ..checkpoint import check_fingerprint, read_checkpoint
from ..config import parse_fraction, parse_name_list, parse_optional_eps, to_yaml
from ..curation.rules import quality_order, remove_lowest
from ..datasets import DatasetBundle
from ..errors import AdvqError
from ..evaluation import EvaluationResult
from ..evaluation.config import parse_attack_names
from ..methods.base import Method, MethodOutput
from ..progress import NullReporter, Reporter
from ..threat import Threat
from ..training import TrainConfig, TrainingRun
from ..training.loop import run_epochs
from .examples import profile_dataset
from .profiles import Profile, read_profile
from .report import ExplainResult, finish, markdown_table, number, writing
from .subruns import Evaluation, derived_train_config, per_class, run_folder, save_panels, write_indices

COMMAND = "finetune"
ALL, HIGH_QUALITY = "all", "high_quality"
CONDITIONS = (ALL, HIGH_QUALITY)
BEFORE = "before"


def _pairs(value: Any, what: str) -> list[list[str]]:
    """``airplane:truck,automobile:truck`` (or a YAML list of such strings or of two-item lists)."""
    items = value if isinstance(value, (list, tuple)) else parse_name_list(value)
    pairs = []
    for item in items:
        parts = [str(p).strip() for p in item] if isinstance(item, (list, tuple)) else str(item).split(":")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise AdvqError(f"Malformed {what} '{item}': give class pairs as TARGET:OTHER, such as airplane:truck.")
        pairs.append([p.strip() for p in parts])
    if not pairs:
        raise AdvqError(f"{what} needs at least one class pair, such as airplane:truck.")
    return pairs


@dataclass
class FinetuneConfig:
    """The checkpoint to fine-tune, the profile whose ranks define the high-quality subset
    (its lowest-quality ``remove_lowest`` fraction removed), the class pairs, and the
    fine-tuning and evaluation settings.

    ``batch_size``, ``eps``, ``steps``, ``step_size`` and the evaluation threat (``eval_eps``,
    ``eval_step_size``, ``eval_random_start``) None mean the checkpoint's own training values;
    ``n_examples`` None means the whole test set; ``out_dir`` None means
    ``<checkpoint stem>-finetune/`` beside the checkpoint. The robust test is ``attack``
    (pgd-10: its iterations are in its name) at the evaluation threat.
    """

    checkpoint: Path
    profile: Path | None = None
    pairs: list[list[str]] | None = field(default=None, metadata={"parse": _pairs})
    out_dir: Path | None = None
    remove_lowest: float = field(default=0.2, metadata={"parse": parse_fraction})
    epochs: int = 30
    lr: float = 0.01
    batch_size: int | None = None
    eps: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    steps: int | None = None
    step_size: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    eval_eps: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    eval_step_size: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    eval_random_start: bool | None = None
    attack: str = "pgd-10"
    n_examples: int | None = None
    seed: int = 0
    device: str | None = None
    data_dir: str | None = None
    wait: bool = False

    def __post_init__(self) -> None:
        if self.profile is None or not self.pairs:
            raise ValueError("--profile and --pairs are needed (e.g. --profile PROFILE.h5 --pairs airplane:truck).")
        self.checkpoint, self.profile = Path(self.checkpoint), Path(self.profile)
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)
        (self.attack,) = parse_attack_names([self.attack], "--attack")
        if self.epochs < 1 or self.lr <= 0:
            raise ValueError("--epochs and --lr must be positive.")
        if self.n_examples is not None and self.n_examples < 1:
            raise ValueError(f"--n-examples must be positive, got {self.n_examples}.")


def towards(logits: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
    """Minus the summed cross-entropy to ``goal``: PGD's ascent on it is a targeted descent."""
    return -cross_entropy_sum(logits, goal)


class TargetedPair(Method):
    """c–c″ adversarial training (appendix G.1): every example is perturbed towards class
    ``target``, the examples of ``target`` towards ``other``; the loss is the
    cross-entropy to the true label on the perturbed input."""

    tracks_training_attack = False

    def __init__(self, threat: Threat, target: int, other: int) -> None:
        super().__init__(threat)
        self.target, self.other = int(target), int(other)

    def goals(self, y: torch.Tensor) -> torch.Tensor:
        return torch.where(y == self.target, torch.full_like(y, self.other), torch.full_like(y, self.target))

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        x_adv = self.perturb(model, x, self.goals(y), loss_fn=towards)
        logits = model(x_adv)
        return MethodOutput(F.cross_entropy(logits, y, reduction="none"), logits.detach())


@dataclass(frozen=True)
class Pair:
    target: int
    other: int

    @property
    def key(self) -> str:
        return f"{self.target}-{self.other}"

    def name(self, classes: tuple[str, ...]) -> str:
        return f"{classes[self.target]}:{classes[self.other]}"


def explain_finetune(config: FinetuneConfig, reporter: Reporter | None = None) -> ExplainResult:
    """Fine-tune a copy of the checkpoint per pair and data condition, evaluate every model
    per class, and draw the clean and robust accuracies (Fig. 15, 16)."""
    reporter = reporter or NullReporter()
    with writing(config.out_dir, config.checkpoint, COMMAND, config.wait, reporter) as out_dir:
        payload = read_checkpoint(config.checkpoint)
        profile = read_profile(config.profile)
        bundle = profile_dataset(profile, config.data_dir)
        check_fingerprint(payload, bundle.fingerprint, bundle.name, config.checkpoint)
        pairs = [pair_of(names, bundle) for names in config.pairs]
        high_quality = high_quality_subset(profile, bundle, config.remove_lowest)
        template = finetune_config(config, payload, out_dir, None)  # checks the options before anything is written
        evaluation = Evaluation.at_threat_of(template, bundle, [config.attack], config.n_examples, config.seed)

        subset_file = write_indices(out_dir / "high-quality.npy", high_quality)
        reporter.info(f"Evaluating {config.checkpoint} before fine-tuning.")
        before = measured(evaluation.run(config.checkpoint, run_folder(out_dir, BEFORE) / "evaluation.h5", reporter),
                          config.attack)
        results = []
        for pair in pairs:
            conditions = {}
            for condition, subset in ((ALL, None), (HIGH_QUALITY, subset_file)):
                folder = run_folder(out_dir, f"{pair.key}-{condition}")
                reporter.info(f"Fine-tuning {pair.name(bundle.classes)} on {condition.replace('_', '-')} data → {folder}.")
                checkpoint = finetune(finetune_config(config, payload, folder, subset), payload, bundle, pair, reporter)
                conditions[condition] = {
                    **measured(evaluation.run(checkpoint, folder / "evaluation.h5", reporter), config.attack),
                    "run": folder,
                }
            results.append((pair, conditions))

        names = list(bundle.classes)
        drawn = {
            f"{COMMAND}-{kind}.png": draw(out_dir / f"{COMMAND}-{kind}.png", kind, before, results, bundle, config)
            for kind in ("clean", "robust")
        }
        summary = {
            "checkpoint": config.checkpoint.resolve(),
            "profile": profile.path.resolve(),
            "dataset": bundle.name,
            "class_names": names,
            "high_quality": {"remove_lowest": config.remove_lowest, "n": len(high_quality), "indices": subset_file},
            "n_train": bundle.n_train,
            "fine_tuning": {
                "epochs": config.epochs, "lr": config.lr, "batch_size": template.batch_size, "eps": template.eps,
                "steps": template.steps, "step_size": template.step_size, "seed": config.seed,
                "attack": "targeted PGD: towards the pair's first class; its own examples towards the second",
            },
            "evaluation": {"attack": config.attack, "eps": evaluation.eps, "step_size": evaluation.step_size,
                           "random_start": evaluation.random_start, "n_examples": len(before["labels"])},
            BEFORE: {k: v for k, v in before.items() if k != "labels"},
            "pairs": [
                {
                    "pair": pair.name(bundle.classes), "target": pair.target, "other": pair.other,
                    "conditions": {c: {k: v for k, v in r.items() if k != "labels"} for c, r in conditions.items()},
                    "target_drop": target_drop(before, conditions, pair.target),
                }
                for pair, conditions in results
            ],
            "figures": list(drawn),
        }
        return finish(COMMAND, out_dir, summary, report(summary, list(drawn)), drawn)


def pair_of(names: list[str], bundle: DatasetBundle) -> Pair:
    labels = bundle.class_labels(names)
    if len(labels) != 2:
        raise AdvqError(f"Pair {':'.join(names)} names one class twice: give two different classes.")
    return Pair(*labels)


def high_quality_subset(profile: Profile, bundle: DatasetBundle, fraction: float) -> np.ndarray:
    """The profile's ranked examples without the lowest-quality ``fraction`` (``advq curate --remove-lowest``)."""
    ranked = np.flatnonzero(np.isfinite(profile.rank))
    return remove_lowest(quality_order(profile.rank, ranked), bundle.train_labels.numpy(), fraction)


def finetune_config(config: FinetuneConfig, payload: dict[str, Any], folder: Path, subset: Path | None) -> TrainConfig:
    """The checkpoint's training configuration with the fine-tuning settings; no per-epoch
    evaluation (the last epoch is kept)."""
    given = {
        "batch_size": config.batch_size, "eps": config.eps, "steps": config.steps, "step_size": config.step_size,
        "eval_eps": config.eval_eps, "eval_step_size": config.eval_step_size,
        "eval_random_start": config.eval_random_start, "device": config.device, "data_dir": config.data_dir,
    }
    return derived_train_config(
        payload.get("config", {}), given, epochs=config.epochs, lr=config.lr, milestones=[], eval_examples=0,
        seed=config.seed, subset=None if subset is None else str(subset.resolve()), out=folder, resume=True,
    )


def finetune(cfg: TrainConfig, payload: dict[str, Any], bundle: DatasetBundle, pair: Pair, reporter: Reporter) -> Path:
    """Fine-tune the checkpoint's weights in ``cfg.out`` (continuing a run stored there); returns its ``best.pt``."""
    out = Path(cfg.out)
    run = TrainingRun(cfg, bundle, method=TargetedPair(cfg.threat, pair.target, pair.other))
    run.model.load_state_dict(payload["state_dict"])
    if (out / "last.pt").is_file():
        run.restore(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", to_yaml(run.config))
    run_epochs(run, f"explain {COMMAND}", out, lambda stats: run.save(out), reporter, "fine-tuning")
    return out / "best.pt"


def measured(result: EvaluationResult, attack: str) -> dict[str, Any]:
    """Clean and robust accuracy, overall and per class, of one evaluation file."""
    return {"clean": per_class(result, "clean"), "robust": per_class(result, attack), "labels": result.labels}


def target_drop(before: dict[str, Any], conditions: dict[str, Any], target: int) -> dict[str, dict[str, float]]:
    """How much the pair's target class lost, per condition: accuracy before minus after."""
    return {
        condition: {kind: before[kind]["per_class"][target] - r[kind]["per_class"][target] for kind in ("clean", "robust")}
        for condition, r in conditions.items()
    }


def series_labels(config: FinetuneConfig) -> dict[str, str]:
    return {
        BEFORE: "before fine-tuning",
        ALL: "fine-tuned on all training data",
        HIGH_QUALITY: f"fine-tuned on the high-quality subset (lowest {config.remove_lowest:.0%} removed)",
    }


def draw(path: Path, kind: str, before: dict[str, Any], results: list[tuple[Pair, dict[str, Any]]],
         bundle: DatasetBundle, config: FinetuneConfig) -> dict[str, Any]:
    """One panel per pair: per class, the accuracy before and after each fine-tuning."""
    labels = series_labels(config)
    what = "clean" if kind == "clean" else f"robust ({config.attack})"
    panels = [
        {
            "title": f"{pair.name(bundle.classes)}: attack towards '{bundle.classes[pair.target]}', "
                     f"its own examples towards '{bundle.classes[pair.other]}' (target class in red)",
            "categories": list(bundle.classes),
            "highlight": pair.target,
            "series": {labels[BEFORE]: before[kind]["per_class"],
                       **{labels[c]: r[kind]["per_class"] for c, r in conditions.items()}},
        }
        for pair, conditions in results
    ]
    title = (f"Per-class {what} test accuracy after {config.epochs} epoch(s) of targeted class-pair adversarial "
             f"fine-tuning ({bundle.name}, {config.checkpoint.name})")
    return save_panels(path, title, panels, f"{what} test accuracy", (0.0, 1.0))


def report(summary: dict[str, Any], figures: list[str]) -> str:
    names = summary["class_names"]
    sections = []
    for entry in summary["pairs"]:
        runs = [summary[BEFORE], entry["conditions"][ALL], entry["conditions"][HIGH_QUALITY]]
        rows = [
            (("**" + name + "**") if k == entry["target"] else name,
             *(number(r[kind]["per_class"][k]) for kind in ("clean", "robust") for r in runs))
            for k, name in enumerate(names)
        ]
        rows.append(("all", *(number(r[kind]["all"]) for kind in ("clean", "robust") for r in runs)))
        header = ["class", *(f"{kind} {when}" for kind in ("clean", "robust") for when in ("before", "all", "high-q."))]
        drop = entry["target_drop"]
        sections.append(
            f"## {entry['pair']}\n\nClass '{names[entry['target']]}' lost {number(drop[ALL]['clean'], sign=True)} clean "
            f"and {number(drop[ALL]['robust'], sign=True)} robust accuracy fine-tuned on all data, "
            f"{number(drop[HIGH_QUALITY]['clean'], sign=True)} and {number(drop[HIGH_QUALITY]['robust'], sign=True)} "
            f"on the high-quality subset.\n\n{markdown_table(header, rows)}"
        )
    tuning, evaluation, hq = summary["fine_tuning"], summary["evaluation"], summary["high_quality"]
    images = "\n\n".join(f"![{name}]({name})" for name in figures)
    return (
        f"# Targeted class-pair adversarial fine-tuning (appendix G.1/G.2)\n\n"
        f"Checkpoint `{summary['checkpoint']}` ({summary['dataset']}), fine-tuned for {tuning['epochs']} epoch(s) "
        f"(lr {tuning['lr']}, targeted PGD-{tuning['steps']} at ε = {tuning['eps']:.4g}) per pair TARGET:OTHER: every "
        f"example is perturbed towards TARGET, TARGET's own examples towards OTHER. Data: all {summary['n_train']} "
        f"training examples, or the high-quality subset of profile `{summary['profile']}` ({hq['n']} examples, "
        f"lowest {hq['remove_lowest']:.0%} removed). Accuracy on {evaluation['n_examples']} test examples, robust "
        f"under {evaluation['attack']} at ε = {evaluation['eps']:.4g}; the target class in bold.\n\n"
        + "\n\n".join(sections) + f"\n\n{images}\n"
    )

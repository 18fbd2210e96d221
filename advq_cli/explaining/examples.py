"""`advq explain examples`: the lowest- and highest-quality training examples of each class
beside their adversarial counterparts (the paper's Fig. 3a, appendix G.1).

The attack is PGD-20 (random start, step ε/8) at twice the training ε by default (16/255
for the paper's 8/255) against a checkpoint of the profile: at that radius the
counterparts of low-quality examples tend to look like the class the model predicts,
those of high-quality examples stay clear images of their own class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..attacks import PGD
from ..checkpoint import check_fingerprint, model_from_checkpoint, read_checkpoint
from ..config import parse_eps, parse_name_list
from ..curation.rules import quality_order
from ..datasets import DatasetBundle
from ..lookups import get_dataset
from ..devices import resolve_device
from ..errors import AdvqError, FingerprintMismatchError
from ..progress import NullReporter, Reporter
from .figures import Drawn, new_figure, save
from .profiles import Profile, read_profile
from .report import ExplainResult, finish, markdown_table, number, writing

COMMAND = "examples"
LOWEST, HIGHEST = "lowest_quality", "highest_quality"
SIDE_TITLES = {
    LOWEST: "Lowest-quality training examples (highest problem rank first)",
    HIGHEST: "Highest-quality training examples (lowest problem rank first)",
}
MAX_DEFAULT_CLASSES = 20
"""Rows shown when --classes is not given; more would make an unreadable figure."""
STEP_FRACTION = 8
"""The attack's step size is ε / STEP_FRACTION."""
BATCH_SIZE = 256


@dataclass
class ExamplesConfig:
    """Which profile and checkpoint, how many examples per class and side, and the attack.

    ``checkpoint`` None means ``best.pt`` of the profile's first complete run; ``eps`` None
    means twice the profile's training ε; ``classes`` (names or labels) None means every
    class up to the first 20; ``data_dir`` None means where the profile found the data;
    ``out_dir`` None means ``<profile stem>-examples/`` beside the profile.
    """

    profile: Path
    checkpoint: Path | None = None
    out_dir: Path | None = None
    per_class: int = 4
    eps: float | None = field(default=None, metadata={"parse": parse_eps})
    steps: int = 20
    classes: list[str] | None = field(default=None, metadata={"parse": lambda value, what: parse_name_list(value)})
    seed: int = 0
    device: str | None = None
    data_dir: str | None = None
    wait: bool = False

    def __post_init__(self) -> None:
        self.profile = Path(self.profile)
        self.checkpoint = None if self.checkpoint is None else Path(self.checkpoint)
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)
        if self.per_class < 1 or self.steps < 1:
            raise ValueError("--per-class and --steps must be positive.")


@dataclass(frozen=True)
class Example:
    """A chosen training example and the checkpoint's predictions on it and on its counterpart."""

    index: int
    label: int
    rank: float
    pred_clean: int
    pred_adversarial: int


Rows = list[tuple[int, list[Example]]]
"""Per class shown: its label and its chosen examples."""


def explain_examples(config: ExamplesConfig, reporter: Reporter | None = None) -> ExplainResult:
    """Choose each class's extremes of the problem rank, attack them, and draw one grid per side."""
    with writing(config.out_dir, config.profile, COMMAND, config.wait, reporter) as out_dir:
        profile = read_profile(config.profile)
        checkpoint = config.checkpoint or default_checkpoint(profile)
        payload = read_checkpoint(checkpoint)
        bundle = profile_dataset(profile, config.data_dir)
        check_fingerprint(payload, bundle.fingerprint, bundle.name, checkpoint)
        eps = config.eps if config.eps is not None else twice_training_eps(profile)
        classes = chosen_classes(config.classes, bundle)
        config = fitted_per_class(config, profile, bundle.train_labels.numpy(), classes, reporter or NullReporter())
        model = model_from_checkpoint(payload, checkpoint).to(resolve_device(config.device)).eval()
        rows, images = attacked_extremes(profile, bundle, model, classes, eps, config)

        attack_text = f"PGD-{config.steps} at ε = {eps_text(eps)} (step ε/{STEP_FRACTION}, random start)"
        drawn = {}
        for side, side_rows in rows.items():
            name = f"{COMMAND}-{side.replace('_', '-')}.png"
            title = f"{SIDE_TITLES[side]}, {bundle.name}"
            drawn[name] = draw_grid(out_dir / name, title, side_rows, images, bundle.classes, config.per_class, attack_text)
        summary = {
            "source": profile.path.resolve(),
            "checkpoint": checkpoint.resolve(),
            "dataset": bundle.name,
            "class_names": bundle.classes,
            "per_class": config.per_class,
            "attack": {
                "name": f"pgd-{config.steps}", "eps": eps, "steps": config.steps, "step_size": eps / STEP_FRACTION,
                "random_start": True, "seed": config.seed,
            },
            **{side: [side_record(c, bundle, examples) for c, examples in side_rows] for side, side_rows in rows.items()},
            "accuracy": {side: accuracy(side_rows) for side, side_rows in rows.items()},
            "figures": list(drawn),
        }
        return finish(COMMAND, out_dir, summary, report(profile, checkpoint, bundle, rows, attack_text, list(drawn)), drawn)


def attacked_extremes(
    profile: Profile, bundle: DatasetBundle, model: torch.nn.Module, classes: list[int], eps: float,
    config: ExamplesConfig,
) -> tuple[dict[str, Rows], dict[str, dict[int, np.ndarray]]]:
    """Per side the rows of chosen examples with the model's predictions, and the clean and
    adversarial images (C, H, W) in [0, 1] by example index."""
    labels = bundle.train_labels.numpy()
    picks = {c: extremes(profile.rank, labels, c, config.per_class) for c in classes}
    indices = np.unique(np.concatenate([i for pick in picks.values() for i in pick.values()])).astype(np.int64)
    if not len(indices):
        raise AdvqError(f"{profile.path} ranks no training example of the classes chosen.")
    clean = bundle.train_images[torch.from_numpy(indices)].float().div_(255)
    adversarial, pred_clean, pred_adv = attack(
        model, clean, bundle.train_labels[indices], eps, config.steps, config.seed
    )
    position = {int(i): k for k, i in enumerate(indices)}

    def example(i: int) -> Example:
        k = position[int(i)]
        return Example(int(i), int(labels[i]), float(profile.rank[i]), int(pred_clean[k]), int(pred_adv[k]))

    rows = {side: [(c, [example(i) for i in picks[c][side]]) for c in classes] for side in (LOWEST, HIGHEST)}
    images = {"clean": dict(zip(position, clean.numpy())), "adversarial": dict(zip(position, adversarial.numpy()))}
    return rows, images


def default_checkpoint(profile: Profile) -> Path:
    """``best.pt`` of the first complete run (the runs' folder sits beside the profile)."""
    run = profile.runs[0]
    path = profile.checkpoints[run] / "best.pt"
    if not path.is_file():
        raise AdvqError(f"The checkpoint of run {run} of {profile.path} is missing ({path}); pass --checkpoint.")
    return path


def profile_dataset(profile: Profile, data_dir: str | None) -> DatasetBundle:
    """The dataset the profile was made from, refused when the files found now hold other data."""
    bundle = get_dataset(profile.dataset, data_dir or profile.config.get("data_dir"))
    if bundle.fingerprint != profile.fingerprint:
        raise FingerprintMismatchError(
            f"{profile.path} was made from other '{profile.dataset}' data than the files found now "
            f"(fingerprint {profile.fingerprint}, found {bundle.fingerprint}); pass the --data-dir it was profiled with."
        )
    return bundle


def twice_training_eps(profile: Profile) -> float:
    eps = profile.config.get("eps")
    if not isinstance(eps, (int, float)):
        raise AdvqError(f"{profile.path} does not record its training ε; pass --eps.")
    return min(1.0, 2.0 * float(eps))


def chosen_classes(wanted: list[str] | None, bundle: DatasetBundle) -> list[int]:
    """Labels of the classes to show, in the order given; the first 20 by default."""
    if not wanted:
        return list(range(min(bundle.num_classes, MAX_DEFAULT_CLASSES)))
    return bundle.class_labels(wanted)


def fitted_per_class(
    config: ExamplesConfig, profile: Profile, labels: np.ndarray, classes: list[int], reporter: Reporter
) -> ExamplesConfig:
    """``config`` with ``per_class`` at most what the smallest chosen class can give to both sides, said when lowered."""
    ranked = np.isfinite(profile.rank)
    smallest = min(int(np.count_nonzero(ranked & (labels == c))) for c in classes)
    usable = smallest // 2
    if usable < 1:
        raise AdvqError(f"{profile.path} ranks fewer than 2 examples of one of the classes chosen: nothing to show.")
    if config.per_class <= usable:
        return config
    reporter.info(
        f"--per-class {config.per_class} is more than the smallest chosen class can give to each side "
        f"({smallest} ranked examples): showing {usable} per class."
    )
    return dataclasses.replace(config, per_class=usable)


def extremes(rank: np.ndarray, labels: np.ndarray, label: int, k: int) -> dict[str, np.ndarray]:
    """The ``k`` ranked examples of a class with the highest problem rank (lowest quality,
    worst first) and the ``k`` with the lowest (highest quality, best first); ties as in
    every curation rule (``quality_order``: the lower index counts as the lower quality)."""
    order = quality_order(rank, np.flatnonzero((labels == label) & np.isfinite(rank)))
    return {LOWEST: order[:k], HIGHEST: order[::-1][:k]}


def attack(
    model: torch.nn.Module, clean: torch.Tensor, labels: torch.Tensor, eps: float, steps: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adversarial counterparts (on the CPU) and the predictions on clean and adversarial inputs.

    The random start is seeded with ``seed`` without disturbing the caller's random state.
    """
    device = next(model.parameters()).device
    pgd = PGD(eps, steps=steps, step_size=eps / STEP_FRACTION, random_start=True)
    adversarial, pred_clean, pred_adv = [], [], []
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else None):
        torch.manual_seed(seed)
        for start in range(0, len(clean), BATCH_SIZE):
            x, y = clean[start:start + BATCH_SIZE].to(device), labels[start:start + BATCH_SIZE].to(device)
            x_adv = pgd(model, x, y)
            with torch.no_grad():
                pred_clean.append(model(x).argmax(1).cpu())
                pred_adv.append(model(x_adv).argmax(1).cpu())
            adversarial.append(x_adv.cpu())
    return torch.cat(adversarial), torch.cat(pred_clean), torch.cat(pred_adv)


def eps_text(eps: float) -> str:
    """``0.06275 = 16/255`` when ε is a whole number of grey levels, else the number."""
    levels = eps * 255
    return f"{eps:.4g}" + (f" = {round(levels)}/255" if abs(levels - round(levels)) < 1e-6 else "")


def draw_grid(
    path: Path, title: str, rows: Rows, images: dict[str, dict[int, np.ndarray]],
    class_names: tuple[str, ...], per_class: int, attack_text: str,
) -> Drawn:
    """Rows = classes; per example a clean cell then its adversarial counterpart, each titled
    true → predicted (red where the prediction is wrong)."""
    from matplotlib.lines import Line2D

    columns = 2 * per_class
    figure, axes = new_figure(1.45 * columns + 0.8, 1.45 * len(rows) + 1.6, nrows=len(rows), ncols=columns, squeeze=False)
    figure.suptitle(f"{title}\nleft of each pair: the clean image; right: its {attack_text} counterpart")
    drawn: Drawn = {"indices": [], "clean": [], "adversarial": [], "titles": []}
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    for row, (label, examples) in zip(axes, rows):
        row[0].set_ylabel(class_names[label], fontsize=9)
        for k, e in enumerate(examples):
            drawn["indices"].append(e.index)
            cells = ((row[2 * k], "clean", e.pred_clean), (row[2 * k + 1], "adversarial", e.pred_adversarial))
            for axis, kind, pred in cells:
                image = to_display(images[kind][e.index])
                shown = axis.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
                heading = f"#{e.index}" if kind == "clean" else "adversarial"
                axis.set_title(
                    f"{heading}\n{class_names[e.label]} → {class_names[pred]}", fontsize=7,
                    color="black" if pred == e.label else "red",
                )
                drawn[kind].append(np.asarray(shown.get_array()))
                drawn["titles"].append(axis.get_title())
    figure.legend(
        handles=[Line2D([], [], color="black", label="title: true → predicted, prediction right"),
                 Line2D([], [], color="red", label="prediction wrong")],
        loc="outside lower center", ncols=2,
    )
    save(figure, path)
    return drawn


def to_display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] → (H, W) for one channel, (H, W, C) otherwise."""
    return image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))


def side_record(label: int, bundle: DatasetBundle, examples: list[Example]) -> dict[str, Any]:
    return {
        "class": bundle.classes[label],
        "label": label,
        "examples": [
            {"index": e.index, "problem_rank": e.rank, "pred_clean": e.pred_clean, "pred_adversarial": e.pred_adversarial}
            for e in examples
        ],
    }


def accuracy(rows: Rows) -> dict[str, float]:
    examples = [e for _, side in rows for e in side]
    return {
        "clean": float(np.mean([e.pred_clean == e.label for e in examples])),
        "adversarial": float(np.mean([e.pred_adversarial == e.label for e in examples])),
        "n": len(examples),
    }


def report(
    profile: Profile, checkpoint: Path, bundle: DatasetBundle, rows: dict[str, Rows],
    attack_text: str, figures: list[str],
) -> str:
    names = bundle.classes
    sections = []
    for side, side_rows in rows.items():
        table = markdown_table(
            ["class", "index", "problem rank", "clean → predicted", "adversarial → predicted"],
            [(names[label], e.index, number(e.rank, 4), names[e.pred_clean], names[e.pred_adversarial])
             for label, examples in side_rows for e in examples],
        )
        acc = accuracy(side_rows)
        sections.append(
            f"## {SIDE_TITLES[side]}\n\nAccuracy on these {acc['n']}: clean {number(acc['clean'])}, "
            f"adversarial {number(acc['adversarial'])}.\n\n{table}"
        )
    images = "\n\n".join(f"![{name}]({name})" for name in figures)
    return (
        f"# Lowest- and highest-quality examples with their adversarial counterparts\n\n"
        f"Profile `{profile.path}` ({bundle.name}), checkpoint `{checkpoint}`, attack {attack_text}. "
        f"Per class, the examples with the highest and the lowest `/quality/problem_rank`.\n\n"
        + "\n\n".join(sections) + f"\n\n{images}\n"
    )

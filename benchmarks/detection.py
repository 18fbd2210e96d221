"""How well do advq's ranks find wrong labels, against the detectors people already use?

A seeded subset of Fashion-MNIST's training set gets a known fraction of its labels
flipped (symmetric or asymmetric, with `examples/noisy_fashion_mnist.py`'s rules) and is
written as an `npz:` dataset. Every detector then scores every training example, in this
one process:

- advq's profile with PGD-AT and with TRADES (R runs): the problem rank and each measure alone;
- advq's profile with `--method standard` (standard training, R runs): problem rank,
  forgetting events (Toneva et al.) and data maps' confidence (Swayamdipta et al.);
- AUM (Pleiss et al. 2020, arXiv:2001.10528): the mean over epochs of the margin between
  the assigned class's logit and the largest other one, recorded from advq's own standard
  training through its batch observer (advq's record keeps no logits, so AUM cannot be a
  measure plugin reading that record);
- cleanlab's confident learning (Northcutt et al. 2021) on out-of-fold predicted
  probabilities: K-fold cross-validation of the same model trained normally with advq;
- random scores, the floor.

Each is scored for ranking the flipped examples first (AUROC, average precision,
precision at the true noise count) with the wall time it took in this process (start-up
and data loading excluded; measures of one profile share its time). Then the
consequence: each chosen detector's top-k (k = the noise count) is removed, the rest is
adversarially trained with PGD-AT, and the model's clean, PGD-20 and AutoAttack
(APGD-CE + APGD-T) test accuracies are set against a random removal of the same k, no
removal, and removing exactly the flipped examples.

    python benchmarks/detection.py --threads 1 --out runs/detection   # the full setting
    python benchmarks/detection.py --fast --out /tmp/detection        # the CI smoke setting (digits)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from advq_cli import get_dataset, load_model
from advq_cli.curation.rules import quality_order
from advq_cli.curation.sources import measure_direction
from advq_cli.datasets import DatasetBundle
from advq_cli.evaluation import EvaluateConfig
from advq_cli.evaluation.suite import evaluate
from advq_cli.profiling import ProfileConfig, profile, read_quality
from advq_cli.training import TrainConfig
from advq_cli.training.loop import train
from common import dataset_available, print_machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from noisy_fashion_mnist import flip_labels  # noqa: E402  (the example's flipping rules, not a copy)

T = TypeVar("T")

ADVERSARIAL_MEASURES = (
    "problem_rank", "true_prob", "forgetting_events", "first_learned_epoch", "confidence", "variability",
    "min_perturbation",
)
STANDARD_MEASURES = ("problem_rank", "forgetting_events", "confidence")
PROFILED = {"pgd-at": ADVERSARIAL_MEASURES, "trades": ADVERSARIAL_MEASURES, "standard": STANDARD_MEASURES}
PR_CURVES = ("pgd-at/problem_rank", "trades/problem_rank", "pgd-at/true_prob", "standard/forgetting_toneva",
             "standard/confidence", "aum", "cleanlab", "random")
CONSEQUENCE = ("pgd-at/problem_rank", "trades/problem_rank", "pgd-at/true_prob", "standard/confidence", "aum",
               "cleanlab")
AUTOATTACK_CPU = {"version": "custom", "attacks": ["apgd-ce", "apgd-t"]}
FAST = {
    "dataset": "digits", "n_train": 300, "noise": ["symmetric:0.2"], "epochs": 2, "steps": 1, "repeats": 1,
    "folds": 2, "test_examples": 40, "consequence": ["pgd-at/problem_rank", "cleanlab"], "threads": 1,
}


@dataclass(frozen=True)
class Noise:
    """Which labels are flipped: ``kind`` is symmetric or asymmetric, ``fraction`` as the example defines it."""

    kind: str
    fraction: float

    @property
    def label(self) -> str:
        return f"{self.kind} {self.fraction:.0%}"


@dataclass(frozen=True)
class NoisyData:
    """The written npz dataset and the truth to score against."""

    path: Path
    labels: np.ndarray
    flipped: np.ndarray

    @property
    def dataset(self) -> str:
        return f"npz:{self.path}"

    @property
    def n_noisy(self) -> int:
        return int(self.flipped.sum())


@dataclass(frozen=True)
class Detection:
    """One detector's score per training example, turned so that higher means more likely bad."""

    name: str
    badness: np.ndarray
    seconds: float


@dataclass(frozen=True)
class DetectionScore:
    name: str
    auroc: float
    average_precision: float
    precision_at_noise: float
    seconds: float


def parse_noise(text: str) -> Noise:
    kind, _, fraction = text.partition(":")
    if kind not in ("symmetric", "asymmetric") or not fraction:
        raise argparse.ArgumentTypeError(f"noise is KIND:FRACTION with KIND symmetric or asymmetric, got {text!r}")
    return Noise(kind, float(fraction))


def timed(work: Callable[[], T]) -> tuple[T, float]:
    """The result of ``work`` and the wall-clock seconds it took."""
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


# -- the data ---------------------------------------------------------------------------------


def write_noisy_subset(source: DatasetBundle, n_train: int, noise: Noise, seed: int, out: Path) -> NoisyData:
    """A seeded subset of ``source``'s training set with labels flipped, and its whole test set, as an npz."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(source.n_train, size=min(n_train, source.n_train), replace=False))
    clean = source.train_labels.numpy()[chosen]
    noisy = flip_labels(clean, noise.kind, noise.fraction, seed, source.num_classes)
    np.savez_compressed(
        out, x_train=source.train_images.numpy()[chosen], y_train=noisy, x_test=source.test_images.numpy(),
        y_test=source.test_labels.numpy(), classes=np.array(source.classes), y_train_clean=clean,
        flipped=noisy != clean,
    )
    return NoisyData(out, noisy, noisy != clean)


# -- the detectors ----------------------------------------------------------------------------


def training_options(args: argparse.Namespace, dataset: str) -> dict[str, Any]:
    """What every training here shares; no per-epoch evaluation, so each run's checkpoint is its last epoch."""
    return {
        "dataset": dataset, "model": args.model, "epochs": args.epochs, "milestones": [], "lr": args.lr,
        "batch_size": args.batch_size, "eps": args.eps, "steps": args.steps, "step_size": args.step_size,
        "seed": args.seed, "device": args.device, "eval_examples": 0,
    }


def profile_detections(data: NoisyData, method: str, args: argparse.Namespace, work: Path) -> list[Detection]:
    """advq's profile with ``method``: one detection per measure, each given the profile's whole time."""
    out = work / f"{method}.h5"
    config = ProfileConfig(**training_options(args, data.dataset), method=method, repeats=args.repeats, out=out)
    _, seconds = timed(lambda: profile(config))
    detections = [
        Detection(f"{method}/{name}", oriented(read_quality(out, name), name), seconds) for name in PROFILED[method]
    ]
    return [*detections, Detection(f"{method}/forgetting_toneva", forgetting_toneva(out, config.epochs), seconds)]


def forgetting_toneva(out: Path, epochs: int) -> np.ndarray:
    """Forgetting events as Toneva et al. (arXiv:1812.05159) sort them: an example never learned (in any
    run) counts as forgotten more often than any other (``epochs`` times, more than a run can forget).
    advq's own measure counts transitions only, so it calls those examples unforgettable."""
    never_learned = read_quality(out, "first_learned_epoch") == epochs + 1
    return np.where(never_learned, float(epochs), read_quality(out, "forgetting_events"))


def oriented(values: np.ndarray, measure: str) -> np.ndarray:
    """A measure turned so that higher means lower quality, by the direction advq's curation uses."""
    return values if measure_direction(measure, None) else -values


class MarginRecorder:
    """A batch observer summing each example's margin (its label's logit minus the largest other logit)
    over the epochs; the mean is its area under the margin."""

    def __init__(self, n_examples: int) -> None:
        self.totals = torch.zeros(n_examples, dtype=torch.float64)
        self.counts = torch.zeros(n_examples, dtype=torch.int64)

    @torch.no_grad()
    def observe(self, indices: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        logits = logits.detach().float()
        assigned = logits.gather(1, labels.view(-1, 1)).view(-1)
        others = logits.scatter(1, labels.view(-1, 1), float("-inf")).amax(1)
        self.totals.index_add_(0, indices.cpu(), (assigned - others).double().cpu())
        self.counts.index_add_(0, indices.cpu(), torch.ones_like(indices.cpu()))

    def area_under_margin(self) -> np.ndarray:
        return (self.totals / self.counts.clamp(min=1)).numpy()


def aum_detection(data: NoisyData, args: argparse.Namespace, work: Path) -> Detection:
    """Standard training with advq, its logits observed batch by batch; a low AUM means a likely wrong label."""
    recorder = MarginRecorder(len(data.labels))
    config = TrainConfig(**training_options(args, data.dataset), method="standard", out=work / "aum")
    _, seconds = timed(lambda: train(config, observer=recorder))
    return Detection("aum", -recorder.area_under_margin(), seconds)


def out_of_fold_probabilities(data: NoisyData, bundle: DatasetBundle, args: argparse.Namespace, work: Path) -> np.ndarray:
    """K-fold cross-validation of the model trained normally: each example's softmax from the fold that left it out."""
    probabilities = np.zeros((len(data.labels), bundle.num_classes))
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    for k, (kept, held_out) in enumerate(folds.split(np.zeros(len(data.labels)), data.labels)):
        subset = work / f"fold-{k}.npy"
        np.save(subset, kept)
        config = TrainConfig(**training_options(args, data.dataset), method="standard", subset=str(subset),
                             out=work / f"fold-{k}")
        result = train(config)
        model = load_model(result.out / "best.pt", args.device).eval()
        probabilities[held_out] = softmax(model, bundle.train_images[held_out], args.device)
    return probabilities


@torch.no_grad()
def softmax(model: torch.nn.Module, images: torch.Tensor, device: str, batch_size: int = 512) -> np.ndarray:
    """Class probabilities of uint8 images (N, C, H, W)."""
    parts = [
        model(images[start : start + batch_size].to(device).float().div_(255)).float().softmax(1).cpu()
        for start in range(0, len(images), batch_size)
    ]
    return torch.cat(parts).numpy()


def cleanlab_detections(data: NoisyData, args: argparse.Namespace, work: Path) -> tuple[Detection, np.ndarray]:
    """cleanlab's label quality scores (low: likely wrong) and ``find_label_issues``' own flags."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    bundle = get_dataset(data.dataset)

    def scores() -> tuple[np.ndarray, np.ndarray]:
        probabilities = out_of_fold_probabilities(data, bundle, args, work)
        return get_label_quality_scores(data.labels, probabilities), find_label_issues(data.labels, probabilities)

    (quality, issues), seconds = timed(scores)
    return Detection("cleanlab", -quality, seconds), issues


def random_detection(data: NoisyData, seed: int) -> Detection:
    return Detection("random", np.random.default_rng(seed).random(len(data.labels)), 0.0)


def warm_up(data: NoisyData) -> None:
    """Load the dataset and what PyTorch imports when the first optimiser is built, so that
    the first detector's time is its own work."""
    get_dataset(data.dataset)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def all_detections(data: NoisyData, args: argparse.Namespace, work: Path) -> tuple[list[Detection], np.ndarray]:
    """Every detector on one noisy dataset, in the table's order, and cleanlab's flagged examples."""
    warm_up(data)
    detections: list[Detection] = []
    for method in PROFILED:
        print(f"  profiling with {method} ({args.repeats} runs)", flush=True)
        detections += profile_detections(data, method, args, work)
    print("  AUM", flush=True)
    detections.append(aum_detection(data, args, work))
    print(f"  cleanlab ({args.folds}-fold cross-validation)", flush=True)
    cleanlab, issues = cleanlab_detections(data, args, work)
    return [*detections, cleanlab, random_detection(data, args.seed)], issues


# -- scores -----------------------------------------------------------------------------------


def top_k(badness: np.ndarray, k: int) -> np.ndarray:
    """The k examples a detector ranks worst, ties broken by index as `advq curate` breaks them."""
    return quality_order(badness, np.arange(len(badness)))[:k]


def score(detection: Detection, flipped: np.ndarray) -> DetectionScore:
    """How well ``detection`` ranks the flipped examples first."""
    k = int(flipped.sum())
    return DetectionScore(
        detection.name,
        auroc=float(roc_auc_score(flipped, detection.badness)),
        average_precision=float(average_precision_score(flipped, detection.badness)),
        precision_at_noise=float(flipped[top_k(detection.badness, k)].mean()),
        seconds=detection.seconds,
    )


# -- the consequence --------------------------------------------------------------------------


def removals(data: NoisyData, detections: list[Detection], chosen: list[str], seed: int) -> dict[str, np.ndarray]:
    """The training subsets: nothing removed, each chosen detector's top-k removed, k at random, the flipped."""
    n, k = len(data.labels), data.n_noisy
    by_name = {d.name: d for d in detections}
    kept = {"none removed": np.arange(n)}
    for name in chosen:
        kept[name] = np.setdiff1d(np.arange(n), top_k(by_name[name].badness, k))
    kept["random"] = np.sort(np.random.default_rng([seed, 1]).choice(n, size=n - k, replace=False))
    kept["flipped removed (oracle)"] = np.flatnonzero(~data.flipped)
    return kept


def adversarial_outcome(data: NoisyData, kept: np.ndarray, args: argparse.Namespace, work: Path) -> dict[str, float]:
    """PGD-AT on ``kept``, then clean, PGD-20 and AutoAttack (APGD-CE + APGD-T) accuracy on the first test examples."""
    work.mkdir(parents=True)
    np.save(work / "kept.npy", kept)
    config = TrainConfig(**training_options(args, data.dataset), method="pgd-at", subset=str(work / "kept.npy"),
                         out=work / "run")
    result = train(config)
    evaluation = evaluate(EvaluateConfig(
        checkpoint=result.out / "best.pt", attacks=["pgd-20", "autoattack"], n_examples=args.test_examples,
        device=args.device, out=work / "evaluation.h5", attack_options={"autoattack": AUTOATTACK_CPU},
    ))
    return {"clean": evaluation.clean_accuracy, **evaluation.accuracies}


# -- output -----------------------------------------------------------------------------------


def detection_table(scores: list[DetectionScore]) -> str:
    lines = ["| detector | AUROC | AP | precision at noise count | seconds |", "|---|---|---|---|---|"]
    lines += [f"| {s.name} | {s.auroc:.3f} | {s.average_precision:.3f} | {s.precision_at_noise:.3f} | {s.seconds:.1f} |"
              for s in scores]
    return "\n".join(lines)


def consequence_table(outcomes: dict[str, dict[str, float]], flipped: np.ndarray, kept: dict[str, np.ndarray]) -> str:
    lines = ["| training set | examples | flipped left | clean | PGD-20 | AutoAttack |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {name} | {len(kept[name])} | {int(flipped[kept[name]].sum())} | {o['clean']:.3f} | {o['pgd-20']:.3f} "
        f"| {o['autoattack']:.3f} |"
        for name, o in outcomes.items()
    ]
    return "\n".join(lines)


def draw_pr_curves(results: list[dict[str, Any]], curves: dict[str, dict[str, Detection]], path: Path) -> None:
    """One panel per noise setting: precision against recall of the main detectors."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 4.6), squeeze=False)
    for ax, result in zip(axes[0], results):
        flipped = np.asarray(result["flipped"])
        for name in PR_CURVES:
            precision, recall, _ = precision_recall_curve(flipped, curves[result["noise"]][name].badness)
            ax.plot(recall, precision, label=name, linewidth=1.2, linestyle=":" if name == "random" else "-")
        ax.set_title(f"{result['noise']} ({int(flipped.sum())} flipped)")
        ax.set_xlabel("recall")
        ax.set_ylim(0, 1.02)
    axes[0][0].set_ylabel("precision")
    fig.legend(*axes[0][0].get_legend_handles_labels(), loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


# -- the run ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="the CI smoke setting: digits, 300 examples, 2 epochs")
    parser.add_argument("--dataset", default="fashion-mnist", help="the clean source (falls back to digits)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n-train", type=int, default=3000, help="seeded subset of the training set")
    parser.add_argument("--noise", type=parse_noise, nargs="+", default=["symmetric:0.05", "symmetric:0.2",
                        "asymmetric:0.2"], help="KIND:FRACTION, each a dataset of its own")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--step-size", type=float, default=0.025)
    parser.add_argument("--repeats", type=int, default=3, help="R: runs per advq profile")
    parser.add_argument("--folds", type=int, default=5, help="K: cross-validation folds for cleanlab")
    parser.add_argument("--consequence", nargs="*", default=list(CONSEQUENCE),
                        help="detectors whose top-k removal is adversarially trained (none: skip the consequence)")
    parser.add_argument("--test-examples", type=int, default=1000, help="first test examples attacked")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 on a shared machine)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables, the CSVs and the figure")
    args = parser.parse_args(argv)
    if args.fast:
        parser.set_defaults(**FAST)
        args = parser.parse_args(argv)
    args.noise = [n if isinstance(n, Noise) else parse_noise(n) for n in args.noise]
    if not dataset_available(args.dataset) and not args.data_dir:
        print(f"{args.dataset} not found; falling back to the embedded digits.")
        args.dataset = "digits"
    return args


def run_noise(source: DatasetBundle, noise: Noise, args: argparse.Namespace, work: Path) -> tuple[dict, list[Detection]]:
    """Detection and consequence on one noisy dataset; the printable result and the detections."""
    data = write_noisy_subset(source, args.n_train, noise, args.seed, work / "noisy.npz")
    print(f"\n## {noise.label}: {data.n_noisy} of {len(data.labels)} labels flipped", flush=True)
    detections, issues = all_detections(data, args, work)
    scores = [score(d, data.flipped) for d in detections]
    print(detection_table(scores))
    flagged_right = int((issues & data.flipped).sum())
    print(f"cleanlab find_label_issues flags {int(issues.sum())} examples, {flagged_right} of them flipped.")
    kept = removals(data, detections, args.consequence, args.seed) if args.consequence else {}
    outcomes = {}
    for name, indices in kept.items():
        folder = work / f"consequence-{len(outcomes)}"
        outcomes[name], seconds = timed(lambda: adversarial_outcome(data, indices, args, folder))
        print(f"  PGD-AT on '{name}' ({len(indices)} examples), trained and attacked in {seconds:.0f} s", flush=True)
    if outcomes:
        print(consequence_table(outcomes, data.flipped, kept))
    result = {
        "noise": noise.label, "n_train": len(data.labels), "n_flipped": data.n_noisy, "flipped": data.flipped.tolist(),
        "scores": [vars(s) for s in scores], "cleanlab_flagged": int(issues.sum()),
        "cleanlab_flagged_flipped": flagged_right,
        "consequence": {name: {**o, "examples": len(kept[name]), "flipped_left": int(data.flipped[kept[name]].sum())}
                        for name, o in outcomes.items()},
    }
    return result, detections


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    print_machine(args.device, args.threads)
    print(f"workload: {args.model} on {args.n_train} {args.dataset} examples, {args.epochs} epochs, lr {args.lr}, "
          f"ε {args.eps}, {args.steps} steps of {args.step_size}; profiles of {args.repeats} runs; cleanlab "
          f"{args.folds}-fold; attacks on {args.test_examples} test examples; seed {args.seed}")
    source = get_dataset(args.dataset, args.data_dir)
    results, curves = [], {}
    for noise in args.noise:
        with tempfile.TemporaryDirectory(prefix="advq-detection-") as tmp:
            result, detections = run_noise(source, noise, args, Path(tmp))
        results.append(result)
        curves[noise.label] = {d.name: d for d in detections}
    draw_pr_curves(results, curves, args.out / "pr-curves.png")
    write_csv(args.out / "detection.csv", [{"noise": r["noise"], **s} for r in results for s in r["scores"]])
    if args.consequence:
        write_csv(args.out / "consequence.csv",
                  [{"noise": r["noise"], "training set": name, **o} for r in results for name, o in r["consequence"].items()])
    summary = [{k: v for k, v in r.items() if k != "flipped"} for r in results]
    (args.out / "results.json").write_text(json.dumps({"args": vars(args) | {"out": str(args.out), "noise": [
        n.label for n in args.noise]}, "results": summary}, indent=1, default=str))
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s; tables, CSVs and pr-curves.png in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

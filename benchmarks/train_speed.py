"""`advq train` against the plain PyTorch loop of `reference_train.py`, whole process to whole process.

Both sides do the same work: PGD-AT of the same model on the first N training examples,
the same batch size, attack, optimiser and epochs, no evaluation. Each side is a fresh
`python` process timed with a wall clock (start-up and data loading included); the median
of ``--repeats`` interleaved runs counts. The ratio is reference time / advq time:
≥ 1.0 means advq is at least as fast.

    python benchmarks/train_speed.py --device cpu                      # the CPU figure
    python benchmarks/train_speed.py --device cuda --dataset cifar10 --synthetic \
        --model preact-resnet18 --n-train 50000 --epochs 2 --steps 10 --eps 8/255 \
        --step-size 2/255 --advq-args="--amp --channels-last"          # the GPU figure
"""

from __future__ import annotations

import argparse
import csv
import re
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import (
    Side, dataset_available, default_device, median_times, print_machine, thread_env, write_synthetic_cifar10,
)

HERE = Path(__file__).resolve().parent
EPOCH_SECONDS = re.compile(r"^epoch \d+: .* \(([0-9.]+) s\)$", re.MULTILINE)
"""How `reference_train.py` reports each epoch's seconds."""


def sides(args: argparse.Namespace, work: Path, data_dir: str | None) -> dict[str, Side]:
    """The two command lines, sharing every setting."""
    subset = work / "subset.npy"
    np.save(subset, np.arange(args.n_train, dtype=np.int64))
    shared = [
        "--dataset", args.dataset, "--model", args.model, "--epochs", str(args.epochs), "--milestones", args.milestones,
        "--batch-size", str(args.batch_size), "--eps", args.eps, "--steps", str(args.steps),
        "--step-size", args.step_size, "--seed", "0", "--device", args.device,
        *(["--data-dir", data_dir] if data_dir else []),
    ]
    run_dir = work / "advq-run"
    advq = [
        sys.executable, "-m", "advq_cli", "train", *shared, "--method", "pgd-at", "--subset", str(subset),
        "--eval-examples", "0", "--out", str(run_dir), "--overwrite", *shlex.split(args.advq_args),
    ]
    reference = [
        sys.executable, str(HERE / "reference_train.py"), *shared, "--n-train", str(args.n_train),
        "--out", str(work / "reference.pt"),
    ]
    return {
        "reference": Side(reference, lambda stdout: sum(map(float, EPOCH_SECONDS.findall(stdout)))),
        "advq": Side(advq, lambda stdout: history_seconds(run_dir / "history.csv")),
    }


def history_seconds(history: Path) -> float:
    """The summed per-epoch seconds of an advq run (its training loop, checkpoints excluded)."""
    with history.open() as handle:
        return sum(float(row["seconds"]) for row in csv.DictReader(handle))


def main() -> None:
    args = parse_args()
    if not dataset_available(args.dataset) and not args.data_dir:
        print(f"{args.dataset} not found; falling back to the embedded digits.")
        args.dataset, args.n_train = "digits", min(args.n_train, 1437)
    with tempfile.TemporaryDirectory(prefix="advq-bench-") as tmp:
        work = Path(tmp)
        data_dir = args.data_dir
        if args.synthetic:
            data_dir = str(write_synthetic_cifar10(work / "data", args.n_train))
        print_machine(args.device, args.threads)
        print(
            f"workload: PGD-AT, {args.model} on {args.dataset} ({args.n_train} examples), {args.epochs} epochs, "
            f"batch {args.batch_size}, ε {args.eps}, {args.steps} steps of {args.step_size}; "
            f"advq extra options: {args.advq_args or 'none'}; median of {args.repeats} runs"
        )
        times = median_times(sides(args, work, data_dir), args.repeats, thread_env(args.threads))
    examples = args.n_train * args.epochs
    for name, t in times.items():
        print(f"{name:>9}: {t.wall:7.2f} s  {examples / t.wall:8.1f} examples/s whole process "
              f"(CPU {t.cpu:.2f} s); training loop {t.loop:.2f} s  {examples / t.loop:8.1f} examples/s")
    reference, advq = times["reference"], times["advq"]
    print(f"ratio (reference time / advq time): {reference.wall / advq.wall:.2f} whole process "
          f"(CPU time {reference.cpu / advq.cpu:.2f}); training loop {reference.loop / advq.loop:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    parser.add_argument("--dataset", default="fashion-mnist", help="falls back to digits when Fashion-MNIST is missing")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--synthetic", action="store_true", help="random CIFAR-10-shaped data (with --dataset cifar10)")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--milestones", default="", help="epochs where the learning rate drops (default: none)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--eps", default="0.1")
    parser.add_argument("--step-size", default="0.025")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for both sides (OMP/MKL_NUM_THREADS); default: each program's own choice. "
        "On a shared machine 1 keeps others' load from dominating the timings.",
    )
    parser.add_argument("--advq-args", default="", help="extra options for `advq train`, e.g. \"--amp --channels-last\"")
    args = parser.parse_args()
    args.device = args.device or default_device()
    if args.synthetic and args.dataset != "cifar10":
        parser.error("--synthetic writes CIFAR-10-shaped data: use it with --dataset cifar10")
    return args


if __name__ == "__main__":
    main()

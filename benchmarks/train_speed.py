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
import re
import shlex
import sys
from pathlib import Path

from common import (
    Side, first_examples, history_seconds, parse_workload_args, time_training_sides, training_arguments,
)

HERE = Path(__file__).resolve().parent
EPOCH_SECONDS = re.compile(r"^epoch \d+: .* \(([0-9.]+) s\)$", re.MULTILINE)
"""How `reference_train.py` reports each epoch's seconds."""


def sides(args: argparse.Namespace, work: Path, data_dir: str | None) -> dict[str, Side]:
    """The two command lines, sharing every setting."""
    shared = training_arguments(args, data_dir)
    run_dir = work / "advq-run"
    advq = [
        sys.executable, "-m", "advq_cli", "train", *shared, "--method", "pgd-at",
        "--subset", str(first_examples(work, args.n_train)), "--eval-examples", "0", "--out", str(run_dir),
        "--overwrite", *shlex.split(args.advq_args),
    ]
    reference = [
        sys.executable, str(HERE / "reference_train.py"), *shared, "--n-train", str(args.n_train),
        "--out", str(work / "reference.pt"),
    ]
    return {
        "reference": Side(reference, lambda stdout: sum(map(float, EPOCH_SECONDS.findall(stdout)))),
        "advq": Side(advq, lambda stdout: history_seconds(run_dir / "history.csv")),
    }


def main() -> None:
    args = parse_workload_args(
        __doc__.split("\n\n")[0], "extra options for `advq train`, e.g. \"--amp --channels-last\""
    )
    times = time_training_sides(args, sides, f"advq extra options: {args.advq_args or 'none'}")
    examples = args.n_train * args.epochs
    for name, t in times.items():
        print(f"{name:>9}: {t.wall:7.2f} s  {examples / t.wall:8.1f} examples/s whole process "
              f"(CPU {t.cpu:.2f} s); training loop {t.loop:.2f} s  {examples / t.loop:8.1f} examples/s")
    reference, advq = times["reference"], times["advq"]
    print(f"ratio (reference time / advq time): {reference.wall / advq.wall:.2f} whole process "
          f"(CPU time {reference.cpu / advq.cpu:.2f}); training loop {reference.loop / advq.loop:.2f}")


if __name__ == "__main__":
    main()

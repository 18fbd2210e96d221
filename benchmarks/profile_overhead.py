"""`advq profile` (one run) against `advq train` doing the same training, whole process to whole process.

Both sides adversarially train the same model on the same first N examples with the same
seed, attack, optimiser and epochs, without per-epoch evaluation. The profile also
records every example under the training attack each epoch, writes its HDF5 file after
every epoch, and computes the measures at the end (among them the minimum-perturbation
search: up to 32 I-FGSM steps over the training set at the best checkpoint), which
training has no counterpart for. The script prints both the whole-process ratio and the
ratio of the training loops (summed epoch seconds as each run logged them), so the cost
of recording and the fixed cost of the measures can be told apart. Ratio = profile time /
train time: 1.05 means profiling adds 5 %.

    python benchmarks/profile_overhead.py --device cpu
    python benchmarks/profile_overhead.py --device cuda --dataset cifar10 --synthetic \\
        --model preact-resnet18 --n-train 50000 --epochs 2 --steps 10 --eps 8/255 --step-size 2/255
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from common import (
    Side, first_examples, history_seconds, parse_workload_args, time_training_sides, training_arguments,
)


def sides(args: argparse.Namespace, work: Path, data_dir: str | None) -> dict[str, Side]:
    """`advq train` and `advq profile --repeats 1` with every training option in common."""
    common = [
        *training_arguments(args, data_dir), "--method", "pgd-at", "--subset", str(first_examples(work, args.n_train)),
        "--eval-examples", "0", "--overwrite", *shlex.split(args.advq_args),
    ]
    run_dir, profile = work / "train-run", work / "profile.h5"
    train = [sys.executable, "-m", "advq_cli", "train", *common, "--out", str(run_dir)]
    prof = [sys.executable, "-m", "advq_cli", "profile", *common, "--repeats", "1", "--out", str(profile)]
    return {
        "train": Side(train, lambda stdout: history_seconds(run_dir / "history.csv")),
        "profile": Side(prof, lambda stdout: profile_epoch_seconds(profile)),
    }


def profile_epoch_seconds(profile: Path) -> float:
    """The summed epoch seconds of the profile's run, from the history in its last checkpoint."""
    last = profile.with_name(profile.name + ".runs") / "seed-0" / "last.pt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    return sum(float(row["seconds"]) for row in state["history"])


def main() -> None:
    args = parse_workload_args(__doc__.split("\n\n")[0], "extra options for both advq commands, e.g. \"--amp\"")
    times = time_training_sides(args, sides, "no evaluation; profile: 1 run")
    for name, t in times.items():
        print(f"{name:>8}: {t.wall:7.2f} s whole process (CPU {t.cpu:.2f} s); training loop {t.loop:.2f} s; "
              f"the rest (start-up, saving{', measures' if name == 'profile' else ''}) {t.wall - t.loop:.2f} s")
    train, prof = times["train"], times["profile"]
    print(f"ratio (profile time / train time): {prof.wall / train.wall:.3f} whole process "
          f"(CPU time {prof.cpu / train.cpu:.3f}); training loop {prof.loop / train.loop:.3f}")


if __name__ == "__main__":
    main()

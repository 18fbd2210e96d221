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
import tempfile
from pathlib import Path

import torch

from common import (
    Side, add_workload_arguments, check_workload, first_examples, history_seconds, median_times, prepare_data,
    print_machine, thread_env, training_arguments,
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
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="advq-bench-") as tmp:
        work = Path(tmp)
        data_dir = prepare_data(args, work)
        print_machine(args.device, args.threads)
        print(
            f"workload: PGD-AT, {args.model} on {args.dataset} ({args.n_train} examples), {args.epochs} epochs, "
            f"batch {args.batch_size}, ε {args.eps}, {args.steps} steps of {args.step_size}, no evaluation; "
            f"profile: 1 run; median of {args.repeats} runs"
        )
        times = median_times(sides(args, work, data_dir), args.repeats, thread_env(args.threads))
    for name, t in times.items():
        print(f"{name:>8}: {t.wall:7.2f} s whole process (CPU {t.cpu:.2f} s); training loop {t.loop:.2f} s; "
              f"the rest (start-up, saving{', measures' if name == 'profile' else ''}) {t.wall - t.loop:.2f} s")
    train, prof = times["train"], times["profile"]
    print(f"ratio (profile time / train time): {prof.wall / train.wall:.3f} whole process "
          f"(CPU time {prof.cpu / train.cpu:.3f}); training loop {prof.loop / train.loop:.3f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_workload_arguments(parser)
    parser.add_argument("--advq-args", default="", help="extra options for both advq commands, e.g. \"--amp\"")
    return check_workload(parser, parser.parse_args())


if __name__ == "__main__":
    main()

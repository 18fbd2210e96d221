"""`advq profile` of R runs one after another against the same R runs trained together in one pass.

For each model and each R, both sides are whole `advq profile --repeats R` processes with
the same options: the reference trains the runs one at a time (`--runs-together 1`, what
advq did before), the other stacks them (`--runs-together R`: one process, one copy of the
data, every step attacking and updating all R models at once). Both record every example
each epoch, evaluate each run and compute each run's measures at the end. The script
prints the medians, wall clock and CPU time, and the ratio sequential / together: 2.0
means the R runs take half as long together. On a shared machine the CPU-time ratio is
the steadier figure.

    python benchmarks/profile_runs.py --device cpu --threads 1
    python benchmarks/profile_runs.py --device cpu --models small-cnn --runs 1,2,4 --n-train 512 --repeats 1
    python benchmarks/profile_runs.py --device cuda --dataset cifar10 --synthetic --models preact-resnet18 \\
        --n-train 10000 --epochs 1 --steps 10 --eps 8/255 --step-size 2/255 --runs 1,2,4,8
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from common import (
    Side, Timing, add_workload_arguments, check_workload, first_examples, median_times, prepared_workload, thread_env,
    training_arguments,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_workload_arguments(parser)
    parser.set_defaults(n_train=1024, epochs=2, steps=3)
    parser.add_argument("--models", default="mlp,small-cnn", help="comma-separated models (default: mlp,small-cnn)")
    parser.add_argument("--runs", default="1,2,4,8", help="comma-separated numbers of runs R (default: 1,2,4,8)")
    parser.add_argument("--eval-examples", type=int, default=256, help="test examples each run is evaluated on")
    parser.add_argument("--advq-args", default="", help="extra options for both sides, e.g. \"--amp\"")
    return check_workload(parser, parser.parse_args())


def sides(args: argparse.Namespace, work: Path, data_dir: str | None, model: str, runs: int) -> dict[str, Side]:
    """`advq profile --repeats R`, the runs one at a time and all together."""
    common = [
        *training_arguments(argparse.Namespace(**{**vars(args), "model": model}), data_dir),
        "--method", "pgd-at", "--subset", str(first_examples(work, args.n_train)),
        "--eval-examples", str(args.eval_examples), "--repeats", str(runs), "--overwrite", *shlex.split(args.advq_args),
    ]
    compared = {}
    for name, together in (("sequential", 1), ("together", runs)):
        out = work / f"{model}-{runs}-{name}.h5"
        command = [sys.executable, "-m", "advq_cli", "profile", *common, "--runs-together", str(together), "--out", str(out)]
        compared[name] = Side(command, lambda stdout, out=out, together=together: loop_seconds(out, runs, together))
    return compared


def loop_seconds(profile: Path, runs: int, together: int) -> float:
    """The training loops' seconds: every run's epoch seconds summed, a group's counted once
    (the runs of a group log the same epoch times)."""
    folder = profile.with_name(profile.name + ".runs")
    total = 0.0
    for k in range(runs):
        state = torch.load(folder / f"seed-{k}" / "last.pt", map_location="cpu", weights_only=True)
        total += sum(float(row["seconds"]) for row in state["history"])
    return total / together


def report(model: str, runs: int, times: dict[str, Timing]) -> None:
    for name, t in times.items():
        print(f"{model} R={runs} {name:>10}: {t.wall:7.2f} s whole process (CPU {t.cpu:.2f} s); "
              f"training loops {t.loop:.2f} s")
    seq, tog = times["sequential"], times["together"]
    print(f"{model} R={runs} ratio (sequential time / together time): {seq.wall / tog.wall:.3f} whole process "
          f"(CPU time {seq.cpu / tog.cpu:.3f}); training loops {seq.loop / tog.loop:.3f}", flush=True)


def main() -> None:
    args = parse_args()
    models = [m for m in args.models.split(",") if m]
    counts = [int(r) for r in args.runs.split(",") if r]
    args.model = ", ".join(models)
    note = f"advq profile of R runs, {args.eval_examples} evaluation examples each"
    with prepared_workload(args, note) as (work, data_dir):
        for model in models:
            for runs in counts:
                times = median_times(sides(args, work, data_dir, model, runs), args.repeats, thread_env(args.threads))
                report(model, runs, times)

if __name__ == "__main__":
    main()

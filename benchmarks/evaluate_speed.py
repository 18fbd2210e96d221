"""`advq evaluate` against calling the attack libraries directly, whole process to whole process.

One checkpoint (given, or trained first with `advq train`, untimed), the first N test
examples, one attack at a time: PGD-10 (advq's own, against torchattacks' PGD with the
same 10 steps of ε/4 from a random start) and standard AutoAttack (advq calls the
reference implementation too, so this side measures what advq adds around it: data
handling, the ε-ball check, the results file). Each side is a fresh `python` process
timed with a wall clock; the median of ``--repeats`` interleaved runs counts. Ratio =
reference time / advq time: ≥ 1.0 means advq is at least as fast.

    python benchmarks/evaluate_speed.py --device cpu
    python benchmarks/evaluate_speed.py --device cuda --checkpoint runs/cifar10/best.pt \\
        --n-examples 10000 --autoattack-examples 1000
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py

from common import (
    Side, add_threads_argument, dataset_available, default_device, first_examples, median_times, print_machine,
    thread_env,
)

HERE = Path(__file__).resolve().parent
ATTACK_SECONDS = re.compile(r"^attack seconds: ([0-9.]+)$", re.MULTILINE)


def train_checkpoint(args: argparse.Namespace, work: Path) -> Path:
    """An mlp adversarially trained on 3,000 Fashion-MNIST examples (or the digits) to attack (not timed)."""
    dataset, n_train = ("fashion-mnist", 3000) if dataset_available("fashion-mnist") else ("digits", 1437)
    out = work / "target"
    command = [
        sys.executable, "-m", "advq_cli", "train", "--dataset", dataset, "--model", "mlp", "--method", "pgd-at",
        "--eps", "0.1", "--steps", "5", "--step-size", "0.025", "--epochs", "3", "--milestones", "",
        "--eval-examples", "0", "--device", args.device, "--subset", str(first_examples(work, n_train)),
        "--out", str(out),
    ]
    print(f"training the target: {' '.join(command[3:])}", flush=True)
    subprocess.run(command, check=True, capture_output=True)
    return out / "best.pt"


def sides(args: argparse.Namespace, checkpoint: Path, attack: str, n: int, work: Path) -> dict[str, Side]:
    results = work / f"{attack}.h5"
    advq = [
        sys.executable, "-m", "advq_cli", "evaluate", str(checkpoint), "--attacks", attack, "--n-examples", str(n),
        "--batch-size", str(args.batch_size), "--device", args.device, "--out", str(results), "--overwrite",
    ]
    reference = [
        sys.executable, str(HERE / "reference_evaluate.py"), str(checkpoint), "--attack", attack,
        "--n-examples", str(n), "--batch-size", str(args.batch_size), "--device", args.device,
    ]
    return {
        "reference": Side(reference, lambda stdout: float(ATTACK_SECONDS.search(stdout).group(1))),
        "advq": Side(advq, lambda stdout: attack_seconds(results, attack)),
    }


def attack_seconds(results: Path, attack: str) -> float:
    with h5py.File(results, "r") as handle:
        return float(handle["attacks"][attack].attrs["seconds"])


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="advq-bench-") as tmp:
        work = Path(tmp)
        checkpoint = Path(args.checkpoint) if args.checkpoint else train_checkpoint(args, work)
        print_machine(args.device, args.threads)
        sizes = {"pgd-10": args.n_examples, "autoattack": args.autoattack_examples}
        ratios = {}
        for attack, n in sizes.items():
            if n == 0:
                continue
            print(f"workload: {attack} on the first {n} test examples of {checkpoint}, batch {args.batch_size}; "
                  f"median of {args.repeats} runs")
            times = median_times(sides(args, checkpoint, attack, n, work), args.repeats, thread_env(args.threads))
            for name, t in times.items():
                print(f"{name:>9}: {t.wall:7.2f} s  {n / t.wall:8.1f} examples/s whole process (CPU {t.cpu:.2f} s); "
                      f"attack {t.loop:.2f} s  {n / t.loop:8.1f} examples/s")
            reference, advq = times["reference"], times["advq"]
            ratios[attack] = reference.wall / advq.wall
            print(f"{attack} ratio (reference time / advq time): {ratios[attack]:.2f} whole process "
                  f"(CPU time {reference.cpu / advq.cpu:.2f}); attack alone {reference.loop / advq.loop:.2f}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda when available)")
    parser.add_argument("--checkpoint", default=None, help="the model to attack (default: train an mlp first)")
    parser.add_argument("--n-examples", type=int, default=1000, help="test examples for PGD-10")
    parser.add_argument("--autoattack-examples", type=int, default=50, help="test examples for AutoAttack (0: skip)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    add_threads_argument(parser)
    args = parser.parse_args()
    args.device = args.device or default_device()
    return args


if __name__ == "__main__":
    main()

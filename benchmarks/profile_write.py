"""What one epoch of `advq profile` costs to record: the whole-file rewrite it used to be
against the row file it is now, for synthetic rows of N examples.

Not a timing of training: it writes the record of one epoch, as a profile does after
each, into a profile file that already holds R − 1 complete runs of E epochs and the run
in progress up to epoch ``--at`` − 1. "before" is the former write, ``h5store.updating``
(read the whole file, change it in memory, write it beside and replace it) around
``store.write_epoch``; "after" is ``epoch_rows.append_epoch`` (one small file, written
beside and renamed). Both fsync. It also times the fold that ends a run (all E row files
into the file in one update), and the row file written compressed, for comparison.
Figures are medians of ``--repeats`` writes; bytes are the sizes of the files written.

    python benchmarks/profile_write.py                         # N = 50,000 and 1,281,167; 100 epochs; 1 and 4 runs
    python benchmarks/profile_write.py --n 2000 --epochs 6 --at 3 --runs 1,2 --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from advq_cli.atomic import atomic_path
from advq_cli.h5store import stamp, updating
from advq_cli.profiling.epoch_rows import append_epoch, fold_epochs, row_file
from advq_cli.profiling.store import FORMAT, finish_run, start_run, write_epoch
from advq_cli.training import TrainConfig

from common import print_machine

RUN = dict(dataset="synthetic", model="preact-resnet18", method="pgd-at", milestones=[], device="cpu",
           eval_eps=8 / 255, eval_step_size=2 / 255, eval_steps=10)


def synthetic_epoch(n: int, epoch: int, epochs: int, difficulty: np.ndarray, rng: np.random.Generator):
    """``correct`` (int8) and ``true_prob`` (float16) of one epoch: learned as the epoch passes the difficulty."""
    prob = 1 / (1 + np.exp(-8 * (epoch / epochs - difficulty + rng.normal(0, 0.15, n))))
    return (rng.uniform(size=n) < prob).astype(np.int8), prob.astype(np.float16)


def write_profile(path: Path, runs: int, epochs: int, done: int, difficulty: np.ndarray, rng: np.random.Generator) -> None:
    """R − 1 complete runs of ``epochs`` epochs and a partial last run holding ``done`` epochs (built directly)."""
    n = len(difficulty)
    with h5py.File(path, "w") as handle:
        stamp(handle, FORMAT, "synthetic", "0" * 16, n_train=n, config="")
        for seed in range(runs):
            run_id = f"seed-{seed}"
            start_run(handle, run_id, TrainConfig(seed=seed, epochs=epochs, **RUN), n, n, f"{path.name}.runs/{run_id}")
            last = seed == runs - 1
            for epoch in range(1, (done if last else epochs) + 1):
                write_epoch(handle, run_id, epoch, *synthetic_epoch(n, epoch, epochs, difficulty, rng), best_epoch=epoch)
            if not last:
                finish_run(handle, run_id, {"instability": rng.uniform(0, epochs, n)})


def median_seconds(write: Callable[[], None], repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        write()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def compressed_row(path: Path, correct: np.ndarray, true_prob: np.ndarray) -> None:
    """The row file as ``np.savez_compressed`` would write it: the alternative not taken."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, correct=correct, true_prob=true_prob)


def measure(folder: Path, n: int, runs: int, epochs: int, at: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0, 1, n)
    path = folder / "profile.h5"
    write_profile(path, runs, epochs, at - 1, difficulty, rng)
    run_id, run_dir = f"seed-{runs - 1}", folder / f"{path.name}.runs" / f"seed-{runs - 1}"
    correct, true_prob = synthetic_epoch(n, at, epochs, difficulty, rng)
    attrs = dict(best_epoch=at, best_robust_acc=0.5, best_clean_acc=0.8, train_robust_acc=0.4)
    held = path.stat().st_size

    def before() -> None:
        with updating(path) as handle:
            write_epoch(handle, run_id, at, correct, true_prob, **attrs)

    before_s = median_seconds(before, repeats)
    before_bytes = path.stat().st_size
    after_s = median_seconds(lambda: append_epoch(run_dir, at, correct, true_prob, **attrs), repeats)
    after_bytes = row_file(run_dir, at).stat().st_size
    packed = folder / "compressed.npz"
    packed_s = median_seconds(lambda: compressed_row(packed, correct, true_prob), repeats)

    print(f"N = {n:,}, {runs} run(s) × {epochs} epochs, writing epoch {at} of run {runs} "
          f"(file before the write: {held / 1e6:.1f} MB)")
    print(f"  before (whole file rewritten): {before_s:.3f} s, {before_bytes / 1e6:.2f} MB written per epoch")
    print(f"  after (one row file):          {after_s:.3f} s, {after_bytes / 1e6:.2f} MB written per epoch")
    print(f"  row file compressed instead:   {packed_s:.3f} s, {packed.stat().st_size / 1e6:.2f} MB")
    print(f"  ratio (before bytes / after bytes): {before_bytes / after_bytes:.1f}")
    print(f"  ratio (before time / after time): {before_s / after_s:.1f}")

    # the end of the run: all of its epochs wait as row files, the file holds none of them
    with h5py.File(path, "r+") as handle:
        del handle["runs"][run_id]
        start_run(handle, run_id, TrainConfig(seed=runs - 1, epochs=epochs, **RUN), n, n, "")
    for epoch in range(1, epochs + 1):
        append_epoch(run_dir, epoch, *synthetic_epoch(n, epoch, epochs, difficulty, rng), **attrs)
    started = time.perf_counter()
    fold_epochs(path, run_id, run_dir)
    print(f"  fold at the end of the run ({epochs} row files into the file): {time.perf_counter() - started:.2f} s, "
          f"{path.stat().st_size / 1e6:.1f} MB written once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="50000,1281167", help="training examples, comma-separated")
    parser.add_argument("--runs", default="1,4", help="runs in the file (the last in progress), comma-separated")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--at", type=int, default=50, help="the epoch written")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not 1 <= args.at <= args.epochs:
        parser.error(f"--at must be between 1 and --epochs, got {args.at}")
    print_machine("cpu")
    for n in map(int, args.n.split(",")):
        for runs in map(int, args.runs.split(",")):
            with tempfile.TemporaryDirectory(prefix="advq-bench-") as folder:
                measure(Path(folder), n, runs, args.epochs, args.at, args.repeats)


if __name__ == "__main__":
    main()

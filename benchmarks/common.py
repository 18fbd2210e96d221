"""What every benchmark shares: the machine's description, timed subprocesses, test data.

Benchmarks compare whole processes (start-up and data loading included), so each side runs
as its own `python` subprocess, timed from outside with a wall clock (the figure), its CPU
time beside it, and the seconds of its main loop as it reports them.
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
CIFAR_SHAPE = (3, 32, 32)


def machine(device: str, threads: int | None = None) -> dict[str, str]:
    """CPU model, cores, torch version and threads, the load (others' work skews timings),
    and the GPU when the device is CUDA."""
    import torch

    info = {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch threads": str(threads or torch.get_num_threads()),
        "device": device,
        "load average": "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg()),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its command line, and how to read from its standard output
    the seconds its main loop took (start-up, data loading and saving excluded)."""

    command: list[str]
    loop_seconds: Callable[[str], float]


@dataclass(frozen=True)
class Timing:
    """One whole process: wall-clock seconds, the CPU seconds (user + system) it used, and
    the seconds of its main loop as the process itself measured them.

    The wall clock is the figure. CPU time is shown beside it because, with one thread per
    process, it hardly moves when other work shares the machine; the loop seconds show how
    much of a process is start-up.
    """

    wall: float
    cpu: float
    loop: float


def timed_run(side: Side, env: dict[str, str] | None = None) -> Timing:
    """Time one whole process; its output is shown only if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(side.command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"benchmark command failed ({done.returncode}): {' '.join(side.command)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu, side.loop_seconds(done.stdout))


def thread_env(threads: int | None) -> dict[str, str] | None:
    """The environment for the timed processes: OMP/MKL_NUM_THREADS fixed when asked, else inherited."""
    if threads is None:
        return None
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def median_times(sides: dict[str, Side], repeats: int, env: dict[str, str] | None = None) -> dict[str, Timing]:
    """Run every side ``repeats`` times, interleaved so that a noisy neighbour hits all alike;
    the medians of each."""
    times: dict[str, list[Timing]] = {name: [] for name in sides}
    for repeat in range(repeats):
        for name, side in sides.items():
            times[name].append(t := timed_run(side, env))
            print(f"  run {repeat + 1}/{repeats} {name}: {t.wall:.2f} s (CPU {t.cpu:.2f} s, loop {t.loop:.2f} s)",
                  flush=True)
    return {
        name: Timing(*(statistics.median(getattr(t, part) for t in runs) for part in ("wall", "cpu", "loop")))
        for name, runs in times.items()
    }


def print_machine(device: str, threads: int | None = None) -> None:
    print("machine: " + "; ".join(f"{k} {v}" for k, v in machine(device, threads).items()))


def dataset_available(name: str) -> bool:
    """Fashion-MNIST is the only dataset the CPU benchmarks look for; the rest need --data-dir."""
    return name != "fashion-mnist" or any(FASHION_MNIST_DIR.glob("train-images-idx3-ubyte*"))


def write_synthetic_cifar10(root: Path, n_train: int, n_test: int = 100, seed: int = 0) -> Path:
    """Random CIFAR-10-shaped data in torchvision's `cifar-10-batches-py` layout, for GPU runs
    where the real files are not at hand (speed does not depend on the pixels)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    per_batch = -(-n_train // 5)
    size = int(np.prod(CIFAR_SHAPE))
    batches = {f"data_batch_{i}": per_batch for i in range(1, 6)} | {"test_batch": n_test}
    for name, n in batches.items():
        content = {b"data": rng.integers(0, 256, (n, size), dtype=np.uint8), b"labels": rng.integers(0, 10, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(content))
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return root


def add_workload_arguments(parser: argparse.ArgumentParser) -> None:
    """The PGD-AT workload every training benchmark shares (both sides get the same)."""
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
    add_threads_argument(parser)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads for both sides (OMP/MKL_NUM_THREADS); default: each program's own choice. "
        "On a shared machine 1 keeps others' load from dominating the timings.",
    )


def check_workload(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Fill the default device and refuse --synthetic without CIFAR-10."""
    args.device = args.device or default_device()
    if args.synthetic and args.dataset != "cifar10":
        parser.error("--synthetic writes CIFAR-10-shaped data: use it with --dataset cifar10")
    return args


def prepare_data(args: argparse.Namespace, work: Path) -> str | None:
    """The data folder both sides read: synthetic CIFAR-10 when asked; digits stands in for a
    missing Fashion-MNIST (``args`` is updated to say so)."""
    if not dataset_available(args.dataset) and not args.data_dir:
        print(f"{args.dataset} not found; falling back to the embedded digits.")
        args.dataset, args.n_train = "digits", min(args.n_train, 1437)
    if args.synthetic:
        return str(write_synthetic_cifar10(work / "data", args.n_train))
    return args.data_dir


def training_arguments(args: argparse.Namespace, data_dir: str | None) -> list[str]:
    """The options `advq train`, `advq profile` and the reference loop share."""
    return [
        "--dataset", args.dataset, "--model", args.model, "--epochs", str(args.epochs), "--milestones", args.milestones,
        "--batch-size", str(args.batch_size), "--eps", args.eps, "--steps", str(args.steps),
        "--step-size", args.step_size, "--seed", "0", "--device", args.device,
        *(["--data-dir", data_dir] if data_dir else []),
    ]


def first_examples(work: Path, n: int) -> Path:
    """An index file selecting the first ``n`` training examples (advq's ``--subset``)."""
    subset = work / "subset.npy"
    np.save(subset, np.arange(n, dtype=np.int64))
    return subset


def history_seconds(history: Path) -> float:
    """The summed per-epoch seconds of an advq run (its training loop, checkpoints excluded)."""
    with history.open() as handle:
        return sum(float(row["seconds"]) for row in csv.DictReader(handle))


def parse_workload_args(description: str, advq_args_help: str) -> argparse.Namespace:
    """The command line of a training benchmark: the shared workload and ``--advq-args``."""
    parser = argparse.ArgumentParser(description=description)
    add_workload_arguments(parser)
    parser.add_argument("--advq-args", default="", help=advq_args_help)
    return check_workload(parser, parser.parse_args())


@contextmanager
def prepared_workload(args: argparse.Namespace, note: str) -> Iterator[tuple[Path, str | None]]:
    """A scratch folder with the data prepared (and its data folder), once the machine and the workload are printed."""
    with tempfile.TemporaryDirectory(prefix="advq-bench-") as tmp:
        work = Path(tmp)
        data_dir = prepare_data(args, work)
        print_machine(args.device, args.threads)
        print(
            f"workload: PGD-AT, {args.model} on {args.dataset} ({args.n_train} examples), {args.epochs} epochs, "
            f"batch {args.batch_size}, ε {args.eps}, {args.steps} steps of {args.step_size}; {note}; "
            f"median of {args.repeats} runs"
        )
        yield work, data_dir


def time_training_sides(
    args: argparse.Namespace, sides: Callable[[argparse.Namespace, Path, str | None], dict[str, Side]], note: str
) -> dict[str, Timing]:
    """Prepare the data in a scratch folder, print the machine and the workload, and time the sides."""
    with prepared_workload(args, note) as (work, data_dir):
        return median_times(sides(args, work, data_dir), args.repeats, thread_env(args.threads))

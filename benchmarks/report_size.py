"""The size of `advq explain report`'s page for a CIFAR-10-sized profile, made synthetically.

Not a speed claim: it answers "how large is the HTML file of a 50,000-example profile?"
without CIFAR-10 on disk. A dataset plugin registered here gives N colour images of 32×32
(smooth random fields with pixel noise, which compress about as well as photographs do
as PNG; ``--images noise`` gives the worst case) in 10 classes, and a profile of R runs × E
epochs is written through advq's own profile store with per-example difficulties that make
the runs agree as real ones do. The script prints the page's size and what it holds.

    python benchmarks/report_size.py                      # 50,000 examples, 10 runs, 160 epochs
    python benchmarks/report_size.py --n 2000 --runs 2 --epochs 5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from advq_cli import hookimpl
from advq_cli.datasets import DatasetBundle
from advq_cli.explaining.html_report import ReportConfig, explain_report
from advq_cli.h5store import updating
from advq_cli.plugins import register_plugin
from advq_cli.profiling import ProfileConfig
from advq_cli.profiling.ranks import normalised_rank
from advq_cli.profiling.store import create_profile, finish_run, start_run, update_quality, write_epoch
from advq_cli.training import TrainConfig

NAME = "synthetic-cifar"


def synthetic_images(n: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    """(n, 3, 32, 32) uint8: uniform noise, or 8×8 random fields upsampled with pixel noise."""
    if kind == "noise":
        return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    coarse = torch.from_numpy(rng.uniform(0, 255, size=(n, 3, 8, 8)).astype(np.float32))
    smooth = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False).numpy()
    return np.clip(smooth + rng.normal(0, 6, size=smooth.shape), 0, 255).astype(np.uint8)


def dataset_plugin(n: int, kind: str) -> object:
    class Plugin:
        @hookimpl
        def advq_register_datasets(self, register):
            def load(data_dir: Path | None = None, download: bool = False) -> DatasetBundle:
                rng = np.random.default_rng(0)
                images = torch.from_numpy(synthetic_images(n + 100, rng, kind))
                labels = torch.from_numpy(np.arange(n + 100) % 10)
                return DatasetBundle(
                    NAME, images[:n], labels[:n], images[n:], labels[n:], tuple(f"class-{c}" for c in range(10)),
                    (0.5,) * 3, (0.25,) * 3,
                )

            register(NAME, load, description="synthetic CIFAR-10-sized images (benchmarks/report_size.py)")

    return Plugin()


def write_profile(path: Path, n: int, runs: int, epochs: int) -> None:
    """R complete runs whose correctness grows with the epoch and falls with a per-example difficulty."""
    from advq_cli.lookups import get_dataset

    bundle = get_dataset(NAME)
    train = dict(dataset=NAME, model="preact-resnet18", method="pgd-at", epochs=epochs, milestones=[], device="cpu")
    create_profile(path, bundle, ProfileConfig(out=path, repeats=runs, **train))
    difficulty = np.random.default_rng(1).uniform(0, 1, n)
    for seed in range(runs):
        rng = np.random.default_rng(100 + seed)
        with updating(path) as handle:
            config = TrainConfig(seed=seed, **train).with_evaluation_threat(bundle)
            start_run(handle, f"seed-{seed}", config, n, n, f"{path.name}.runs/seed-{seed}")
            probs = []
            for epoch in range(1, epochs + 1):
                progress = epoch / epochs
                prob = 1 / (1 + np.exp(-8 * (progress - difficulty + rng.normal(0, 0.15, n))))
                probs.append(prob)
                write_epoch(handle, f"seed-{seed}", epoch, (rng.uniform(size=n) < prob).astype(np.int8), prob.astype(np.float16))
            correct = handle["runs"][f"seed-{seed}"]["correct"][()]
            probs = np.array(probs)
            learned = np.where(correct.any(0), correct.argmax(0) + 1, epochs + 1)
            instability = (correct == 0).sum(0)
            finish_run(handle, f"seed-{seed}", {
                "instability": instability, "problem_rank": normalised_rank(instability), "confidence": probs.mean(0), "variability": probs.std(0),
                "first_learned_epoch": learned, "forgetting_events": ((correct[:-1] == 1) & (correct[1:] == 0)).sum(0),
                "true_prob": probs[-1], "min_perturbation": np.clip(difficulty[::-1] + rng.normal(0, 0.1, n), 0, 1),
            })
            update_quality(handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="training examples")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=160)
    parser.add_argument("--max-points", type=int, default=5000)
    parser.add_argument("--per-class", type=int, default=24)
    parser.add_argument("--images", choices=("smooth", "noise"), default="smooth")
    parser.add_argument("--out", type=Path, help="keep the page here (default: only measure it)")
    args = parser.parse_args()
    register_plugin(dataset_plugin(args.n, args.images), name="report-size-benchmark")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "profile.h5"
        started = time.perf_counter()
        write_profile(path, args.n, args.runs, args.epochs)
        print(f"profile: {args.n} examples, {args.runs} runs × {args.epochs} epochs, "
              f"{path.stat().st_size / 1e6:.1f} MB, written in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        out = args.out or Path(folder) / "report.html"
        result = explain_report(ReportConfig(
            profile=path, out=out, overwrite=True, max_points=args.max_points, per_class=args.per_class,
        ))
        pictures = result.data["examples"]["image"]
        mean_picture = np.mean([len(uri) for uri in pictures])
        print(f"report: {result.size / 1e6:.1f} MB in {time.perf_counter() - started:.0f} s; "
              f"{len(result.data['map']['rows'])} points on the map, {len(pictures)} pictures "
              f"({args.images} images, {mean_picture:.0f} bytes each as a data URI)")
        print(f"with --checkpoint: + about {20 * args.per_class * mean_picture / 1e6:.1f} MB "
              f"for the adversarial counterparts of the {20 * args.per_class} extremes")


if __name__ == "__main__":
    main()

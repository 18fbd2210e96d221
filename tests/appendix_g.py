"""What the appendix-G tests (`advq explain finetune|competing`) share: a small real digits
profile, and the checks of what an experiment wrote."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from advq_cli.profiling import ProfileConfig, profile

TRAIN_EPS = 0.1
PROFILE = dict(
    dataset="digits", model="mlp", method="pgd-at", eps=TRAIN_EPS, steps=3, step_size=0.04, epochs=3,
    milestones=[], repeats=1, eval_examples=100, min_perturbation_max=8 / 255, device="cpu", seed=0,
)


def make_profile(folder: Path) -> Path:
    """A one-run PGD-AT mlp profile of digits (a few seconds); its checkpoint is ``checkpoint_of``."""
    path = folder / "digits.h5"
    profile(ProfileConfig(out=path, **PROFILE))
    return path


def checkpoint_of(profile_path: Path) -> Path:
    return profile_path.with_name(profile_path.name + ".runs") / "seed-0" / "best.pt"


def problem_rank(profile_path: Path) -> np.ndarray:
    with h5py.File(profile_path, "r") as handle:
        return handle["quality/problem_rank"][()]


def evaluation_file(path: Path) -> dict[str, np.ndarray]:
    """Labels and per-example correctness (``clean`` and each attack) of an evaluation file."""
    with h5py.File(path, "r") as handle:
        stored = {"labels": handle["labels"][()], "clean": handle["clean/correct"][()]}
        stored.update({name: group["correct"][()] for name, group in handle["attacks"].items()})
    return stored


def class_accuracy(correct: np.ndarray, labels: np.ndarray, k: int = 10) -> np.ndarray:
    """Accuracy within each class, computed by masks (NaN for an absent class)."""
    return np.array([correct[labels == c].mean() if (labels == c).any() else np.nan for c in range(k)])


def summary_of(out_dir: Path) -> dict:
    return json.loads((out_dir / "summary.json").read_text())


def as_array(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def check_files(result, figures: set[str]) -> None:
    """The figures, each a PNG of at least 1000×700 px, listed with report.md and summary.json."""
    assert {p.name for p in result.files} == figures | {"report.md", "summary.json"}
    assert set(result.drawn) == figures == set(summary_of(result.out_dir)["figures"])
    for name in figures:
        with Image.open(result.out_dir / name) as image:
            assert image.format == "PNG" and image.width >= 1000 and image.height >= 700
    assert not list(result.out_dir.rglob(".*.tmp"))

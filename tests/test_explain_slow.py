"""`advq explain` on a real Fashion-MNIST profile (a 3,000-example subset, CPU, minutes):
the paper's signs of Fig. 11, and the numbers equal to a recomputation from the file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.stats import spearmanr

from advq_cli.errors import DatasetNotFoundError
from advq_cli.explaining import (
    ConsistencyConfig, CorrelationsConfig, ExamplesConfig, explain_consistency, explain_correlations, explain_examples,
)
from advq_cli.profiling import ProfileConfig, profile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fashion_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from advq_cli.lookups import get_dataset

    try:
        fashion = get_dataset("fashion-mnist")
    except DatasetNotFoundError as exc:  # the idx files are not on this machine and no download
        pytest.skip(str(exc))
    labels = fashion.train_labels.numpy()
    rng = np.random.default_rng(0)  # a seeded class-balanced sample: 300 of each of the 10 classes
    indices = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), 300, replace=False) for c in range(10)]))
    folder = tmp_path_factory.mktemp("fashion-explain")
    np.save(folder / "subset.npy", indices)
    out = folder / "fashion.h5"
    profile(ProfileConfig(
        dataset="fashion-mnist", model="mlp", method="pgd-at", eps=0.1, steps=5, step_size=0.025, epochs=6,
        milestones=[], lr=0.05, batch_size=128, eval_examples=1000, repeats=2, subset=str(folder / "subset.npy"),
        device="cpu", out=out,
    ))
    return out


def test_correlations_have_the_papers_signs(fashion_profile: Path, tmp_path: Path) -> None:
    result = explain_correlations(CorrelationsConfig(profile=fashion_profile, out_dir=tmp_path / "c"))
    rho = result.summary["spearman"]
    print("Fashion-MNIST Spearman with the problem rank:", {k: round(v, 4) for k, v in rho.items()})
    assert rho["true_prob"] < 0 and rho["min_perturbation"] < 0 and rho["first_learned_epoch"] > 0
    with h5py.File(fashion_profile, "r") as handle:
        rank = handle["quality/problem_rank"][()]
        for name, value in rho.items():
            values = handle["quality"][name][()]
            both = np.isfinite(rank) & np.isfinite(values)
            assert abs(value - spearmanr(values[both], rank[both]).statistic) <= 1e-12
    assert result.summary["n_examples"] == 3000


def test_consistency_and_examples(fashion_profile: Path, tmp_path: Path) -> None:
    runs = explain_consistency(ConsistencyConfig(profiles=[fashion_profile], out_dir=tmp_path / "s"))
    rho = runs.summary["spearman_matrix"]["values"][0][1]
    print("Fashion-MNIST problem rank, seed 0 against seed 1:", round(rho, 4))
    assert 0 < rho < 1
    examples = explain_examples(ExamplesConfig(profile=fashion_profile, out_dir=tmp_path / "e"))
    accuracy = examples.summary["accuracy"]
    print("Fashion-MNIST examples, accuracy (clean, adversarial):", accuracy)
    # the lowest-quality examples are the ones the model gets wrong more often
    assert accuracy["lowest_quality"]["clean"] < accuracy["highest_quality"]["clean"]

"""`advq profile` on real Fashion-MNIST (a 3,000-example subset, CPU, a couple of minutes)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.stats import spearmanr

from advq_cli.errors import DatasetNotFoundError
from advq_cli.profiling import ProfileConfig, profile

pytestmark = pytest.mark.slow

MEASURES = {
    "instability", "first_learned_epoch", "forgetting_events", "true_prob", "min_perturbation", "confidence",
    "variability", "problem_rank",
}
EPOCHS = 6


@pytest.fixture(scope="module")
def fashion():
    from advq_cli.lookups import get_dataset

    try:
        return get_dataset("fashion-mnist")
    except DatasetNotFoundError as exc:  # the idx files are not on this machine and no download
        pytest.skip(str(exc))


def test_fashion_mnist_profile(fashion, tmp_path: Path) -> None:
    # a seeded class-balanced sample: 300 of each of the 10 classes
    labels = fashion.train_labels.numpy()
    rng = np.random.default_rng(0)
    indices = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), 300, replace=False) for c in range(10)]))
    subset = tmp_path / "subset.npy"
    np.save(subset, indices)
    out = tmp_path / "fashion.h5"
    config = ProfileConfig(
        dataset="fashion-mnist", model="mlp", method="pgd-at", eps=0.1, steps=5, step_size=0.025, epochs=EPOCHS,
        milestones=[], lr=0.05, batch_size=128, eval_examples=1000, repeats=2, subset=str(subset), device="cpu",
        out=out,
    )
    result = profile(config)
    assert [r.status for r in result.runs] == ["complete", "complete"]

    inside = np.zeros(fashion.n_train, dtype=bool)
    inside[indices] = True
    with h5py.File(out, "r") as h:
        assert h.attrs["format"] == "advq-profile" and h.attrs["dataset"] == "fashion-mnist"
        assert int(h.attrs["n_train"]) == 60000 and h.attrs["dataset_fingerprint"] == fashion.fingerprint
        instabilities = []
        for run_id in ("seed-0", "seed-1"):
            run = h["runs"][run_id]
            assert run.attrs["status"] == "complete" and run.attrs["epochs_done"] == EPOCHS
            assert 1 <= run.attrs["best_epoch"] <= EPOCHS and run.attrs["n_trained"] == 3000
            correct = run["correct"][()]
            assert correct.shape == (EPOCHS, 60000) and run["true_prob"].shape == (EPOCHS, 60000)
            assert (correct[:, ~inside] == -1).all() and np.isin(correct[:, inside], [0, 1]).all()
            assert MEASURES <= set(run["measures"])
            instability = run["measures/instability"][()]
            np.testing.assert_array_equal(instability[inside], (correct[:, inside] == 0).sum(0))
            assert np.isnan(instability[~inside]).all()
            instabilities.append(instability[inside])
        assert MEASURES <= set(h["quality"])
        rank = h["quality/problem_rank"][()]
        assert np.isnan(rank[~inside]).all() and 0 <= rank[inside].min() and rank[inside].max() < 1
    rho = spearmanr(instabilities[0], instabilities[1]).statistic
    assert rho > 0.6, f"Spearman correlation of the two runs' instability: {rho:.3f}"

"""`advq evaluate` on a model adversarially trained on real Fashion-MNIST: the standard
AutoAttack is at least as strong as PGD-10, and our PGD-10 agrees with torchattacks'."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advq_cli import get_dataset, load_model
from advq_cli.datasets.fashion_mnist import DEBIAN_DIR
from advq_cli.evaluation import EvaluateConfig, evaluate
from advq_cli.training import TrainConfig, TrainResult, train

from test_attacks_suite import one_thread  # noqa: F401  (autouse: one thread for the attacks)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason=f"Fashion-MNIST not installed in {DEBIAN_DIR}"),
]

EPS = 0.1
N_TEST = 500
NOISE = 0.02  # two attacks on 500 examples: a few examples either way is noise


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """PGD-AT mlp on 3,000 random Fashion-MNIST training images (about half a minute)."""
    out = tmp_path_factory.mktemp("fashion")
    bundle = get_dataset("fashion-mnist", DEBIAN_DIR)
    np.save(out / "subset.npy", np.random.default_rng(0).choice(bundle.n_train, 3000, replace=False))
    return train(TrainConfig(
        dataset="fashion-mnist", data_dir=str(DEBIAN_DIR), subset=str(out / "subset.npy"), model="mlp",
        method="pgd-at", eps=EPS, steps=10, step_size=EPS / 4, epochs=8, milestones=[6], lr=0.05, eval_examples=0,
        device="cpu", out=out / "run",
    ))


def test_clean_then_pgd10_then_autoattack(fashion_run, tmp_path):
    pytest.importorskip("pyautoattack")
    result = evaluate(EvaluateConfig(
        checkpoint=fashion_run.out / "best.pt", attacks=["pgd-10", "autoattack"], n_examples=N_TEST, device="cpu",
        out=tmp_path / "eval.h5",
    ))
    clean, pgd10, autoattack = result.clean_accuracy, result.accuracies["pgd-10"], result.accuracies["autoattack"]
    assert clean > 0.6 and pgd10 > 0.3  # a model that learned something robust
    assert clean >= pgd10 >= autoattack - NOISE
    assert result.overestimation_gap == pytest.approx(pgd10 - autoattack)
    assert result.worst_case_accuracy <= min(pgd10, autoattack)


def test_our_pgd10_agrees_with_torchattacks(fashion_run, tmp_path):
    torchattacks = pytest.importorskip("torchattacks")
    ours = evaluate(EvaluateConfig(
        checkpoint=fashion_run.out / "best.pt", attacks=["pgd-10"], step_size=EPS / 4, random_start=True,
        n_examples=N_TEST, device="cpu", out=tmp_path / "eval.h5",
    )).accuracies["pgd-10"]  # torchattacks' PGD starts at a random point; advq's test PGD at x unless asked
    bundle = get_dataset("fashion-mnist", DEBIAN_DIR)
    model = load_model(fashion_run.out / "best.pt")
    images, labels = bundle.test_images[:N_TEST].float() / 255, bundle.test_labels[:N_TEST]
    torch.manual_seed(0)
    x_adv = torchattacks.PGD(model, eps=EPS, alpha=EPS / 4, steps=10, random_start=True)(images, labels)
    with torch.no_grad():
        theirs = (model(x_adv).argmax(1) == labels).float().mean().item()
    assert abs(ours - theirs) <= 0.03

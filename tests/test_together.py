"""Runs trained together (a stacked ensemble) against the same runs trained alone, on digits.

Bitwise equality is impossible for R > 1: the stacked kernels add in another order (a
forward of identical weights differs by ~1e-7, tested below), and ReLU kinks and PGD's
sign() turn such differences into whole steps after a few dozen updates. The tests hold
the building blocks to rounding and the trained records to a tight tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advq_cli import random_streams
from advq_cli.attacks.pgd import pgd_perturb
from advq_cli.lookups import build_model
from advq_cli.methods.base import Method
from advq_cli.methods.gairat import Gairat
from advq_cli.profiling import EpochRecorder
from advq_cli.threat import Threat
from advq_cli.training import TrainConfig, TrainingRun
from advq_cli.training.stacked import StackedModels
from advq_cli.training.together import RunsTogether, why_not_together

SEEDS = (3, 4)
BASE = dict(
    dataset="digits", method="pgd-at", epochs=2, milestones=[1], lr=0.1, eps=8 / 255, steps=5, step_size=2 / 255,
    eval_examples=100, batch_size=512, device="cpu",
)


def config(tmp_path, seed: int, **overrides: object) -> TrainConfig:
    return TrainConfig(**{**BASE, **overrides, "seed": seed, "out": tmp_path / f"seed-{seed}"})


def draws(n: int) -> list[torch.Tensor]:
    """Each kind of draw training makes, n rows."""
    cpu = torch.device("cpu")
    return [
        random_streams.integers(9, (n, 1, 1), cpu), random_streams.unit((n, 1, 1), cpu),
        random_streams.normal_like(torch.zeros(n, 1, 8, 8)), random_streams.uniform_like(torch.zeros(n, 3), -0.1, 0.1),
    ]


def test_draws_are_the_global_generators_outside_a_split_and_each_runs_own_inside():
    torch.manual_seed(11)
    expected = [torch.randint(0, 9, (3, 1, 1)), torch.rand(3, 1, 1), torch.randn(3, 1, 8, 8),
                torch.empty(3, 3).uniform_(-0.1, 0.1)]
    torch.manual_seed(11)
    assert all(torch.equal(a, b) for a, b in zip(draws(3), expected))
    alone = {}
    for seed in (5, 11):
        torch.manual_seed(seed)
        alone[seed] = draws(3)
    with random_streams.split_by_run([torch.Generator().manual_seed(5), torch.Generator().manual_seed(11)]):
        split = draws(6)
    for whole, first, second in zip(split, alone[5], alone[11]):
        assert torch.equal(whole[:3], first) and torch.equal(whole[3:], second)
    with random_streams.split_by_run([torch.Generator()] * 2), pytest.raises(ValueError, match="cannot be split"):
        draws(5)


def models(name: str) -> list[torch.nn.Module]:
    built = []
    for seed in SEEDS:
        torch.manual_seed(seed)
        built.append(build_model(name, 10, 1, 8, [0.5], [0.25], **({"width": 8} if name == "preact-resnet18" else {})))
    return built


@pytest.mark.parametrize("name", ["mlp", "small-cnn", "preact-resnet18"])
def test_a_stacked_forward_is_each_models_own_to_rounding_and_batch_norm_keeps_per_model_statistics(name):
    alone = models(name)
    stacked = StackedModels(models(name))
    x = torch.rand(len(SEEDS) * 16, 1, 8, 8)
    for train in (True, False):
        stacked.train(train)
        out = stacked(x).view(len(SEEDS), 16, -1)
        for r, model in enumerate(alone):
            model.train(train)
            expected = model(x[r * 16 : (r + 1) * 16])
            assert torch.allclose(out[r], expected, rtol=0, atol=1e-5)  # rounding: ~1e-7 per layer
    unloaded = models(name)
    stacked.unload(unloaded)
    for model, back in zip(alone, unloaded):  # train mode moved each model's own running statistics
        for (key, value), other in zip(model.state_dict().items(), back.state_dict().values()):
            assert torch.allclose(value.float(), other.float(), rtol=0, atol=1e-6), key
    if name != "mlp":  # batch norm: each model moved its own statistics
        means = [[v for k, v in m.state_dict().items() if k.endswith("running_mean")][0] for m in unloaded]
        assert not torch.allclose(means[0], means[1])


def test_an_attack_on_the_stack_is_each_models_own_attack():
    alone = models("small-cnn")
    stacked = StackedModels(models("small-cnn")).eval()
    x, y = torch.rand(2 * 16, 1, 8, 8), torch.randint(0, 10, (2 * 16,))
    with random_streams.split_by_run([torch.Generator().manual_seed(s) for s in SEEDS]):
        together = pgd_perturb(stacked, x, y, 8 / 255, 5, 2 / 255)
    for r, (seed, model) in enumerate(zip(SEEDS, alone)):
        torch.manual_seed(seed)
        rows = slice(r * 16, (r + 1) * 16)
        assert torch.equal(pgd_perturb(model.eval(), x[rows], y[rows], 8 / 255, 5, 2 / 255), together[rows])


def train_alone(cfg: TrainConfig) -> tuple[TrainingRun, list]:
    run = TrainingRun(cfg)
    epochs = []
    for _ in range(cfg.epochs):
        recorder = EpochRecorder(run.bundle.n_train)
        epochs.append((run.run_epoch(recorder), *recorder.take()))
    return run, epochs


def train_together(cfgs: list[TrainConfig]) -> tuple[list[TrainingRun], list]:
    runs = [TrainingRun(cfg) for cfg in cfgs]
    together = RunsTogether(runs)
    assert all(run.images is runs[0].images for run in runs)  # one copy of the data
    epochs = []
    for _ in range(cfgs[0].epochs):
        recorders = [EpochRecorder(runs[0].bundle.n_train) for _ in runs]
        stats = together.run_epoch(recorders)
        epochs.append([(s, *r.take()) for s, r in zip(stats, recorders)])
    return runs, epochs


@pytest.mark.parametrize("name,method,most_flipped,prob_tolerance", [
    ("mlp", "pgd-at", 0, 1e-3),
    ("mlp", "trades", 2, 0.01),  # a Gaussian start, a separate attack for the record (one epoch)
    ("mlp", "gairat", 0, 1e-3),  # weights from the first epoch, normalised over each run's rows
    pytest.param("small-cnn", "pgd-at", 5, 0.02, marks=pytest.mark.slow),  # batch norm amplifies rounding sooner
])
def test_each_run_trained_together_records_what_it_records_alone(tmp_path, name, method, most_flipped, prob_tolerance):
    epochs = {"epochs": 1, "milestones": []} if method == "trades" else {}
    if method == "gairat":
        epochs = {"begin_epoch": 1, "lambda_": -1.0}
    cfgs = [config(tmp_path, seed, model=name, method=method, **epochs) for seed in SEEDS]
    runs, together = train_together(cfgs)
    for r, cfg in enumerate(cfgs):
        run, alone = train_alone(cfg)
        for epoch, ((stats, correct, prob), (t_stats, t_correct, t_prob)) in enumerate(
            zip(alone, [e[r] for e in together]), start=1
        ):
            assert (correct != t_correct).sum() <= most_flipped, (name, cfg.seed, epoch)
            assert np.nanmax(np.abs(prob.astype(np.float64) - t_prob)) <= prob_tolerance
            assert np.array_equal(np.isnan(prob), np.isnan(t_prob))
            assert (stats.epoch, stats.lr) == (t_stats.epoch, t_stats.lr)
            assert abs(stats.train_loss - t_stats.train_loss) < 1e-2
            assert abs(stats.test_robust_acc - t_stats.test_robust_acc) <= 0.02
        assert runs[r].epochs_done == run.epochs_done and runs[r].best_epoch == run.best_epoch
        mine, theirs = runs[r].optimizer.state_dict(), run.optimizer.state_dict()
        assert mine["param_groups"] == theirs["param_groups"] and mine["state"].keys() == theirs["state"].keys()
        assert runs[r].scheduler.state_dict() == run.scheduler.state_dict()
        assert runs[r].model.state_dict().keys() == run.model.state_dict().keys()


def test_gairat_normalises_its_weights_over_each_runs_rows_when_runs_are_stacked():
    gairat = Gairat(Threat(eps=8 / 255, steps=5, step_size=2 / 255), lambda_=-1.0, begin_epoch=1)
    model = build_model("mlp", 10, 1, 8, (0.5,), (0.5,))
    x, y = torch.rand(12, 1, 8, 8), torch.randint(0, 10, (12,))
    kappa = torch.tensor([0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 0])  # runs of very different hardness
    alone = [gairat.loss(model, x[rows], y[rows], kappa[rows]).losses for rows in (slice(0, 6), slice(6, 12))]
    with random_streams.split_by_run([torch.Generator(), torch.Generator()]):
        stacked = gairat.loss(model, x, y, kappa).losses
    assert torch.equal(stacked, torch.cat(alone))  # not the weights of one batch of 12
    assert not torch.allclose(stacked, gairat.loss(model, x, y, kappa).losses)


class Unstackable(Method):
    stackable = False


def test_runs_say_why_they_cannot_train_together(tmp_path):
    cfg = config(tmp_path, 0, model="mlp")
    assert why_not_together(cfg, TrainingRun(cfg).method) is None
    gairat = config(tmp_path, 0, model="mlp", method="gairat")
    assert why_not_together(gairat, TrainingRun(gairat).method) is None
    assert "couples the examples" in why_not_together(cfg, Unstackable(cfg.threat))
    assert "--compile" in why_not_together(config(tmp_path, 0, channels_last=True), TrainingRun(cfg).method)
    assert "torchrun" in why_not_together(cfg, TrainingRun(cfg).method, distributed=True)

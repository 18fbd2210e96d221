"""Training methods: each loss against an independent hand computation of the paper's formula
(the paper's Table 2 and appendix F), each attack on its own, and every registered method's
contract (shapes, finiteness, gradients, ε-ball)."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from advq_cli.attacks.pgd import pgd_perturb
from advq_cli.errors import AdvqError
from advq_cli.methods import Method
from advq_cli.lookups import build_method
from advq_cli.methods.gairat import Gairat, gairat_weights
from advq_cli.methods.mart import Mart, boosted_cross_entropy
from advq_cli.methods.trades import Trades, kl_divergence
from advq_cli.plugins import registry
from advq_cli.threat import Threat
from advq_cli.training import TrainConfig, train

B, K = 6, 10
THREAT = Threat(eps=0.1, steps=3, step_size=0.04)
NO_ATTACK = Threat(eps=0.1, steps=0, random_start=False)


@pytest.fixture
def linear() -> nn.Sequential:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, K))
    with torch.no_grad():
        model[1].weight.mul_(8)
    return model


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(B, 1, 8, 8, generator=g), torch.randint(0, K, (B,), generator=g)


def known_perturbation(x: torch.Tensor, size: float = 0.05) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return (x + size * torch.randn(x.shape, generator=g).sign()).clamp(0, 1)


# Independent hand computations, in float64, from the formulas' definitions.


def logits64(model: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    layer = model[1]
    return x.flatten(1).double() @ layer.weight.double().T + layer.bias.double()


def probs64(z: torch.Tensor) -> torch.Tensor:
    e = torch.exp(z - z.max(1, keepdim=True).values)
    return e / e.sum(1, keepdim=True)


def kl64(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * torch.log(p / q)).sum(1)


def true_prob64(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return p[torch.arange(len(y)), y]


def assert_close64(actual: torch.Tensor, expected: torch.Tensor, tol: float = 1e-4) -> None:
    torch.testing.assert_close(actual.double(), expected, rtol=tol, atol=tol)


# Shared KL term.


def test_kl_divergence_is_clean_to_adversarial_summed_over_classes() -> None:
    p_logits = torch.tensor([[3.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    q_logits = torch.tensor([[0.0, 2.0, 0.5], [4.0, -2.0, 1.0]])
    p, q = probs64(p_logits.double()), probs64(q_logits.double())
    kl = kl_divergence(p_logits, q_logits)
    assert_close64(kl, kl64(p, q), 1e-6)
    assert not torch.allclose(kl.double(), kl64(q, p), rtol=1e-2)
    assert torch.allclose(kl_divergence(p_logits, p_logits), torch.zeros(2), atol=1e-7)


# TRADES.


def test_trades_loss_for_a_given_perturbation(linear, batch) -> None:
    x, y = batch
    x_adv = known_perturbation(x)
    for beta in (6.0, 1.5):
        out = Trades(THREAT, beta=beta).loss(linear, x, x_adv, y)
        p, q = probs64(logits64(linear, x)), probs64(logits64(linear, x_adv))
        assert_close64(out.losses, -torch.log(true_prob64(p, y)) + beta * kl64(p, q))
    assert_close64(out.adv_logits, logits64(linear, x_adv))
    assert_close64(out.clean_logits, logits64(linear, x))


def test_trades_without_attack_is_clean_cross_entropy(linear, batch) -> None:
    x, y = batch
    out = Trades(NO_ATTACK)(linear, x, y)
    assert_close64(out.losses, -torch.log(true_prob64(probs64(logits64(linear, x)), y)))
    torch.testing.assert_close(out.adv_logits, out.clean_logits)


def test_trades_attack_is_sign_ascent_on_kl_from_a_small_gaussian_start(linear, batch) -> None:
    """Both sides in float64: a gradient near 0 (about 1e-8 at some pixel) has a sign that float32
    rounding may flip, and one flipped sign moves that pixel by a whole step."""
    x, y = batch
    x = x.double()
    threat = Threat(eps=0.1, steps=2, step_size=0.03)
    torch.manual_seed(3)
    x_adv = Trades(threat).attack(copy.deepcopy(linear).double(), x, y)

    torch.manual_seed(3)
    start = x + 0.001 * torch.randn_like(x)
    expected = start.clamp(0, 1).double()
    p = probs64(logits64(linear, x))
    for _ in range(threat.steps):
        expected.requires_grad_(True)
        (grad,) = torch.autograd.grad(kl64(p, probs64(logits64(linear, expected))).sum(), expected)
        expected = expected.detach() + threat.step_size * grad.sign()
        expected = torch.min(torch.max(expected, x - threat.eps), x + threat.eps).clamp(0, 1)
    assert_close64(x_adv, expected, 1e-9)

    p = linear(x.float())
    assert (kl_divergence(p, linear(x_adv.float())) > kl_divergence(p, linear(start.clamp(0, 1).float()))).all()


def test_trades_attack_without_random_start_or_steps_returns_x(linear, batch) -> None:
    x, y = batch
    torch.testing.assert_close(Trades(NO_ATTACK).attack(linear, x, y), x)


# MART.


def boosted_ce64(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Official-style: the runner-up is the top class unless that is y, then the second."""
    p = probs64(z)
    top2 = p.argsort(1)[:, -2:]
    runner_up = torch.where(top2[:, 1] == y, top2[:, 0], top2[:, 1])
    return -torch.log(true_prob64(p, y)) - torch.log(1 - true_prob64(p, runner_up))


def test_boosted_cross_entropy_matches_definition() -> None:
    g = torch.Generator().manual_seed(4)
    z = 3 * torch.randn(50, K, generator=g)
    y = torch.randint(0, K, (50,), generator=g)
    y[:10] = z[:10].argmax(1)  # runner-up is the second-largest class
    assert_close64(boosted_cross_entropy(z, y), boosted_ce64(z.double(), y), 1e-5)


def test_boosted_cross_entropy_is_finite_when_the_runner_up_takes_all_mass() -> None:
    z = torch.tensor([[0.0, 60.0, 0.0]])
    expected = 2 * math.log(math.exp(60) + 2) - math.log(2)  # −log p_0 − log(1 − p_1)
    torch.testing.assert_close(boosted_cross_entropy(z, torch.tensor([0])), torch.tensor([expected]))


def test_mart_loss_for_a_given_perturbation(linear, batch) -> None:
    x, y = batch
    x_adv = known_perturbation(x)
    for beta in (6.0, 2.0):
        out = Mart(THREAT, beta=beta).loss(linear, x, x_adv, y)
        z_adv = logits64(linear, x_adv)
        p, q = probs64(logits64(linear, x)), probs64(z_adv)
        expected = boosted_ce64(z_adv, y) + beta * kl64(p, q) * (1 - true_prob64(p, y))
        assert_close64(out.losses, expected)
    assert_close64(out.adv_logits, z_adv)


def test_mart_without_attack_is_boosted_cross_entropy(linear, batch) -> None:
    x, y = batch
    out = Mart(NO_ATTACK)(linear, x, y)
    assert_close64(out.losses, boosted_ce64(logits64(linear, x), y))


def test_mart_and_gairat_attack_with_cross_entropy_pgd(linear, batch) -> None:
    """GAIRAT starts uniformly in the ball, MART at x + 0.001·N(0, 1) (its official code)."""
    x, y = batch
    torch.manual_seed(5)
    expected = pgd_perturb(linear, x, y, THREAT.eps, THREAT.steps, THREAT.step_size, True)
    torch.manual_seed(5)
    torch.testing.assert_close(Gairat(THREAT).attack(linear, x, y)[0], expected)
    torch.manual_seed(5)
    start = x + 0.001 * torch.randn_like(x)
    expected = pgd_perturb(linear, x, y, THREAT.eps, THREAT.steps, THREAT.step_size, start=start)
    torch.manual_seed(5)
    torch.testing.assert_close(Mart(THREAT).attack(linear, x, y), expected)


# GAIRAT.


def raw_weight(kappa: float, steps: int, lam: float) -> float:
    return (1 + math.tanh(lam + 5 * (1 - 2 * kappa / steps))) / 2


@pytest.mark.parametrize("lam", [0.0, -1.0, 2.0])
def test_gairat_weights_for_known_kappa(lam: float) -> None:
    kappa = torch.tensor([0, 5, 10, 3])
    raw = torch.tensor([raw_weight(k, 10, lam) for k in kappa.tolist()], dtype=torch.float64)
    weights = gairat_weights(kappa, 10, lam)
    assert_close64(weights, raw / raw.mean(), 1e-5)
    assert weights.mean().item() == pytest.approx(1.0, abs=1e-6)
    assert not weights.requires_grad


def test_gairat_weight_values_at_zero_half_and_all_steps() -> None:
    assert raw_weight(5, 10, 0.0) == 0.5
    w = gairat_weights(torch.tensor([0, 5, 10]), 10, 0.0)
    assert (w[0] / w[1]).item() == pytest.approx(2 * raw_weight(0, 10, 0.0), rel=1e-5)  # (1 + tanh 5)
    assert (w[2] / w[1]).item() == pytest.approx(1 - math.tanh(5), rel=1e-4)
    assert w[0] > w[1] > w[2]


def test_gairat_weights_stay_normalised_in_extremes() -> None:
    torch.testing.assert_close(gairat_weights(torch.full((4,), 10), 10, -60.0), torch.ones(4))
    torch.testing.assert_close(gairat_weights(torch.zeros(3, dtype=torch.int64), 0, 0.0), torch.ones(3))


def threshold_model() -> nn.Sequential:
    """One pixel x; class 1 exactly when x > 0.25."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.0], [10.0]]))
        model[1].bias.copy_(torch.tensor([0.0, -2.5]))
    return model


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # x_k = x_0 ± 0.1k within 0.5 of x_0: first fooling iterate index, K if none
        (10, [3, 0, 1, 5, 10]),
        # x_3 = 0.3 fools example 0 only after the last step: still K
        (3, [3, 0, 1, 3, 3]),
    ],
)
def test_gairat_kappa_is_the_least_fooling_iteration(steps: int, expected: list[int]) -> None:
    x = torch.tensor([0.0, 0.3, 0.2, 0.7, 1.0]).view(-1, 1, 1, 1)
    y = torch.tensor([0, 0, 0, 1, 1])
    threat = Threat(eps=0.5, steps=steps, step_size=0.1, random_start=False)
    _, kappa = Gairat(threat).attack(threshold_model(), x, y)
    assert kappa.tolist() == expected


def test_gairat_kappa_counts_leading_or_all_correct_steps() -> None:
    """Class 1 exactly when |x − 0.5| < 0.1, so PGD from 0.3 (label 0) jumps in and out of it."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model[1].bias.copy_(torch.tensor([-0.5, 0.5]))
        model[3].weight.copy_(torch.tensor([[10.0, 10.0], [0.0, 0.0]]))
        model[3].bias.copy_(torch.tensor([0.0, 1.0]))
    x, y = torch.tensor([0.3]).view(1, 1, 1, 1), torch.tensor([0])
    seen: list[bool] = []
    pgd_perturb(model, x, y, 0.5, 4, 0.25, False, on_step=lambda k, z: seen.append(z.argmax(1).item() == 0))
    assert seen == [True, False, True, False]  # correct, fooled, correct again, fooled
    threat = Threat(eps=0.5, steps=4, step_size=0.25, random_start=False)
    assert Gairat(threat, kappa="leading").attack(model, x, y)[1].tolist() == [1]
    assert Gairat(threat).attack(model, x, y)[1].tolist() == [2]  # the reference's count: every correct step


def test_gairat_loss_is_weighted_cross_entropy(linear, batch) -> None:
    x, y = batch
    x_adv = known_perturbation(x)
    kappa = torch.tensor([0, 10, 5, 5, 2, 8])
    for lam in (0.0, 1.0):
        out = Gairat(Threat(eps=0.1, steps=10, step_size=0.02), lambda_=lam).loss(linear, x_adv, y, kappa)
        raw = torch.tensor([raw_weight(k, 10, lam) for k in kappa.tolist()], dtype=torch.float64)
        ce = -torch.log(true_prob64(probs64(logits64(linear, x_adv)), y))
        assert_close64(out.losses, raw / raw.mean() * ce)


def test_gairat_without_attack_is_cross_entropy(linear, batch) -> None:
    x, y = batch
    out = Gairat(NO_ATTACK)(linear, x, y)
    assert_close64(out.losses, -torch.log(true_prob64(probs64(logits64(linear, x)), y)))


# Every registered method.


def test_options_are_named_in_descriptions() -> None:
    methods = registry("methods")
    assert "beta" in methods.entry("trades").description
    assert "beta" in methods.entry("mart").description
    assert "lambda" in methods.entry("gairat").description


def test_only_trades_needs_a_separate_profiling_attack() -> None:
    assert Method.tracks_training_attack
    tracked = {name: registry("methods").get(name).tracks_training_attack for name in ("pgd-at", "trades", "mart", "gairat")}
    assert tracked == {"pgd-at": True, "trades": False, "mart": True, "gairat": True}


def test_build_method_refuses_options_a_method_cannot_take_in_one_line() -> None:
    for options in ({"lambda_schedule": "bogus"}, {"begin_epoch": 0}, {"kappa": "some"}):
        with pytest.raises(AdvqError, match="^Method 'gairat' cannot be built with these options: ") as error:
            build_method("gairat", THREAT, **options)
        assert "\n" not in str(error.value)


def test_build_method_passes_options() -> None:
    assert build_method("trades", THREAT, beta=3.0, lambda_=1.0).beta == 3.0
    assert build_method("mart", THREAT, beta=2.0).beta == 2.0
    assert build_method("gairat", THREAT, beta=3.0, lambda_=-1.0).lambda_ == -1.0


class Recorder(nn.Module):
    """Keeps every input the network sees, to check the attacks' ε-ball."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach())
        return self.net(x)


CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"))


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("name", registry("methods").names())
def test_registered_method_contract(name: str, device: str) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, K))
    model = Recorder(net).to(device).train()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(B, 1, 8, 8, generator=g).to(device)
    y = torch.randint(0, K, (B,), generator=g).to(device)
    out = build_method(name, THREAT, beta=6.0, lambda_=0.5)(model, x, y)

    assert model.training
    assert out.losses.shape == (B,) and torch.isfinite(out.losses).all()
    assert out.losses.device.type == device
    assert out.adv_logits.shape == (B, K) and not out.adv_logits.requires_grad
    assert out.clean_logits is None or out.clean_logits.shape == (B, K)
    grads = torch.autograd.grad(out.losses.mean(), list(net.parameters()))
    assert all(torch.isfinite(gr).all() for gr in grads)
    assert any(gr.abs().sum() > 0 for gr in grads)
    for seen in model.seen:
        assert (seen - x).abs().max() <= THREAT.eps + 1e-6
        assert seen.min() >= 0 and seen.max() <= 1


# Real data: every adversarial method learns robustness on Fashion-MNIST.

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason=f"Fashion-MNIST not in {FASHION_MNIST}")
@pytest.mark.parametrize("name", ["pgd-at", "trades", "mart", "gairat"])
def test_method_reaches_robust_accuracy_on_fashion_mnist(name: str, tmp_path: Path) -> None:
    subset = tmp_path / "subset.npy"
    np.save(subset, np.sort(np.random.default_rng(0).choice(60_000, 3_000, replace=False)))
    config = TrainConfig(
        dataset="fashion-mnist", model="mlp", method=name, eps=0.1, steps=5, step_size=0.025, epochs=6,
        milestones=[4, 5], lr=0.1, batch_size=128, eval_examples=1000, subset=str(subset), seed=0, device="cpu",
        out=tmp_path / name, beta=6.0, lambda_=0.0,
    )
    result = train(config)
    assert result.best_robust_acc > 0.35
    assert result.best_clean_acc > result.best_robust_acc

"""The evaluation attacks: every registered attack's threat-model contract, RayS against a
decision boundary known in closed form, exact query budgets, AutoAttack's reference code,
the transfer attack, and our PGD-10 against an independent implementation (torchattacks)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from advq_cli import get_dataset, load_model
from advq_cli.attacks import RayS, Square, Transfer
from advq_cli.lookups import build_attack
from advq_cli.attacks.autoattack import find_backend
from advq_cli.checkpoint import read_checkpoint, save_checkpoint
from advq_cli.errors import AdvqError, FingerprintMismatchError
from advq_cli.plugins import registry
from advq_cli.training import TrainConfig, train

from conftest import FAST_DIGITS

EPS = 0.1  # the digits runs are trained at this radius

# Small budgets keep the contract test fast; the defaults are the paper's.
FAST_OPTIONS = {
    "square": {"n_queries": 100},
    "rays": {"n_queries": 100},
    "autoattack": {"version": "custom", "attacks": ["apgd-ce"]},
}
# Attacks whose ε = 0 case is their own code (PGD's is covered in test_pgd.py).
OWN_ZERO_EPS = ["square", "rays", "autoattack", "transfer"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The attacks take many small sequential steps: one thread is faster, much so on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def surrogate_run(tmp_path_factory: pytest.TempPathFactory):
    """A second digits model, unlike the target: narrower, other seed, standard training (fast)."""
    out = tmp_path_factory.mktemp("surrogate") / "run"
    return train(TrainConfig(**{**FAST_DIGITS, "method": "standard", "seed": 7, "model_options": {"hidden": 128}}, out=out))


@pytest.fixture(scope="module")
def target(digits_run) -> nn.Module:
    return load_model(digits_run.out / "best.pt")


@pytest.fixture(scope="module")
def test_set() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = get_dataset("digits").split(train=False)
    return images.float() / 255, labels


class CountingModel(nn.Module):
    """Counts the inputs the wrapped model sees: the ground truth a query count must match."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.rows_seen = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows_seen += len(x)
        return self.model(x)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize(("name", "eps"), [
    *((name, EPS) for name in registry("attacks").names()),
    *((name, 0.0) for name in OWN_ZERO_EPS),
])
def test_every_attack_stays_in_the_eps_ball_and_the_image_box(name, eps, target, test_set, surrogate_run):
    x, y = test_set[0][:12], test_set[1][:12]
    options = {**FAST_OPTIONS.get(name, {}), "surrogate": surrogate_run.out / "best.pt"}
    torch.manual_seed(0)
    attack = build_attack(name, eps, **options)
    x_adv = attack(target, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert (x_adv - x).abs().max().item() <= eps + 1e-6
    assert x_adv.min().item() >= 0 and x_adv.max().item() <= 1
    if eps == 0:
        assert torch.equal(x_adv, x)


def test_square_never_exceeds_its_budget_and_counts_every_query(target, test_set):
    x, y = test_set[0][:64], test_set[1][:64]
    counting = CountingModel(target)
    attack = Square(EPS, n_queries=60)
    torch.manual_seed(0)
    x_adv = attack(counting, x, y)
    queries = attack.last_queries
    assert queries.max().item() == 60  # examples it cannot fool spend the whole budget
    assert queries.sum().item() == counting.rows_seen
    fooled = (target(x_adv).argmax(1) != y) & (target(x).argmax(1) == y)
    assert fooled.any() and (queries[fooled] <= 60).all()
    assert accuracy(target, x_adv, y) < accuracy(target, x, y)


def test_square_charges_one_query_to_examples_already_misclassified(target, test_set):
    x, y = test_set
    wrong = target(x).argmax(1) != y
    assert wrong.any()
    attack = Square(EPS, n_queries=20)
    x_adv = attack(target, x[wrong], y[wrong])
    assert (attack.last_queries == 1).all() and torch.equal(x_adv, x[wrong])


def test_more_square_queries_fool_more(target, test_set):
    x, y = test_set[0][:64], test_set[1][:64]
    robust = {}
    for n_queries in (10, 200):
        torch.manual_seed(0)
        robust[n_queries] = accuracy(target, Square(EPS, n_queries=n_queries)(target, x, y), y)
    assert robust[200] < robust[10]


def linear_problem(n: int, seed: int) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """f(x) = Wx + b with 2 classes on 1×4×4 inputs near the middle of the box.

    The decision margin is m(x) = w·x + b with w = W1 - W0 and b = -w·(½,…,½), and the
    inputs are x = x0 + t·sign(w), x0 within 0.05 of ½: moving along sign(w) changes the
    margin fastest, so t sets each example's distance to the boundary.
    """
    g = torch.Generator().manual_seed(seed)
    dim = 16
    w = torch.randn(dim, generator=g)
    model = nn.Sequential(nn.Flatten(), nn.Linear(dim, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([torch.zeros(dim), w]))
        model[1].bias.copy_(torch.tensor([0.0, -0.5 * w.sum().item()]))
    x0 = 0.5 + 0.1 * (torch.rand(n, dim, generator=g) - 0.5)
    t = (torch.rand(n, generator=g) * 0.26 - 0.13)
    x = (x0 + t[:, None] * w.sign()).view(n, 1, 4, 4)
    return model, x, w


def analytic_distance(model: nn.Module, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The minimum L∞ distance to the other class, |w·x + b| / ‖w‖₁, and the true labels."""
    margin = x.flatten(1) @ w + model[1].bias[1].detach()
    return margin.abs() / w.abs().sum(), (margin > 0).long()


def test_rays_reaches_the_analytic_minimum_linf_distance_of_a_linear_classifier():
    model, x, w = linear_problem(12, seed=0)
    analytic, y = analytic_distance(model, x, w)
    # the box [0, 1] does not bind: the nearest point x ± analytic·sign(w) lies inside it
    assert (x - analytic.view(-1, 1, 1, 1) >= 0).all() and (x + analytic.view(-1, 1, 1, 1) <= 1).all()
    assert analytic.min() > 0.005 and analytic.max() < 0.2

    attack = RayS(0.5, n_queries=2000, early_stop=False, tol=1e-6)
    x_adv = attack(model, x, y)
    radius = attack.last_radius
    assert (radius >= analytic - 1e-5).all()  # nothing beats the analytic minimum
    assert (radius - analytic).abs().max().item() < 1e-4
    assert (model(x_adv).argmax(1) != y).all()
    assert torch.allclose((x_adv - x).flatten(1).abs().amax(1), radius, atol=1e-6)
    assert attack.last_queries.max().item() <= 2000


def test_rays_fools_exactly_the_examples_within_eps_and_returns_the_others_unchanged():
    model, x, w = linear_problem(20, seed=3)
    analytic, y = analytic_distance(model, x, w)
    eps = analytic.median().item()
    attack = RayS(eps, n_queries=3000, tol=1e-6)
    x_adv = attack(model, x, y)
    fooled = model(x_adv).argmax(1) != y
    clear = (analytic - eps).abs() > 1e-4  # leave out examples within the search resolution
    assert torch.equal(fooled[clear], (analytic <= eps)[clear])
    assert torch.equal(x_adv[~fooled], x[~fooled])


def test_rays_never_exceeds_its_budget_and_counts_every_query(target, test_set):
    x, y = test_set[0][:48], test_set[1][:48]
    counting = CountingModel(target)
    attack = RayS(EPS, n_queries=80)
    x_adv = attack(counting, x, y)
    assert attack.last_queries.max().item() == 80
    assert attack.last_queries.sum().item() == counting.rows_seen
    correct = target(x).argmax(1) == y
    assert (attack.last_queries[~correct] == 1).all()  # misclassified: only the clean query
    assert accuracy(target, x_adv, y) < correct.float().mean().item()


def test_standard_autoattack_runs_through_the_reference_implementation(target, test_set):
    pytest.importorskip("pyautoattack")
    assert find_backend()[0] in ("autoattack", "pyautoattack")
    attack = build_attack("autoattack", EPS)
    assert attack.settings["version"] == "standard"  # the paper's version by default
    # on misclassified examples the ensemble has nothing to attack: a quick run of the standard path
    x, y = test_set
    wrong = target(x).argmax(1) != y
    assert torch.equal(attack(target, x[wrong], y[wrong]), x[wrong])


def test_autoattack_without_its_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "autoattack", None)
    monkeypatch.setitem(sys.modules, "pyautoattack", None)
    with pytest.raises(AdvqError, match="pip install pyautoattack"):
        build_attack("autoattack", EPS)


def test_transfer_from_another_model_is_weaker_than_white_box_pgd(target, test_set, surrogate_run):
    x, y = test_set
    torch.manual_seed(0)
    white_box = accuracy(target, build_attack("pgd-10", EPS)(target, x, y), y)
    torch.manual_seed(0)
    transfer = accuracy(target, build_attack("transfer", EPS, surrogate=surrogate_run.out / "best.pt")(target, x, y), y)
    assert transfer > white_box + 0.05
    # while on the surrogate itself the same examples are white-box adversarial
    surrogate = load_model(surrogate_run.out / "best.pt")
    torch.manual_seed(0)
    on_surrogate = accuracy(surrogate, Transfer(EPS, surrogate=surrogate)(target, x, y), y)
    assert on_surrogate < transfer


def test_transfer_needs_a_surrogate_from_the_same_dataset(tmp_path: Path, surrogate_run):
    with pytest.raises(AdvqError, match="--surrogate"):
        build_attack("transfer", EPS)
    payload = read_checkpoint(surrogate_run.out / "best.pt")
    payload["dataset"] = {**payload["dataset"], "name": "cifar10", "fingerprint": "0123456789abcdef"}
    save_checkpoint(tmp_path / "other.pt", payload)
    with pytest.raises(FingerprintMismatchError, match="Surrogate .*cifar10"):
        build_attack("transfer", EPS, surrogate=tmp_path / "other.pt", dataset_fingerprint=get_dataset("digits").fingerprint)


def test_our_pgd10_agrees_with_torchattacks(target, test_set):
    torchattacks = pytest.importorskip("torchattacks")
    x, y = test_set
    torch.manual_seed(0)
    ours = accuracy(target, build_attack("pgd-10", EPS)(target, x, y), y)
    torch.manual_seed(0)
    theirs = accuracy(target, torchattacks.PGD(target, eps=EPS, alpha=EPS / 4, steps=10, random_start=True)(x, y), y)
    assert abs(ours - theirs) <= 0.03

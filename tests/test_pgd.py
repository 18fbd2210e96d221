import pytest
import torch

from advq_cli import get_dataset, load_model
from advq_cli.lookups import build_attack
from advq_cli.attacks.pgd import PGD


@pytest.fixture(scope="module")
def batch():
    images, labels = get_dataset("digits").split(train=False)
    return images[:64].float() / 255, labels[:64]


@pytest.mark.parametrize("name", ["pgd", "pgd-10", "pgd-20", "fgsm"])
@pytest.mark.parametrize("eps", [0.0, 0.05, 8 / 255, 0.3])
def test_attacks_stay_in_the_eps_ball_and_the_image_box(digits_run, batch, name, eps):
    model = load_model(digits_run.out / "best.pt")
    x, y = batch
    x_adv = build_attack(name, eps)(model, x, y)
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max().item() <= eps + 1e-6
    assert x_adv.min().item() >= 0 and x_adv.max().item() <= 1


def test_pgd_lowers_accuracy_more_with_more_steps_and_restores_the_model_mode(digits_run, batch):
    model = load_model(digits_run.out / "best.pt").train()
    x, y = batch
    torch.manual_seed(0)
    accuracy = {}
    for steps in (0, 1, 10):
        x_adv = PGD(0.15, steps=steps, step_size=0.04, random_start=False)(model, x, y)
        with torch.no_grad():
            accuracy[steps] = (model.eval()(x_adv).argmax(1) == y).float().mean().item()
        model.train()
    assert accuracy[0] > accuracy[1] > accuracy[10]
    assert model.training


def test_the_step_size_reads_fractions_as_config_files_give_them():
    from advq_cli.attacks.pgd import PGD, pgd_with_steps

    assert PGD(8 / 255, step_size="2/255").step_size == 2 / 255
    assert pgd_with_steps(10)(8 / 255, step_size=0.01).step_size == 0.01

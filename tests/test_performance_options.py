"""--amp, --channels-last and --compile: how the model is run changes, what is learnt and stored does not."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from typer.testing import CliRunner

from advq_cli.checkpoint import read_checkpoint
from advq_cli.cli import app
from advq_cli.errors import AdvqError
from advq_cli.lookups import build_model
from advq_cli.training import TrainConfig, TrainingRun, train
from advq_cli.training.loop import check_same_config
from advq_cli.training.performance import fast_forward

from conftest import FAST_DIGITS

CPU = torch.device("cpu")


def small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("small-cnn", 10, 3, 8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), width=8).eval()


def logits_and_input_grad(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    logits = net(x)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x)
    return logits.detach(), grad


def test_amp_runs_the_model_in_bf16_but_logits_and_input_gradients_are_fp32():
    model = small_cnn()
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    logits, grad = logits_and_input_grad(fast_forward(model, CPU, amp=True), x, y)
    assert logits.dtype == grad.dtype == torch.float32
    reference, _ = logits_and_input_grad(model, x, y)
    assert torch.allclose(logits, reference, atol=0.1) and not torch.equal(logits, reference)  # bf16 inside
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_channels_last_gives_the_same_logits_and_gradients():
    model = small_cnn()
    x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
    expected = logits_and_input_grad(model, x, y)
    fast = fast_forward(model, CPU, channels_last=True)
    assert model.net[0].weight.is_contiguous(memory_format=torch.channels_last)
    for got, want in zip(logits_and_input_grad(fast, x, y), expected):
        assert torch.allclose(got, want, atol=1e-5)


def test_amp_on_cpu_trains_digits_to_a_sane_accuracy_and_saves_fp32_weights(tmp_path: Path):
    result = train(TrainConfig(**{**FAST_DIGITS, "epochs": 2}, eval_examples=120, amp=True, out=tmp_path / "r"))
    assert 0.1 < result.best_robust_acc < result.best_clean_acc
    state = read_checkpoint(tmp_path / "r" / "best.pt")["state_dict"]
    assert all(v.dtype == torch.float32 for k, v in state.items() if v.is_floating_point())


def test_channels_last_training_matches_the_default_and_stores_the_usual_checkpoint(tmp_path: Path):
    np.save(tmp_path / "subset.npy", np.arange(0, 1437, 5))
    settings = {**FAST_DIGITS, "model": "small-cnn", "width": 8, "epochs": 1, "eval_examples": 0,
                "subset": str(tmp_path / "subset.npy")}
    default = TrainingRun(TrainConfig(**settings, out=tmp_path / "a"))
    fast = TrainingRun(TrainConfig(**settings, channels_last=True, out=tmp_path / "b"))
    a, b = default.run_epoch(), fast.run_epoch()
    assert b.train_loss == pytest.approx(a.train_loss, rel=1e-4)
    assert b.train_robust_acc == pytest.approx(a.train_robust_acc, abs=0.02)
    fast.save(tmp_path / "b")
    saved = read_checkpoint(tmp_path / "b" / "last.pt")["state_dict"]
    assert saved.keys() == default.model.state_dict().keys()  # no wrapper prefixes


@pytest.mark.slow
def test_compile_gives_the_same_training_as_eager(tmp_path: Path):
    settings = {**FAST_DIGITS, "epochs": 1}
    eager = TrainingRun(TrainConfig(**settings, out=tmp_path / "a")).run_epoch()
    run = TrainingRun(TrainConfig(**settings, compile=True, out=tmp_path / "b"))
    compiled = run.run_epoch()
    assert compiled.train_robust_acc == pytest.approx(eager.train_robust_acc, abs=0.02)
    assert compiled.test_robust_acc == pytest.approx(eager.test_robust_acc, abs=0.02)
    run.save(tmp_path / "b")
    assert not any("_orig_mod" in k for k in read_checkpoint(tmp_path / "b" / "last.pt")["state_dict"])


def test_a_resume_may_change_channels_last_and_compile_but_not_amp():
    stored = {"amp": False, "channels_last": False, "compile": False, "lr": 0.1}
    check_same_config(stored, {**stored, "channels_last": True, "compile": True}, Path("last.pt"))
    with pytest.raises(AdvqError, match="differs in amp"):
        check_same_config(stored, {**stored, "amp": True}, Path("last.pt"))


def test_the_options_reach_the_stored_configuration(tmp_path: Path):
    args = ["train", "--dataset", "digits", "--model", "mlp", "--eps", "0.1", "--steps", "1", "--step-size", "0.1",
            "--epochs", "1", "--milestones", "", "--eval-examples", "0", "--device", "cpu", "--amp", "--channels-last",
            "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    stored = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert (stored["amp"], stored["channels_last"], stored["compile"]) == (True, True, False)

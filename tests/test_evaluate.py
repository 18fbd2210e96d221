"""`advq evaluate`: the suite, the HDF5 file it writes, --resume, refusing attacks that leave
the threat model, and bad input on the command line (exit 2, one line, files intact)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from advq_cli import get_dataset, hookimpl, load_model
from advq_cli.checkpoint import read_checkpoint, save_checkpoint
from advq_cli.cli import app
from advq_cli.config import resolve
from advq_cli.errors import AdvqError, FingerprintMismatchError, UnknownNameError
from advq_cli.evaluation import EvaluateConfig, evaluate
from advq_cli.plugins import register_plugin, unregister_plugin

from test_attacks_suite import one_thread  # noqa: F401  (autouse: one thread for the attacks)

N = 60
runner = CliRunner()
FAST_AUTOATTACK = {"version": "custom", "attacks": ["apgd-ce"]}


def config(digits_run, out: Path, **changes) -> EvaluateConfig:
    values = {"checkpoint": digits_run.out / "best.pt", "attacks": ["pgd-10", "fgsm"], "n_examples": N,
              "device": "cpu", "out": out, **changes}
    return EvaluateConfig(**values)


class Counting:
    """Returns its input unchanged and counts the examples it was asked to attack."""

    examples = 0

    def __init__(self, eps: float) -> None:
        self.eps = eps

    def __call__(self, model, x, y):
        Counting.examples += len(x)
        return x


def leaky(eps: float):
    return lambda model, x, y: (x + 2 * eps).clamp(0, 1)


def unboxed(eps: float):
    return lambda model, x, y: x + eps


class TestAttacks:
    @hookimpl
    def advq_register_attacks(self, register):
        register("counting", Counting, description="identity, counting calls")
        register("leaky", leaky, description="leaves the ε-ball")
        register("unboxed", unboxed, description="leaves [0, 1]")


@pytest.fixture
def test_attacks():
    name = register_plugin(TestAttacks(), name="test-attacks")
    yield
    unregister_plugin(name)


@pytest.fixture(scope="module")
def evaluated(digits_run, tmp_path_factory: pytest.TempPathFactory):
    """One evaluation with the gap's two attacks (AutoAttack cut to APGD-CE to stay fast) and FGSM."""
    out = tmp_path_factory.mktemp("evaluated") / "eval.h5"
    cfg = config(digits_run, out, attacks=["pgd-10", "fgsm", "autoattack"], attack_options={"autoattack": FAST_AUTOATTACK})
    return evaluate(cfg)


def test_the_file_holds_per_example_results_the_worst_case_and_the_gap(digits_run, evaluated):
    out, result = evaluated.out, evaluated

    images, labels = get_dataset("digits").split(train=False)
    model = load_model(digits_run.out / "best.pt")
    with torch.no_grad():
        clean = (model(images[:N].float() / 255).argmax(1) == labels[:N]).numpy()
    payload = read_checkpoint(digits_run.out / "best.pt")
    with h5py.File(out, "r") as h:
        attrs = dict(h.attrs)
        assert attrs["format"] == "advq-evaluation" and attrs["dataset"] == "digits"
        assert attrs["dataset_fingerprint"] == get_dataset("digits").fingerprint
        assert attrs["eps"] == pytest.approx(0.1)  # the checkpoint's evaluation radius: digits declares none, so its training ε
        assert attrs["n_examples"] == N
        assert attrs["checkpoint_sha256"] == hashlib.sha256((digits_run.out / "best.pt").read_bytes()).hexdigest()
        assert json.loads(attrs["model"]) == payload["model"]
        assert yaml.safe_load(attrs["training_config"])["method"] == "pgd-at"
        assert yaml.safe_load(attrs["config"])["attacks"] == ["pgd-10", "fgsm", "autoattack"]
        assert np.array_equal(h["labels"][()], labels[:N].numpy())
        assert np.array_equal(h["clean/correct"][()], clean)
        correct = {}
        for name in ("pgd-10", "fgsm", "autoattack"):
            group = h[f"attacks/{name}"]
            correct[name] = group["correct"][()]
            assert correct[name].dtype == bool and correct[name].shape == (N,)
            assert group.attrs["accuracy"] == pytest.approx(correct[name].mean())
            assert group.attrs["seconds"] > 0
        assert json.loads(h["attacks/autoattack"].attrs["options"]) == FAST_AUTOATTACK
        worst = h["worst_case/correct"][()]
        assert np.array_equal(worst, clean & correct["pgd-10"] & correct["fgsm"] & correct["autoattack"])
        assert h["worst_case"].attrs["accuracy"] == pytest.approx(worst.mean())
        assert attrs["overestimation_gap"] == pytest.approx(correct["pgd-10"].mean() - correct["autoattack"].mean())

    assert list(result.attacks) == ["pgd-10", "fgsm", "autoattack"]
    assert result.clean_accuracy == pytest.approx(clean.mean())
    assert result.overestimation_gap == pytest.approx(attrs["overestimation_gap"])
    assert result.clean_accuracy > result.accuracies["pgd-10"] >= result.worst_case_accuracy
    assert result.worst_case_accuracy <= min(result.accuracies.values())
    counts = np.bincount(result.labels, minlength=10)
    assert np.nansum(result.per_class(result.worst_case) * counts) == pytest.approx(worst.sum())


def test_resume_skips_stored_attacks_and_gives_what_an_uninterrupted_run_gives(digits_run, tmp_path, test_attacks):
    square = {"square": {"n_queries": 40}}
    whole = evaluate(config(digits_run, tmp_path / "whole.h5", attacks=["counting", "square"], attack_options=square))
    Counting.examples = 0
    first = evaluate(config(digits_run, tmp_path / "parts.h5", attacks=["counting"]))
    assert Counting.examples == N and "square" not in first.attacks
    resumed = evaluate(config(digits_run, tmp_path / "parts.h5", attacks=["counting", "square"],
                              attack_options=square, resume=True))
    assert Counting.examples == N  # not attacked again
    assert resumed.resumed == ("counting",)
    for name in ("counting", "square"):
        assert np.array_equal(resumed.attacks[name], whole.attacks[name])
    assert np.array_equal(resumed.worst_case, whole.worst_case)


def test_resume_refuses_a_file_of_another_evaluation(digits_run, tmp_path: Path):
    out = tmp_path / "eval.h5"
    evaluate(config(digits_run, out, attacks=["fgsm"]))
    before = out.read_bytes()
    with pytest.raises(AdvqError, match="Cannot resume .*ε 0.1 \\(not 0.05\\)"):
        evaluate(config(digits_run, out, eps=0.05, resume=True))
    with pytest.raises(AdvqError, match="Cannot resume .*60 examples \\(not 30\\)"):
        evaluate(config(digits_run, out, n_examples=30, resume=True))
    with pytest.raises(AdvqError, match="already exists: pass --resume"):
        evaluate(config(digits_run, out))
    assert out.read_bytes() == before
    with h5py.File(out, "r+") as h:
        h.attrs["dataset_fingerprint"] = "0123456789abcdef"
    with pytest.raises(FingerprintMismatchError):
        evaluate(config(digits_run, out, resume=True))


@pytest.mark.parametrize(("name", "message"), [("leaky", "left the ε-ball"), ("unboxed", "returned inputs outside \\[0, 1\\]")])
def test_an_attack_leaving_the_threat_model_is_refused_and_earlier_results_kept(
    digits_run, tmp_path: Path, test_attacks, name, message
):
    out = tmp_path / "eval.h5"
    with pytest.raises(AdvqError, match=f"Attack '{name}' \\(plugin test-attacks\\) {message}"):
        evaluate(config(digits_run, out, attacks=["fgsm", name]))
    with h5py.File(out, "r") as h:
        assert list(h["attacks"]) == ["fgsm"]


def test_bad_attacks_fail_before_anything_is_written(digits_run, tmp_path: Path):
    out = tmp_path / "eval.h5"
    with pytest.raises(UnknownNameError, match="Unknown attack 'pgd-11'"):
        evaluate(config(digits_run, out, attacks=["pgd-10", "pgd-11"]))
    with pytest.raises(AdvqError, match="'square' has no option n_querys .*n_queries"):
        evaluate(config(digits_run, out, attacks=["square"], attack_options={"square": {"n_querys": 5}}))
    with pytest.raises(AdvqError, match="'square' cannot be built.*n_queries"):
        evaluate(config(digits_run, out, attacks=["square"], attack_options={"square": {"n_queries": 1}}))
    with pytest.raises(AdvqError, match="--surrogate"):
        evaluate(config(digits_run, out, attacks=["transfer"]))
    assert not out.exists()


def test_the_configuration_is_parsed_and_checked(tmp_path: Path):
    cfg = resolve(EvaluateConfig, {"attacks": ["PGD_10", "Square"], "attack-options": {"pgd_10": {"step-size": "0.01"}}},
                  {"checkpoint": "runs/best.pt", "eps": "8/255"})
    assert cfg.attacks == ["pgd-10", "square"] and cfg.eps == pytest.approx(8 / 255)
    assert cfg.options_for("pgd-10") == {"step_size": "0.01"}
    assert cfg.output_path == Path("runs/best-evaluation.h5")
    with pytest.raises(AdvqError, match="more than once"):
        resolve(EvaluateConfig, {}, {"checkpoint": "x.pt", "attacks": "fgsm,FGSM"})
    with pytest.raises(AdvqError, match="exclude each other"):
        resolve(EvaluateConfig, {}, {"checkpoint": "x.pt", "resume": True, "overwrite": True})


def test_cli_prints_the_tables_and_the_gap_and_resumes(digits_run, evaluated, tmp_path: Path):
    out = tmp_path / "eval.h5"
    out.write_bytes(evaluated.out.read_bytes())
    options = tmp_path / "evaluate.yaml"
    options.write_text(yaml.safe_dump({"n-examples": N, "device": "cpu", "attacks": ["pgd-10", "autoattack"]}))
    result = runner.invoke(app, ["evaluate", str(digits_run.out / "best.pt"), "--config", str(options),
                                 "--attacks", "pgd-10,autoattack,pgd-20", "--per-class", "--out", str(out), "--resume"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "pgd-10: already in" in result.output and "autoattack: already in" in result.output
    for text in ("clean", "pgd-10 (stored)", "autoattack (stored)", "pgd-20", "worst case", "Accuracy per class"):
        assert text in result.output
    assert f"Overestimation gap (PGD-10 − AutoAttack): {evaluated.overestimation_gap:+.4f}" in result.output
    with h5py.File(out, "r") as h:
        assert list(h["attacks"]) == ["pgd-10", "fgsm", "autoattack", "pgd-20"]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("args", "message"), [
    (["notes.txt"], "is not an advq checkpoint"),
    (["missing.pt"], "Checkpoint not found"),
    (["best.pt", "--attacks", "pgd-10,pgd-11"], "Unknown attack 'pgd-11'"),
    (["best.pt", "--eps", "8/0"], "Malformed --eps"),
    (["best.pt", "--eps", "eight"], "Malformed --eps"),
    (["best.pt", "--eps", "8"], "must lie in [0, 1]"),
    (["other-data.pt"], "trained on other 'digits' data"),
    (["best.pt", "--attacks", "transfer", "--surrogate", "other-data.pt"], "Surrogate other-data.pt"),
    (["best.pt", "--out", "other-data.h5", "--resume"], "was made for dataset 'digits'"),
    (["best.pt", "--out", "done.h5"], "already exists"),
    (["best.pt", "--n-examples", "0"], "--n-examples must be positive"),
    (["best.pt", "--config", "typo.yaml"], "has no option n_querys"),
    (["best.pt", "--resume", "--overwrite"], "exclude each other"),
])
def test_bad_input_exits_2_with_one_line_and_leaves_files_intact(digits_run, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "best.pt").write_bytes((digits_run.out / "best.pt").read_bytes())
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    payload = read_checkpoint(digits_run.out / "best.pt")
    payload["dataset"] = {**payload["dataset"], "fingerprint": "0123456789abcdef"}
    save_checkpoint(tmp_path / "other-data.pt", payload)
    (tmp_path / "typo.yaml").write_text("attacks: square\nattack_options:\n  square: {n_querys: 10}\n")
    done = ["evaluate", "best.pt", "--attacks", "fgsm", "--n-examples", "20", "--device", "cpu"]
    assert runner.invoke(app, [*done, "--out", "done.h5"]).exit_code == 0
    assert runner.invoke(app, [*done, "--out", "other-data.h5"]).exit_code == 0
    with h5py.File(tmp_path / "other-data.h5", "r+") as h:
        h.attrs["dataset_fingerprint"] = "0123456789abcdef"
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["evaluate", args[0], "--n-examples", "20", "--device", "cpu", *args[1:]])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert snapshot(tmp_path) == before

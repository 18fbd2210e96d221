"""`advq explain finetune` on a small real digits profile: the targeted attack, the
high-quality subset, every per-class number recomputed from the stored models and
evaluation files, the figures drawn from them, resumption, refusals and the command line."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from advq_cli.attacks.pgd import cross_entropy_sum, pgd_perturb
from advq_cli.checkpoint import load_model, read_checkpoint, save_checkpoint
from advq_cli.cli import app
from advq_cli.lookups import get_dataset
from advq_cli.errors import AdvqError, FingerprintMismatchError
from advq_cli.explaining import FinetuneConfig, explain_finetune
from advq_cli.explaining.finetune import TargetedPair, towards
from advq_cli.plugins import register_plugin, unregister_plugin
from advq_cli.threat import Threat
from conftest import EpochCollector
from appendix_g import (
    TRAIN_EPS, as_array, check_files, checkpoint_of, class_accuracy, evaluation_file, make_profile, problem_rank,
    summary_of,
)

N_TEST = 100
FAST = dict(epochs=2, n_examples=N_TEST, device="cpu")


@pytest.fixture(scope="module")
def digits_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_profile(tmp_path_factory.mktemp("finetune-profile"))


@pytest.fixture(scope="module")
def finetuned(digits_profile: Path, tmp_path_factory: pytest.TempPathFactory):
    """The robust checkpoint fine-tuned with the pair 0:8 on all data and on the high-quality subset,
    with a logger plugin listening."""
    out_dir = tmp_path_factory.mktemp("finetune") / "out"
    config = FinetuneConfig(
        checkpoint=checkpoint_of(digits_profile), profile=digits_profile, pairs=[["0", "8"]], out_dir=out_dir, **FAST
    )
    collector = EpochCollector()
    name = register_plugin(collector, name="finetune-collector")
    try:
        result = explain_finetune(config)
    finally:
        unregister_plugin(name)
    return config, result, collector.events


def test_every_fine_tuning_epoch_reaches_the_plugins_and_history_csv(finetuned) -> None:
    _, result, events = finetuned
    runs = result.out_dir / "runs"
    assert [(e.command, e.run_id, e.epoch, e.epochs) for e in events] == [
        ("explain finetune", run, epoch, 2) for run in ("0-8-all", "0-8-high_quality") for epoch in (1, 2)
    ]
    for event in events:
        assert event.run_dir == runs / event.run_id and event.history[-1] == event.stats
    for run in ("0-8-all", "0-8-high_quality"):
        mine = [e for e in events if e.run_id == run]
        with (runs / run / "history.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert [int(r["epoch"]) for r in rows] == [1, 2]
        assert [float(r["train_robust_acc"]) for r in rows] == pytest.approx(
            [e.stats["train_robust_acc"] for e in mine], abs=1e-6)


def test_the_targeted_pair_attack_descends_towards_the_target(digits_run) -> None:
    model = load_model(digits_run.out / "best.pt")
    digits = get_dataset("digits")
    x, y = digits.test_images[:200].float() / 255, digits.test_labels[:200]
    method = TargetedPair(Threat(eps=0.2, steps=10, step_size=0.04), target=0, other=8)
    goals = method.goals(y)
    assert torch.equal(goals, torch.where(y == 0, 8, 0))
    torch.manual_seed(1)
    x_adv = method.perturb(model, x, goals, loss_fn=towards)
    torch.manual_seed(1)
    same = pgd_perturb(model, x, goals, 0.2, 10, 0.04, loss_fn=cross_entropy_sum, targeted=True)
    assert torch.equal(x_adv, same)  # ascending −CE is pgd_perturb's targeted descent
    assert (x_adv - x).abs().max() <= 0.2 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    with torch.no_grad():
        before, after = model(x).log_softmax(1), model(x_adv).log_softmax(1)
    assert after.gather(1, goals[:, None]).mean() > before.gather(1, goals[:, None]).mean() + 1
    assert (after.argmax(1) == goals).float().mean() > (before.argmax(1) == goals).float().mean() + 0.15
    out = method(model.train(), x[:32], y[:32])
    assert out.losses.shape == (32,) and torch.isfinite(out.losses).all() and out.losses.requires_grad


@pytest.mark.slow
def test_per_class_accuracies_come_from_the_stored_models(finetuned, digits_profile: Path) -> None:
    config, result, _ = finetuned
    out_dir = result.out_dir
    summary = summary_of(out_dir)
    assert summary == result.summary and summary["command"] == "finetune"
    digits = get_dataset("digits")
    x, labels = digits.test_images[:N_TEST].float() / 255, digits.test_labels[:N_TEST].numpy()

    # the high-quality subset: the ranked examples without the lowest-quality 20%
    rank = problem_rank(digits_profile)
    kept = np.load(out_dir / "high-quality.npy")
    removed = np.setdiff1d(np.flatnonzero(np.isfinite(rank)), kept)
    assert summary["high_quality"]["n"] == len(kept) == 1437 - round(0.2 * 1437)
    assert rank[kept].max() <= rank[removed].min()

    def check(measured: dict, checkpoint: Path, evaluation: Path) -> None:
        with torch.no_grad():
            clean = (load_model(checkpoint)(x).argmax(1).numpy() == labels)
        stored = evaluation_file(evaluation)
        assert np.array_equal(stored["labels"], labels) and np.array_equal(stored["clean"], clean)
        assert np.allclose(as_array(measured["clean"]["per_class"]), class_accuracy(clean, labels), equal_nan=True)
        assert measured["clean"]["all"] == pytest.approx(clean.mean())
        robust = stored["pgd-10"]
        assert np.allclose(as_array(measured["robust"]["per_class"]), class_accuracy(robust, labels), equal_nan=True)
        assert measured["robust"]["all"] == pytest.approx(robust.mean()) and not np.any(robust & ~clean)

    check(summary["before"], config.checkpoint, out_dir / "runs/before/evaluation.h5")
    (entry,) = summary["pairs"]
    assert (entry["pair"], entry["target"], entry["other"]) == ("0:8", 0, 8)
    original = read_checkpoint(config.checkpoint)["state_dict"]
    for condition, subset in (("all", None), ("high_quality", str((out_dir / "high-quality.npy").resolve()))):
        run = out_dir / "runs" / f"0-8-{condition}"
        measured = entry["conditions"][condition]
        assert measured["run"] == str(run)
        check(measured, run / "best.pt", run / "evaluation.h5")
        stored_config = yaml.safe_load((run / "config.yaml").read_text())
        assert stored_config["subset"] == subset and stored_config["epochs"] == 2 and stored_config["eps"] == TRAIN_EPS
        tuned = read_checkpoint(run / "last.pt")
        assert tuned["epoch"] == 2 and any(not torch.equal(tuned["state_dict"][k], v) for k, v in original.items())
        for kind in ("clean", "robust"):
            drop = summary["before"][kind]["per_class"][0] - measured[kind]["per_class"][0]
            assert entry["target_drop"][condition][kind] == pytest.approx(drop)

    # the figures hold those numbers: one panel for the pair, bars per class
    check_files(result, {"finetune-clean.png", "finetune-robust.png"})
    for kind in ("clean", "robust"):
        (panel,) = result.drawn[f"finetune-{kind}.png"].values()
        expected = [summary["before"], entry["conditions"]["all"], entry["conditions"]["high_quality"]]
        assert len(panel) == 3
        for heights, measured in zip(panel.values(), expected):
            assert np.allclose(heights, np.nan_to_num(as_array(measured[kind]["per_class"])))
    report = (out_dir / "report.md").read_text()
    assert "## 0:8" in report and "![finetune-clean.png](finetune-clean.png)" in report


def test_a_rerun_resumes_and_skips_finished_sub_runs(finetuned) -> None:
    config, result, _ = finetuned
    runs = result.out_dir / "runs"
    stamps = {p: p.stat().st_mtime_ns for p in runs.rglob("*.pt")}
    (runs / "0-8-all/evaluation.h5").unlink()  # as if interrupted before its evaluation
    again = explain_finetune(config)
    assert again.summary == result.summary
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*.pt")} == stamps


def test_bad_input_is_refused_before_anything_is_written(digits_profile: Path, tmp_path: Path) -> None:
    checkpoint = checkpoint_of(digits_profile)
    config = dict(checkpoint=checkpoint, profile=digits_profile, out_dir=tmp_path / "out", **FAST)
    with pytest.raises(AdvqError, match="Unknown class 'cat'"):
        explain_finetune(FinetuneConfig(pairs=[["cat", "8"]], **config))
    with pytest.raises(AdvqError, match="names one class twice"):
        explain_finetune(FinetuneConfig(pairs=[["8", "8"]], **config))
    foreign = tmp_path / "foreign.pt"
    payload = read_checkpoint(checkpoint)
    save_checkpoint(foreign, {**payload, "dataset": {**payload["dataset"], "fingerprint": "0" * 16}})
    with pytest.raises(FingerprintMismatchError, match="fingerprints differ"):
        explain_finetune(FinetuneConfig(pairs=[["0", "8"]], **{**config, "checkpoint": foreign}))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_command_line(digits_profile: Path, tmp_path: Path) -> None:
    options = tmp_path / "finetune.yaml"
    options.write_text(yaml.safe_dump({"pairs": ["1:7"], "epochs": 1, "remove-lowest": "1/4"}))
    out = CliRunner().invoke(app, [
        "explain", "finetune", str(checkpoint_of(digits_profile)), "--profile", str(digits_profile),
        "--config", str(options), "--out-dir", str(tmp_path / "ft"), "--n-examples", "50", "--lr", "0.02",
        "--device", "cpu",
    ])
    assert out.exit_code == 0, out.output
    summary = summary_of(tmp_path / "ft")
    assert [e["pair"] for e in summary["pairs"]] == ["1:7"] and summary["evaluation"]["n_examples"] == 50
    assert summary["fine_tuning"]["lr"] == 0.02 and summary["high_quality"]["remove_lowest"] == 0.25
    assert "Wrote" in out.output and "1:7" in out.output


@pytest.mark.parametrize(
    "args",
    [["--pairs", "0-8"], ["--pairs", "0:8", "--remove-lowest", "1.5"], ["--pairs", "0:8", "--attack", "nope"]],
)
def test_command_line_bad_input_exits_2(digits_profile: Path, tmp_path: Path, args: list[str]) -> None:
    out = CliRunner().invoke(app, [
        "explain", "finetune", str(checkpoint_of(digits_profile)), "--profile", str(digits_profile),
        "--out-dir", str(tmp_path / "out"), *args,
    ])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), out.output
    assert not (tmp_path / "out").exists()

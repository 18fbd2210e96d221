"""`advq explain competing` on a small real digits profile: the subsets rebuilt from the
problem rank, the per-class gap recomputed from each sub-run's evaluation file and model,
the figure drawn from it, resumption, refusals and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from advq_cli.checkpoint import load_model
from advq_cli.cli import app
from advq_cli.lookups import get_dataset
from advq_cli.errors import AdvqError
from advq_cli.explaining import CompetingConfig, explain_competing
from appendix_g import as_array, check_files, class_accuracy, evaluation_file, make_profile, problem_rank, summary_of

N_TEST = 100
# FGSM minus PGD-10 keeps the gap cheap on a CPU; the paper's pair is pgd-10,autoattack.
FAST = dict(epochs=2, eval_examples=0, n_examples=N_TEST, attacks=["fgsm", "pgd-10"], device="cpu")
KEYS = ["core", "low-1", "low-8", "low-1-8", "high-1", "high-8", "high-1-8"]


@pytest.fixture(scope="module")
def digits_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_profile(tmp_path_factory.mktemp("competing-profile"))


@pytest.fixture(scope="module")
def competing(digits_profile: Path, tmp_path_factory: pytest.TempPathFactory):
    """Classes 1 and 8 added to the core, low- and high-quality (seven short runs)."""
    out_dir = tmp_path_factory.mktemp("competing") / "out"
    config = CompetingConfig(profile=digits_profile, classes=["1", "8"], out_dir=out_dir, **FAST)
    return config, explain_competing(config)


@pytest.mark.slow
def test_subsets_follow_the_problem_rank(competing, digits_profile: Path) -> None:
    _, result = competing
    summary = summary_of(result.out_dir)
    assert summary == result.summary and summary["command"] == "competing"
    assert [c["name"] for c in summary["conditions"]] == KEYS
    rank = problem_rank(digits_profile)
    labels = get_dataset("digits").train_labels.numpy()
    sets = {key: np.load(result.out_dir / "subsets" / f"{key}.npy") for key in KEYS}

    core = sets["core"]
    counts = np.bincount(labels[core], minlength=10)
    assert len(core) == round(0.2 * 1437) and counts.max() - counts.min() <= 1  # class-balanced
    added = {}
    for c in (1, 8):
        members = np.flatnonzero(labels == c)
        inside, outside = np.intersect1d(members, core), np.setdiff1d(members, core)
        assert rank[inside].max() <= rank[outside].min()  # the core holds each class's best
        n = round(0.1 * len(members))
        for kind in ("low", "high"):
            extra = np.setdiff1d(sets[f"{kind}-{c}"], core)
            assert len(extra) == n and set(labels[extra]) == {c} and set(core) <= set(sets[f"{kind}-{c}"])
            rest = np.setdiff1d(outside, extra)
            if kind == "low":  # the lowest quality of the class
                assert rank[extra].min() >= rank[rest].max()
            else:  # the best outside the core
                assert rank[extra].max() <= rank[rest].min()
            added[kind, c] = extra
    for kind in ("low", "high"):
        both = np.union1d(core, np.union1d(added[kind, 1], added[kind, 8]))
        assert np.array_equal(sets[f"{kind}-1-8"], both)
    for record in summary["conditions"]:
        folder = result.out_dir / "runs" / record["name"]
        assert record["n_train"] == len(sets[record["name"]]) and record["run"] == str(folder)
        stored = yaml.safe_load((folder / "config.yaml").read_text())
        assert stored["subset"] == str((result.out_dir / "subsets" / f"{record['name']}.npy").resolve())
        assert stored["epochs"] == 2 and stored["model"] == "mlp" and stored["method"] == "pgd-at"


@pytest.mark.slow
def test_the_gap_per_class_comes_from_the_evaluation_files(competing) -> None:
    config, result = competing
    summary = result.summary
    digits = get_dataset("digits")
    x, labels = digits.test_images[:N_TEST].float() / 255, digits.test_labels[:N_TEST].numpy()
    assert summary["attacks"] == ["fgsm", "pgd-10"] and summary["evaluation"]["n_examples"] == N_TEST
    for record in summary["conditions"]:
        folder = result.out_dir / "runs" / record["name"]
        stored = evaluation_file(folder / "evaluation.h5")
        assert np.array_equal(stored["labels"], labels)
        with torch.no_grad():
            clean = load_model(folder / "best.pt")(x).argmax(1).numpy() == labels
        assert np.array_equal(stored["clean"], clean)
        assert np.allclose(as_array(record["accuracy"]["clean"]["per_class"]), class_accuracy(clean, labels), equal_nan=True)
        gap = class_accuracy(stored["fgsm"], labels) - class_accuracy(stored["pgd-10"], labels)
        assert np.allclose(as_array(record["gap"]["per_class"]), gap, equal_nan=True)
        assert record["gap"]["all"] == pytest.approx(stored["fgsm"].mean() - stored["pgd-10"].mean())

    # one panel per kind of addition, each with the core first; bars: all, then per class
    check_files(result, {"competing-gap.png"})
    panels = list(result.drawn["competing-gap.png"].values())
    by_label = {r["label"]: r for r in summary["conditions"]}
    assert [list(p) for p in panels] == [
        ["high-quality core", "+ low-quality 1", "+ low-quality 8", "+ low-quality 1 & 8"],
        ["high-quality core", "+ high-quality 1", "+ high-quality 8", "+ high-quality 1 & 8"],
    ]
    for panel in panels:
        for label, heights in panel.items():
            gap = by_label[label]["gap"]
            assert np.allclose(heights, np.nan_to_num([gap["all"], *as_array(gap["per_class"])]))
    report = (result.out_dir / "report.md").read_text()
    assert "+ low-quality 1 & 8" in report and "![competing-gap.png](competing-gap.png)" in report


@pytest.mark.slow
def test_a_rerun_skips_finished_sub_runs(competing) -> None:
    config, result = competing
    runs = result.out_dir / "runs"
    stamps = {p: p.stat().st_mtime_ns for p in runs.rglob("*.pt")}
    (runs / "low-1-8/evaluation.h5").unlink()  # as if interrupted before its evaluation
    again = explain_competing(config)
    assert again.summary == result.summary
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*.pt")} == stamps


def test_bad_input_is_refused_before_anything_is_written(digits_profile: Path, tmp_path: Path) -> None:
    config = dict(profile=digits_profile, out_dir=tmp_path / "out", **FAST)
    with pytest.raises(ValueError, match="one or two classes"):
        explain_competing(CompetingConfig(**{**config, "classes": ["1", "2", "3"]}))
    with pytest.raises(AdvqError, match="Unknown class 'ship'"):
        explain_competing(CompetingConfig(**{**config, "classes": ["ship"]}))
    with pytest.raises(AdvqError, match=r"asks for \d+ examples of class '8'; \d+ ranked ones lie outside"):
        explain_competing(CompetingConfig(**{**config, "classes": ["8"], "core_fraction": 0.9}))
    with pytest.raises(ValueError, match="takes two attacks"):
        explain_competing(CompetingConfig(**{**config, "classes": ["8"], "attacks": ["pgd-10"]}))
    with pytest.raises(AdvqError, match="Unknown attack 'nope'"):
        explain_competing(CompetingConfig(**{**config, "classes": ["8"], "attacks": ["pgd-10", "nope"]}))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_command_line(digits_profile: Path, tmp_path: Path) -> None:
    options = tmp_path / "competing.yaml"
    options.write_text(yaml.safe_dump({"attacks": "fgsm,pgd-10", "epochs": 1, "eval-examples": 0}))
    out = CliRunner().invoke(app, [
        "explain", "competing", str(digits_profile), "--config", str(options), "--classes", "3",
        "--no-controls", "--out-dir", str(tmp_path / "co"), "--n-examples", "50", "--device", "cpu",
    ])
    assert out.exit_code == 0, out.output
    summary = summary_of(tmp_path / "co")
    assert [c["name"] for c in summary["conditions"]] == ["core", "low-3"] and summary["classes"] == ["3"]
    assert summary["training"]["epochs"] == 1 and summary["evaluation"]["n_examples"] == 50
    assert "+ low-quality 3" in out.output and "Wrote" in out.output

    bad = CliRunner().invoke(app, ["explain", "competing", str(digits_profile), "--out-dir", str(tmp_path / "x")])
    assert bad.exit_code == 2 and bad.output.strip().startswith("Error: --classes is needed"), bad.output
    assert not (tmp_path / "x").exists()

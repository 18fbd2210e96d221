"""Scripting: `--json` documents alone on stdout, `--quiet`, no colour in a pipe, completion, `--version`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from advq_cli import get_dataset
from advq_cli.cli import app
from advq_cli.cli.output import set_quiet
from advq_cli.curation.training_subset import load_subset

runner = CliRunner()
TINY_TRAIN = ["--dataset", "digits", "--model", "mlp", "--eps", "0.1", "--steps", "1", "--step-size", "0.1",
              "--epochs", "2", "--milestones", "", "--eval-examples", "40", "--device", "cpu"]
COLOUR_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "PY_COLORS", "CLICOLOR_FORCE", "NO_COLOR")


@pytest.fixture(autouse=True)
def loud_again():
    """`--quiet` is process-wide state of the console; leave it as other tests expect."""
    yield
    set_quiet(False)


def advq(*args: str, **env: str) -> subprocess.CompletedProcess:
    """A fresh `advq` process writing into pipes, with no colour forced by the environment."""
    base = {k: v for k, v in os.environ.items() if k not in COLOUR_ENV}
    return subprocess.run([sys.executable, "-m", "advq_cli", *args], capture_output=True, text=True,
                          env={**base, "COLUMNS": "200", **env})


def test_evaluate_json_is_the_table_as_one_document_and_nothing_else(digits_run, tmp_path):
    out = tmp_path / "eval.h5"
    args = ["evaluate", str(digits_run.out / "best.pt"), "--attacks", "fgsm,pgd-10", "--n-examples", "60",
            "--device", "cpu", "--per-class", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # fails on anything printed besides the document
    rows = {row["attack"]: row for row in document["attacks"]}
    assert list(rows) == ["clean", "fgsm", "pgd-10", "worst case"]
    with h5py.File(out, "r") as handle:
        for name in ("fgsm", "pgd-10"):
            stored = handle[f"attacks/{name}/correct"]
            assert rows[name]["accuracy"] == pytest.approx(stored[()].mean())
            assert rows[name]["seconds"] > 0 and rows[name]["stored"] is False
        clean = handle["clean/correct"][()]
    assert rows["clean"]["accuracy"] == pytest.approx(clean.mean()) and rows["clean"]["seconds"] is None
    assert document["n_examples"] == 60 and document["out"] == str(out) and document["overestimation_gap"] is None
    classes = get_dataset("digits").classes
    assert list(document["per_class"]["pgd-10"]) == list(classes)
    # resumed with everything stored: the rows say so, and --quiet leaves the document alone on stdout
    resumed = runner.invoke(app, ["--quiet", *args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    again = json.loads(resumed.stdout)
    assert [r["stored"] for r in again["attacks"]] == [False, True, True, False]
    assert [r["accuracy"] for r in again["attacks"]] == [r["accuracy"] for r in document["attacks"]]


def test_quiet_prints_nothing_on_success_and_still_the_error(digits_run, tmp_path):
    out = tmp_path / "eval.h5"
    args = ["evaluate", str(digits_run.out / "best.pt"), "--attacks", "fgsm", "--n-examples", "30", "--device",
            "cpu", "--out", str(out)]
    loud = runner.invoke(app, args)
    assert loud.exit_code == 0 and "fgsm" in loud.stdout and "Per-example results" in loud.stdout
    quiet = runner.invoke(app, ["-q", *args, "--overwrite"])
    assert quiet.exit_code == 0 and quiet.output == "" and out.is_file()
    failed = runner.invoke(app, ["--quiet", *args])  # --out exists, no --resume/--overwrite
    assert failed.exit_code == 2 and failed.stdout == ""
    assert failed.stderr.startswith("Error: ") and len(failed.stderr.strip().splitlines()) == 1


def test_train_json_in_a_pipe_is_parseable_and_matches_history_csv(tmp_path):
    out = tmp_path / "run"
    result = advq("--quiet", "train", *TINY_TRAIN, "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)
    assert document["out"] == str(out) and document["best_epoch"] in (1, 2)
    with (out / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [h["epoch"] for h in document["history"]] == [int(r["epoch"]) for r in rows] == [1, 2]
    assert [h["test_robust_acc"] for h in document["history"]] == pytest.approx(
        [float(r["test_robust_acc"]) for r in rows], abs=1e-6)


def test_progress_in_a_pipe_is_a_plain_line_per_epoch_on_stderr(tmp_path):
    """No terminal, no bars: a log still shows each epoch as it finishes, and --quiet silences it."""
    out = tmp_path / "run"
    result = advq("train", *TINY_TRAIN, "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["training: epoch 1/2", "training: epoch 2/2"]
    assert all("test_robust" in line and line.endswith(" s") for line in lines)
    assert "\x1b" not in result.stderr and "epoch 1/2" not in result.stdout
    quiet = advq("--quiet", "train", *TINY_TRAIN, "--out", str(out), "--overwrite")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_profile_json_has_the_runs_and_quality_means(tmp_path):
    out = tmp_path / "p.h5"
    result = runner.invoke(app, ["--quiet", "profile", *TINY_TRAIN, "--epochs", "1", "--repeats", "1",
                                 "--min-perturbation-max", "2/255", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert [(r["run_id"], r["status"], r["epochs_done"]) for r in document["runs"]] == [("seed-0", "complete", 1)]
    assert document["quality_runs"] == 1 and document["checkpoints"] == str(out) + ".runs"
    with h5py.File(out, "r") as handle:
        rank = handle["quality/problem_rank"][()]
    assert document["quality"]["problem_rank"] == pytest.approx(np.nanmean(rank))


def test_curate_and_its_list_as_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    digits = get_dataset("digits")
    np.save("ranks.npy", np.random.default_rng(0).random(digits.n_train))
    result = runner.invoke(app, ["curate", "--from-npy", "ranks.npy", "--dataset", "digits", "--out", "sets.h5",
                                 "--remove-lowest", "0.25", "--baseline", "random", "--name", "clean", "--json",
                                 "--export", "npy", "--export-dir", "ex"])
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    sizes = {s["name"]: s["size"] for s in made["sets"]}
    kept = load_subset("sets.h5:clean", digits)
    assert sizes == {"clean": kept.size, "clean-random": kept.size}
    assert made["target"] == "sets.h5" and sorted(Path(p).name for p in made["exports"]) == [
        "clean-random.manifest.json", "clean-random.npy", "clean.manifest.json", "clean.npy"]
    listed = runner.invoke(app, ["curate", "--list", "sets.h5", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == {"file": "sets.h5", "sets": made["sets"]}


def test_plugins_json_lists_every_registered_name():
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"kind": "model", "name": "mlp", "plugin": "advq_cli.default_plugins.models"}.items() <= next(
        r for r in rows if r["name"] == "mlp").items()
    assert {r["kind"] for r in rows} == {"dataset", "model", "method", "attack", "measure", "exporter", "hook"}
    assert {"kind": "hook", "name": "advq_on_epoch_end", "plugin": "advq_cli.default_plugins.loggers"}.items() <= next(
        r for r in rows if r["kind"] == "hook" and r["plugin"].endswith("loggers")).items()


def test_no_colour_codes_in_a_pipe_unless_forced():
    piped = advq("plugins")
    assert piped.returncode == 0 and "mlp" in piped.stdout and "\x1b[" not in piped.stdout
    failed = advq("train", "--dataset", "digitz", "--out", "x")
    assert failed.returncode == 2 and "Unknown dataset" in failed.stderr and "\x1b[" not in failed.stderr
    forced = advq("plugins", FORCE_COLOR="1")  # proves the check above can fail
    assert "\x1b[" in forced.stdout


def test_version_is_the_installed_distributions():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"advq {version('advq')}\n"


def test_shell_completion_completes_commands_and_options():
    shown = runner.invoke(app, ["--show-completion", "bash"], prog_name="advq", env={"SHELL": "/bin/bash"})
    assert shown.exit_code == 0 and "_ADVQ_COMPLETE=complete_bash" in shown.stdout
    env = {"_ADVQ_COMPLETE": "complete_bash", "COMP_CWORD": "1", "COMP_WORDS": "advq ev"}
    assert runner.invoke(app, [], prog_name="advq", env=env).stdout.split() == ["evaluate"]
    env.update(COMP_CWORD="2", COMP_WORDS="advq evaluate --per")
    assert runner.invoke(app, [], prog_name="advq", env=env).stdout.split() == ["--per-class"]

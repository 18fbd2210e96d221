"""The example third-party plugin package, installed on its own, extends advq without touching it."""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "plugins" / "advq-example-plugin"


@pytest.fixture(scope="module")
def installed_plugin():
    if importlib.util.find_spec("advq_example_plugin") is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(PLUGIN_DIR)],
            check=True,
        )
    return PLUGIN_DIR


def advq(*args: str, **env: str) -> subprocess.CompletedProcess:
    """A fresh process, so entry points are discovered as a user's shell would (whatever this one loads)."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("ADVQ_LOAD_PLUGINS", "ADVQ_EXAMPLE_LOG")}
    return subprocess.run(
        [sys.executable, "-m", "advq_cli", *args], capture_output=True, text=True,
        env={**inherited, "COLUMNS": "250", **env},
    )


def test_plugins_lists_the_third_party_model_attack_method_and_measure(installed_plugin):
    result = advq("plugins", "--json")
    assert result.returncode == 0, result.stderr
    mine = {(r["kind"], r["name"]) for r in json.loads(result.stdout) if r["plugin"] == "example"}
    assert mine == {("model", "example-linear"), ("attack", "example-noise"), ("method", "example-noise-at"),
                    ("measure", "example-last-wrong-epoch"), ("hook", "advq_on_epoch_end")}


def test_train_uses_the_plugin_model_and_method(installed_plugin, tmp_path):
    out = tmp_path / "run"
    result = advq("train", "--dataset", "digits", "--model", "example-linear", "--method", "example-noise-at",
                  "--eps", "0.1", "--epochs", "2", "--milestones", "", "--device", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "best.pt").is_file()
    import advq_example_plugin
    from advq_cli import load_model
    from advq_cli.plugins import register_plugin, unregister_plugin

    register_plugin(advq_example_plugin, "example")  # this process keeps installed plugins out (conftest)
    try:
        model = load_model(out / "best.pt")
    finally:
        unregister_plugin("example")
    assert [type(m).__name__ for m in model.net] == ["Flatten", "Linear"]


def test_advq_load_plugins_limits_which_entry_points_load(installed_plugin):
    result = advq("plugins", ADVQ_LOAD_PLUGINS="")
    assert result.returncode == 0 and "example-linear" not in result.stdout
    result = advq("train", "--model", "example-linear", "--dataset", "digits", "--out", "x", ADVQ_LOAD_PLUGINS="")
    assert result.returncode == 2 and "Unknown model 'example-linear'" in result.stderr


def test_profile_stores_the_plugin_measure_and_tells_the_plugin_logger_every_epoch(installed_plugin, tmp_path):
    out, log = tmp_path / "p.h5", tmp_path / "epochs.jsonl"
    result = advq("profile", "--dataset", "digits", "--model", "example-linear", "--method", "example-noise-at",
                  "--eps", "0.1", "--epochs", "3", "--milestones", "", "--repeats", "1", "--eval-examples", "50",
                  "--min-perturbation-max", "2/255", "--subset", str(_first_half(tmp_path)), "--device", "cpu",
                  "--out", str(out), ADVQ_EXAMPLE_LOG=str(log))
    assert result.returncode == 0, result.stderr
    with h5py.File(out, "r") as handle:
        correct = handle["runs/seed-0/correct"][()]
        stored = handle["quality/example_last_wrong_epoch"][()]
    trained = correct[0] >= 0
    wrong = correct[:, trained] == 0
    expected = np.array([np.flatnonzero(column)[-1] + 1 if column.any() else 0 for column in wrong.T])
    assert np.array_equal(stored[trained], expected) and np.isnan(stored[~trained]).all()
    assert 0 < expected.max() <= 3  # a noise-trained linear model gets some digits wrong
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    with (tmp_path / "p.h5.runs" / "seed-0" / "history.csv").open() as handle:
        history = list(csv.DictReader(handle))
    assert [(x["command"], x["run_id"], x["epoch"]) for x in lines] == [("profile", "seed-0", e) for e in (1, 2, 3)]
    assert [x["train_robust_acc"] for x in lines] == pytest.approx([float(h["train_robust_acc"]) for h in history],
                                                                    abs=1e-6)


def _first_half(folder: Path) -> Path:
    """A subset, so the measure's NaN outside it is checked too."""
    path = folder / "half.npy"
    np.save(path, np.arange(700, dtype=np.int64))
    return path

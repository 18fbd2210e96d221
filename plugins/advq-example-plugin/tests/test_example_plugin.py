"""The example plugin, installed on its own, extends advq without touching it.

A plugin's tests, to copy with the template: each `advq` runs in a fresh process, so entry
points are discovered as in a user's shell; functions are also called directly.
"""

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
import torch

PLUGIN_DIR = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed_plugin():
    if importlib.util.find_spec("advq_example_plugin") is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(PLUGIN_DIR)],
            check=True,
        )
    return PLUGIN_DIR


def _without_advq_settings() -> dict[str, str]:
    """This environment less advq's plugin settings (a test runner may limit which plugins load)."""
    return {k: v for k, v in os.environ.items() if k not in ("ADVQ_LOAD_PLUGINS", "ADVQ_EXAMPLE_LOG")}


def advq(*args: str, **env: str) -> subprocess.CompletedProcess:
    """A fresh process, so entry points are discovered as a user's shell would (whatever this one loads)."""
    return subprocess.run(
        [sys.executable, "-m", "advq_cli", *args], capture_output=True, text=True,
        env={**_without_advq_settings(), "COLUMNS": "250", **env},
    )


def test_plugins_lists_everything_the_plugin_registers(installed_plugin):
    result = advq("plugins", "--json")
    assert result.returncode == 0, result.stderr
    mine = {(r["kind"], r["name"]) for r in json.loads(result.stdout) if r["plugin"] == "example"}
    assert mine == {("dataset", "example-stripes"), ("model", "example-linear"), ("attack", "example-noise"),
                    ("method", "example-noise-at"), ("measure", "example-last-wrong-epoch"),
                    ("exporter", "example-csv"), ("hook", "advq_on_epoch_end")}


def test_the_dataset_is_the_same_every_time_and_learnable(installed_plugin, tmp_path):
    from advq_example_plugin import STRIPES, load_stripes

    first, again = load_stripes(), load_stripes()
    assert first.fingerprint == again.fingerprint and torch.equal(first.train_images, again.train_images)
    assert first.train_images.shape == (500, 1, 12, 12) and first.classes == STRIPES
    assert np.bincount(first.train_labels.numpy()).tolist() == [167, 167, 166]
    out = tmp_path / "run"
    result = advq("train", "--dataset", "example-stripes", "--model", "mlp", "--method", "standard", "--epochs", "3",
                  "--milestones", "", "--device", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with (out / "history.csv").open() as handle:
        assert float(list(csv.DictReader(handle))[-1]["test_clean_acc"]) > 0.9  # stripes are easy to tell apart


def test_curate_exports_a_set_with_the_plugin_exporter(installed_plugin, tmp_path):
    profile, exports = tmp_path / "p.h5", tmp_path / "exports"
    result = advq("profile", "--dataset", "example-stripes", "--model", "example-linear", "--eps", "0.05",
                  "--steps", "1", "--step-size", "0.05", "--epochs", "2", "--milestones", "", "--repeats", "1",
                  "--min-perturbation-max", "2/255", "--device", "cpu", "--out", str(profile))
    assert result.returncode == 0, result.stderr
    result = advq("curate", str(profile), "--keep", "50", "--name", "best50", "--export", "example-csv",
                  "--export-dir", str(exports))
    assert result.returncode == 0, result.stderr
    with (exports / "best50.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    with h5py.File(profile, "r") as handle:
        indices = handle["subsets/best50/indices"][()]
    from advq_example_plugin import load_stripes

    labels = load_stripes().train_labels
    assert [int(r["index"]) for r in rows] == indices.tolist() and len(rows) == 50
    assert [int(r["label"]) for r in rows] == labels[indices].tolist()
    assert json.loads((exports / "best50.manifest.json").read_text())["dataset"] == "example-stripes"


def test_train_uses_the_plugin_model_and_method(installed_plugin, tmp_path):
    out = tmp_path / "run"
    result = advq("train", "--dataset", "digits", "--model", "example-linear", "--method", "example-noise-at",
                  "--eps", "0.1", "--epochs", "2", "--milestones", "", "--device", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stderr
    loaded = subprocess.run(  # advq's Python API, with the plugin found the way a user's script finds it
        [sys.executable, "-c", "import sys; from advq_cli import load_model; "
         "print([type(m).__name__ for m in load_model(sys.argv[1]).net])", str(out / "best.pt")],
        capture_output=True, text=True, env=_without_advq_settings(),
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "['Flatten', 'Linear']"


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

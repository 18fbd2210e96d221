"""The example third-party plugin package, installed on its own, extends advq without touching it."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

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
    """A fresh process, so entry points are discovered as a user's shell would."""
    return subprocess.run(
        [sys.executable, "-m", "advq_cli", *args], capture_output=True, text=True,
        env={**os.environ, "COLUMNS": "250", **env},
    )


def test_plugins_lists_the_third_party_model_attack_and_method(installed_plugin):
    result = advq("plugins")
    assert result.returncode == 0, result.stderr
    for kind, name in [("model", "example-linear"), ("attack", "example-noise"), ("method", "example-noise-at")]:
        assert any(kind in line and name in line and "example" in line for line in result.stdout.splitlines())


def test_train_uses_the_plugin_model_and_method(installed_plugin, tmp_path):
    out = tmp_path / "run"
    result = advq("train", "--dataset", "digits", "--model", "example-linear", "--method", "example-noise-at",
                  "--eps", "0.1", "--epochs", "2", "--milestones", "", "--device", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "best.pt").is_file()
    from advq_cli import load_model
    model = load_model(out / "best.pt")
    assert [type(m).__name__ for m in model.net] == ["Flatten", "Linear"]


def test_advq_load_plugins_limits_which_entry_points_load(installed_plugin):
    result = advq("plugins", ADVQ_LOAD_PLUGINS="")
    assert result.returncode == 0 and "example-linear" not in result.stdout
    result = advq("train", "--model", "example-linear", "--dataset", "digits", "--out", "x", ADVQ_LOAD_PLUGINS="")
    assert result.returncode == 2 and "Unknown model 'example-linear'" in result.stderr

"""The command line: thin over the library, one clear line and exit 2 on bad input."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from advq_cli.cli import app

runner = CliRunner()
TRAIN = ["train", "--dataset", "digits", "--model", "mlp", "--eps", "0.1", "--steps", "2", "--step-size", "0.05",
         "--epochs", "2", "--milestones", "", "--device", "cpu"]


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_train_end_to_end_with_config_file_and_override(tmp_path: Path):
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"dataset": "digits", "model": "mlp", "epochs": 5, "eps": "0.1", "steps": 2,
                                      "step-size": 0.05, "milestones": [], "device": "cpu"}))
    result = runner.invoke(app, ["train", "--config", str(config), "--epochs", "2", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    stored = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert stored["epochs"] == 2 and stored["steps"] == 2 and stored["eps"] == pytest.approx(0.1)
    assert stored["lr"] == 0.1  # the default, resolved and stored
    assert "Best epoch" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["--eps", "8/0"], "Malformed --eps"),
    (["--dataset", "digitz"], "Unknown dataset 'digitz'. Did you mean 'digits'?"),
    (["--model", "resnet"], "Unknown model"),
    (["--method", "pgdat"], "Unknown method"),
    (["--milestones", "5,x"], "Malformed --milestones"),
    (["--subset", "missing.npy"], "Subset file not found"),
    (["--subset", "bad.npy"], "out of range"),
    (["--subset", "sets.h5:nope"], "not an HDF5 file"),
    (["--config", "missing.yaml"], "Cannot read config file"),
    (["--config", "typo.yaml"], "did you mean '--epochs'"),
    (["--device", "cuda:7"], "cuda"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--resume", "--lr", "0.5"], "Cannot resume"),
    ([], "already holds a run"),
])
def test_bad_input_exits_2_with_one_line_and_leaves_files_intact(tmp_path: Path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "bad.npy", np.array([0, 99999]))
    (tmp_path / "sets.h5").write_text("not hdf5")
    (tmp_path / "typo.yaml").write_text("epoch: 3\n")
    run = tmp_path / "run"
    assert runner.invoke(app, [*TRAIN, "--out", str(run)]).exit_code == 0
    before = snapshot(tmp_path)
    reuse = message in ("Cannot resume", "already holds a run")
    result = runner.invoke(app, [*TRAIN, "--out", str(run), *([] if reuse else ["--overwrite"]), *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert snapshot(tmp_path) == before


def test_plugins_lists_every_kind():
    result = runner.invoke(app, ["plugins"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for kind, name in [("dataset", "digits"), ("model", "preact-resnet18"), ("method", "pgd-at"), ("attack", "pgd-10")]:
        assert any(kind in line and name in line for line in result.output.splitlines()), (kind, name)


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("advq ")

"""`advq_on_epoch_end`: a plugin sees every epoch of train and profile; the built-in loggers."""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from advq_cli import hookimpl
from advq_cli.checkpoint import read_checkpoint
from advq_cli.errors import AdvqError
from advq_cli.events import EpochEvent
from advq_cli.plugins import register_plugin, unregister_plugin
from advq_cli.profiling import ProfileConfig, checkpoints_dir, profile
from advq_cli.training import TrainConfig, train

from conftest import FAST_DIGITS, EpochCollector

TRAIN = TrainConfig(**{**FAST_DIGITS, "epochs": 2, "steps": 2, "eval_examples": 60})


class Broken:
    @hookimpl
    def advq_on_epoch_end(self, event: EpochEvent) -> None:
        raise RuntimeError(f"logger down at epoch {event.epoch}")


@pytest.fixture
def plugin():
    names: list[str] = []

    def add(obj: object, name: str) -> object:
        names.append(register_plugin(obj, name=name))
        return obj

    yield add
    for name in names:
        unregister_plugin(name)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_train_tells_a_plugin_every_epoch_with_the_epochs_numbers(plugin, tmp_path):
    collector = plugin(EpochCollector(), "collector")
    out = tmp_path / "run"
    result = train(replace(TRAIN, out=out))
    events = collector.events
    assert [e.epoch for e in events] == [1, 2]
    assert {(e.command, e.out, e.run_dir, e.run_id, e.seed, e.epochs) for e in events} == {
        ("train", out, out, "run", 0, 2)
    }
    assert [e.stats for e in events] == [asdict(h) for h in result.history]
    assert events[1].history == (events[0].stats, events[1].stats)
    assert events[0].config["method"] == "pgd-at" and events[0].config["out"] == str(out)
    # the built-in CSV logger wrote history.csv from the same numbers
    rows = csv_rows(out / "history.csv")
    assert [float(r["test_robust_acc"]) for r in rows] == pytest.approx([h.test_robust_acc for h in result.history])


def test_profile_tells_a_plugin_every_epoch_of_every_run_and_logs_each_run(plugin, tmp_path):
    collector = plugin(EpochCollector(), "collector")
    out = tmp_path / "digits.h5"
    config = ProfileConfig(**{**asdict(TRAIN), "out": out, "repeats": 2, "min_perturbation_max": 4 / 255})
    result = profile(config)
    events = collector.events
    assert [(e.run_id, e.seed, e.epoch) for e in events] == [("seed-0", 0, 1), ("seed-0", 0, 2),
                                                              ("seed-1", 1, 1), ("seed-1", 1, 2)]
    assert all(e.command == "profile" and e.out == out and e.epochs == 2 for e in events)
    for run in result.runs:
        run_dir = checkpoints_dir(out) / run.run_id
        mine = [e for e in events if e.run_id == run.run_id]
        assert all(e.run_dir == run_dir for e in mine)
        assert mine[-1].stats["train_robust_acc"] == pytest.approx(run.train_robust_acc)
        rows = csv_rows(run_dir / "history.csv")
        assert [int(r["epoch"]) for r in rows] == [1, 2]
        assert float(rows[-1]["train_robust_acc"]) == pytest.approx(run.train_robust_acc, abs=1e-6)


def test_a_failing_logger_stops_the_run_with_its_name_and_resume_continues(plugin, tmp_path):
    collector = plugin(EpochCollector(), "collector")
    plugin(Broken(), "broken-logger")
    out = tmp_path / "run"
    with pytest.raises(AdvqError, match=r"Plugin 'broken-logger' failed at the end of epoch 1 .*logger down"):
        train(replace(TRAIN, out=out))
    # the epoch was saved first, and the other loggers still ran
    assert read_checkpoint(out / "last.pt")["epoch"] == 1
    assert [int(r["epoch"]) for r in csv_rows(out / "history.csv")] == [1]
    assert [e.epoch for e in collector.events] == [1]
    unregister_plugin("broken-logger")
    result = train(replace(TRAIN, out=out, resume=True))
    assert [e.epoch for e in collector.events] == [1, 2]
    assert collector.events[-1].history[0] == collector.events[0].stats
    assert [int(r["epoch"]) for r in csv_rows(out / "history.csv")] == [1, 2] and result.best_epoch in (1, 2)


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_logger_writes_each_epoch_when_asked(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("ADVQ_TENSORBOARD", str(tmp_path / "tb"))
    result = train(replace(TRAIN, out=tmp_path / "run"))
    logs = EventAccumulator(str(tmp_path / "tb" / "run"))
    logs.Reload()
    assert {"accuracy/test_robust", "accuracy/train_clean", "loss/train", "lr", "seconds"} <= set(logs.Tags()["scalars"])
    robust = logs.Scalars("accuracy/test_robust")
    assert [s.step for s in robust] == [1, 2]
    assert [s.value for s in robust] == pytest.approx([h.test_robust_acc for h in result.history], abs=1e-6)

"""`advq profile --runs-together R` on digits: one run per group is today's profile bit for bit;
R runs in one pass give each run its own record (to the tolerance test_together.py explains),
checkpoints and measures; a crash leaving a group's runs at different epochs resumes them all."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from advq_cli.cli import app
from advq_cli.checkpoint import read_checkpoint
from advq_cli.profiling import EpochRecorder, ProfileConfig, checkpoints_dir, profile
from advq_cli.profiling.epoch_rows import pending_epochs
from advq_cli.training import TrainingRun
from test_profile import CrashingReporter, SimulatedCrash, assert_same_profile, runs_of
from test_profile_executors import MessageReporter

FAST = dict(
    dataset="digits", model="mlp", epochs=3, milestones=[2], lr=0.05, eps=0.1, steps=2, step_size=0.05,
    eval_examples=60, batch_size=512, device="cpu", min_perturbation_max=2 / 255,
)
BATCHES = math.ceil(1437 / 512)


def make_config(out: Path, **overrides: object) -> ProfileConfig:
    return ProfileConfig(out=out, **{**FAST, **overrides})


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("alone") / "digits.h5"
    profile(make_config(out, repeats=3, runs_together=1))
    return out


@pytest.fixture(scope="module")
def together(tmp_path_factory) -> Path:
    """Three runs in groups of two: seeds 0 and 1 in one pass, seed 2 alone."""
    out = tmp_path_factory.mktemp("together") / "digits.h5"
    profile(make_config(out, repeats=3, runs_together=2))
    return out


def assert_close_profiles(a: Path, b: Path) -> None:
    """The same runs, each record within the tolerance of runs trained together."""
    with h5py.File(a, "r") as ha, h5py.File(b, "r") as hb:
        assert sorted(ha["runs"]) == sorted(hb["runs"])
        for ga, gb in zip(runs_of(ha), runs_of(hb)):
            assert ga.attrs["status"] == gb.attrs["status"] == "complete"
            assert ga.attrs["epochs_done"] == gb.attrs["epochs_done"]
            assert (ga["correct"][()] != gb["correct"][()]).sum() <= 3
            np.testing.assert_allclose(ga["true_prob"][()], gb["true_prob"][()], rtol=0, atol=5e-3)
            assert sorted(ga["measures"]) == sorted(gb["measures"])
        assert sorted(ha["quality"]) == sorted(hb["quality"])


def test_one_run_at_a_time_records_exactly_what_a_run_trained_alone_records(one_at_a_time: Path, tmp_path: Path):
    config = make_config(tmp_path / "unused.h5", repeats=3)
    run = TrainingRun(config.run_config(1, tmp_path / "seed-1"))
    rows = []
    for _ in range(config.epochs):
        recorder = EpochRecorder(run.bundle.n_train)
        run.run_epoch(recorder)
        rows.append(recorder.take())
    with h5py.File(one_at_a_time, "r") as handle:
        np.testing.assert_array_equal(handle["runs/seed-1/correct"][()], np.stack([c for c, _ in rows]))
        np.testing.assert_array_equal(handle["runs/seed-1/true_prob"][()], np.stack([p for _, p in rows]))


def test_runs_together_give_each_run_its_record_checkpoints_and_measures(together: Path, one_at_a_time: Path):
    assert_close_profiles(together, one_at_a_time)
    for seed in range(3):
        run_dir = checkpoints_dir(together) / f"seed-{seed}"
        mine, theirs = read_checkpoint(run_dir / "last.pt"), read_checkpoint(checkpoints_dir(one_at_a_time) / f"seed-{seed}" / "last.pt")
        assert mine.keys() == theirs.keys() and mine["state_dict"].keys() == theirs["state_dict"].keys()
        assert mine["optimizer"]["param_groups"] == theirs["optimizer"]["param_groups"]
        assert mine["scheduler"] == theirs["scheduler"] and mine["epoch"] == 3
        assert (run_dir / "best.pt").is_file()


def test_a_group_killed_at_different_epochs_resumes_every_run(together: Path, tmp_path: Path, monkeypatch):
    """Seed 1's epoch 2 reaches the file but not its checkpoint; the driver dies there.
    The resume catches seed 1 up alone, then trains both together to the end."""
    out = tmp_path / "killed.h5"
    original = TrainingRun.save

    def save_then_die(self, run_dir):
        if self.config.seed == 1 and self.epochs_done == 2:
            raise SimulatedCrash
        original(self, run_dir)

    monkeypatch.setattr(TrainingRun, "save", save_then_die)
    with pytest.raises(SimulatedCrash):
        profile(make_config(out, repeats=3, runs_together=2))
    monkeypatch.undo()
    assert [pending_epochs(checkpoints_dir(out) / f"seed-{s}") for s in (0, 1)] == [[1, 2], [1, 2]]
    assert read_checkpoint(checkpoints_dir(out) / "seed-1" / "last.pt")["epoch"] == 1
    reporter = MessageReporter()
    profile(make_config(out, repeats=3, runs_together=2, resume=True), reporter)
    assert any("seed 1): resuming after epoch 1" in m for m in reporter.messages)
    assert_close_profiles(out, together)


def test_a_crash_mid_epoch_of_a_group_resumes_to_the_same_profile(together: Path, tmp_path: Path):
    out = tmp_path / "crashed.h5"
    with pytest.raises(SimulatedCrash):  # both runs killed in the middle of their second epoch
        profile(make_config(out, repeats=3, runs_together=2), CrashingReporter("batches", BATCHES + 1))
    assert [pending_epochs(checkpoints_dir(out) / f"seed-{s}") for s in (0, 1)] == [[1], [1]]
    with h5py.File(out, "r") as h:
        assert "runs/seed-2" not in h
    profile(make_config(out, repeats=3, runs_together=2, resume=True))
    assert_same_profile(out, together)  # every epoch re-seeds: the resumed group repeats the uninterrupted one


def test_runs_that_cannot_be_stacked_say_so_and_train_one_at_a_time(tmp_path: Path):
    out = tmp_path / "channels-last.h5"
    result = CliRunner().invoke(app, [
        "profile", "--dataset", "digits", "--model", "mlp", "--device", "cpu", "--out", str(out), "--repeats", "2",
        "--epochs", "1", "--steps", "1", "--eval-examples", "0", "--min-perturbation-max", "1/255", "--channels-last",
        "--runs-together", "2",
    ])
    assert result.exit_code == 0, result.output
    assert "--runs-together 2: --compile and --channels-last apply to one model at a time" in " ".join(
        result.output.split())
    with h5py.File(out, "r") as h:
        assert [g.attrs["status"] for g in runs_of(h)] == ["complete", "complete"]


@pytest.mark.slow
def test_worker_processes_train_groups_and_give_the_sequential_groups_profile(together: Path, tmp_path: Path):
    out = tmp_path / "parallel.h5"
    reporter = MessageReporter()
    profile(make_config(out, repeats=3, runs_together=2, parallel=2), reporter)
    assert len(reporter.merged()) == 3
    assert_same_profile(out, together)

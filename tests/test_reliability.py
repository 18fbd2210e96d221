"""Crash safety with real processes: kill -9 inside an HDF5 update, in the middle of a
`profile` or `train` epoch, and Ctrl-C; each resumed run must equal an uninterrupted one."""

from __future__ import annotations

import csv
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from advq_cli.checkpoint import read_checkpoint
from advq_cli.h5store import open_checked, stamp, updating
from advq_cli.profiling import ProfileConfig, checkpoints_dir, profile
from advq_cli.profiling.epoch_rows import pending_epochs, row_file
from advq_cli.training import TrainConfig, train

from test_profile import assert_same_profile

# The child processes use the tests' thread count, so their arithmetic is the reference's.
ENV = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()), "ADVQ_DEBUG": ""}
ADVQ = [sys.executable, "-m", "advq_cli"]
SETTINGS = dict(
    dataset="digits", model="mlp", epochs=3, milestones=[], lr=0.05, eps=0.1, steps=2, step_size=0.05,
    eval_examples=60, device="cpu", seed=0,
)


def options(values: dict) -> list[str]:
    """Library settings as command-line options."""
    args = []
    for key, value in values.items():
        shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        args += [f"--{key.replace('_', '-')}", shown]
    return args


def finish(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([*ADVQ, *args], env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


PAUSED_IN_EPOCH_2 = """
import sys, time
from pathlib import Path
from advq_cli.cli import main, progress

marker = Path(sys.argv[1])
start, advance = progress.RichReporter.start, progress.RichReporter.advance
epoch = {"description": ""}

def start_and_note(self, key, description, total):
    if key == "batches":
        epoch["description"], epoch["batches"] = description, 0
    start(self, key, description, total)

def advance_then_pause(self, key, n=1, **fields):
    advance(self, key, n, **fields)
    if key == "batches" and epoch["description"].startswith("epoch 2/"):
        epoch["batches"] += n
        if epoch["batches"] == 2:  # two optimiser steps into epoch 2: nothing of it is saved
            marker.touch()
            time.sleep(600)

progress.RichReporter.start, progress.RichReporter.advance = start_and_note, advance_then_pause
sys.argv = ["advq", *sys.argv[2:]]
main()
"""
"""The real `advq` command line, held still two batches into epoch 2 once ``marker`` appears."""


def paused_in_epoch_2(args: list[str], marker: Path) -> subprocess.Popen:
    """``advq *args`` as a real process, returned once it is held inside epoch 2 (no timing involved)."""
    process = subprocess.Popen([sys.executable, "-c", PAUSED_IN_EPOCH_2, str(marker), *args], env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not marker.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "epoch 2 never began"
        time.sleep(0.02)
    return process


def kill_in_the_middle_of_epoch_2(args: list[str], marker: Path) -> int:
    process = paused_in_epoch_2(args, marker)
    process.kill()
    process.communicate(timeout=120)
    return process.returncode


# -- an HDF5 update killed half-way ---------------------------------------------------------------

CHILD = """
import sys, time
from pathlib import Path
import numpy as np
from advq_cli.h5store import updating
path, ready = Path(sys.argv[1]), Path(sys.argv[2])
with updating(path) as handle:
    del handle["values"]
    handle.create_dataset("values", data=np.random.default_rng(1).random((1000, 1000)))
    handle.attrs["dataset"] = "half-written"
    handle.flush()
    ready.touch()
    time.sleep(600)
"""


def test_kill_9_inside_an_hdf5_update_leaves_the_previous_file_intact(tmp_path: Path):
    path = tmp_path / "store.h5"
    values = np.arange(1000.0)
    with updating(path) as handle:
        stamp(handle, "advq-subsets", "digits", "0123456789abcdef")
        handle.create_dataset("values", data=values)
    before = path.read_bytes()
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(ready)], env=ENV, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None, child.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child.kill()
    child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    with open_checked(path, ("advq-subsets",), "0123456789abcdef") as handle:
        np.testing.assert_array_equal(handle["values"][()], values)
        assert handle.attrs["dataset"] == "digits"
    # the half-written copy is the only other file: the kill did land inside the update
    leftovers = [p for p in tmp_path.iterdir() if p not in (path, ready)]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".store.h5.")


# -- profile and train killed with SIGKILL in the middle of an epoch -----------------------------


@pytest.mark.slow
def test_profile_killed_mid_epoch_resumes_to_the_identical_profile(tmp_path: Path):
    reference = tmp_path / "reference.h5"
    values = dict(SETTINGS, repeats=1, min_perturbation_max="4/255")
    profile(ProfileConfig(out=reference, **{**values, "min_perturbation_max": 4 / 255}))
    out = tmp_path / "killed.h5"
    args = ["profile", *options(values), "--out", str(out)]
    assert kill_in_the_middle_of_epoch_2(args, tmp_path / "in-epoch-2") == -signal.SIGKILL
    with h5py.File(out, "r") as handle:  # as the run's start left it: its epochs wait in row files
        run = handle["runs/seed-0"]
        assert run.attrs["status"] == "partial" and run.attrs["epochs_done"] == 0
    assert pending_epochs(checkpoints_dir(out) / "seed-0") == [1]
    with np.load(row_file(checkpoints_dir(out) / "seed-0", 1)) as row:
        assert (row["correct"] >= 0).all() and int(row["best_epoch"]) == 1
    assert read_checkpoint(checkpoints_dir(out) / "seed-0" / "last.pt")["epoch"] == 1
    finish(*args, "--resume")
    assert_same_profile(out, reference)


def history_without_seconds(run_dir: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader((run_dir / "history.csv").open()))
    for row in rows:
        del row["seconds"]
    return rows


@pytest.mark.slow
def test_train_killed_mid_epoch_resumes_to_identical_history_and_best_weights(tmp_path: Path):
    reference = train(TrainConfig(out=tmp_path / "reference", **SETTINGS)).out
    out = tmp_path / "killed"
    args = ["train", *options(SETTINGS), "--out", str(out)]
    assert kill_in_the_middle_of_epoch_2(args, tmp_path / "in-epoch-2") == -signal.SIGKILL
    assert read_checkpoint(out / "last.pt")["epoch"] == 1
    assert len(history_without_seconds(out)) == 1
    finish(*args, "--resume")
    assert history_without_seconds(out) == history_without_seconds(reference)
    best, expected = read_checkpoint(out / "best.pt"), read_checkpoint(reference / "best.pt")
    assert best["epoch"] == expected["epoch"]
    assert best["state_dict"].keys() == expected["state_dict"].keys()
    assert all(torch.equal(best["state_dict"][k], expected["state_dict"][k]) for k in expected["state_dict"])


# -- Ctrl-C -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_ctrl_c_exits_130_with_the_command_that_resumes(tmp_path: Path):
    out = tmp_path / "run"
    process = paused_in_epoch_2(["train", *options({**SETTINGS, "epochs": 4}), "--out", str(out), "--overwrite"],
                                tmp_path / "in-epoch-2")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    hint = stderr.strip().splitlines()[-1]
    assert hint.startswith("Interrupted: every completed epoch is saved; continue with `advq train "), hint
    command = shlex.split(hint.split("`")[1])
    assert command[-1] == "--resume" and "--overwrite" not in command
    saved = read_checkpoint(out / "last.pt")["epoch"]
    assert saved == 1 and len(history_without_seconds(out)) == 1
    resumed = finish(*command[1:])
    assert f"after epoch {saved}." in " ".join(resumed.stderr.split())  # rich wraps at 80 columns
    assert [int(r["epoch"]) for r in history_without_seconds(out)] == [1, 2, 3, 4]

"""One writer per output, with real processes: a second writer stops naming the first (or
waits with --wait), a killed writer's lock is taken over, two curates never lose a set; and
the faults around writing: symlinked and moved profiles, a checkpoint ahead of its record,
a full disk (a file-size limit on the process)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
from typer.testing import CliRunner

from advq_cli.checkpoint import read_checkpoint, save_checkpoint
from advq_cli.cli import app
from advq_cli.curation import list_subsets
from advq_cli.explaining.profiles import read_profile
from advq_cli.locking import lock_path

from test_reliability import ENV, paused_in_epoch_2
from test_reliability_inputs import BASE, TRAINING, inside, replaced, snapshot, world  # noqa: F401 (fixtures)

ADVQ = [sys.executable, "-m", "advq_cli"]

HOLD = """
import sys, time
from pathlib import Path
from advq_cli.locking import exclusive
with exclusive(sys.argv[1]):
    Path(sys.argv[2]).touch()
    time.sleep(float(sys.argv[3]))
"""
"""Holds the lock of ``argv[1]`` for ``argv[3]`` seconds, touching ``argv[2]`` once it holds it."""


def holder(target: Path, seconds: float = 600) -> subprocess.Popen:
    """A real process holding ``target``'s lock, returned once it holds it."""
    ready = target.parent / f"{target.name}.held"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(target), str(ready), str(seconds)], env=ENV)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    ready.unlink()
    return process


def advq(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*ADVQ, *args], env=ENV, capture_output=True, text=True, timeout=300, **kwargs)


# the output each command of the bad-input table writes
OUTPUTS = {"train": "new", "profile": "new.h5", "curate": "t.h5", "evaluate": "new-e.h5", "correlations": "c",
           "examples": "x"}


@pytest.mark.parametrize("command", list(OUTPUTS))
def test_a_second_writer_stops_at_once_naming_the_first(inside: Path, command: str):
    first = holder(inside / OUTPUTS[command])
    try:
        before = snapshot(inside)
        result = CliRunner().invoke(app, BASE[command])
        assert result.exit_code == 2, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert lines == [f"Error: {inside / OUTPUTS[command]} is being written by process {first.pid}: wait for it to "
                         "finish (or pass --wait to wait for it)."], result.output
        assert snapshot(inside) == before
    finally:
        first.kill()
        first.wait()


def test_with_wait_the_second_writer_waits_then_writes(inside: Path):
    first = holder(inside / "t.h5")
    second = subprocess.Popen([*ADVQ, *BASE["curate"], "--wait"], env=ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    waiting = second.stderr.readline()  # blocks until the second writer says it waits
    assert waiting.startswith(f"Waiting for process {first.pid}, which is writing"), waiting
    assert not (inside / "t.h5").exists()
    first.kill()  # the first writer ends (here: dies); the second goes on
    first.wait()
    _, rest = second.communicate(timeout=300)
    assert second.returncode == 0, rest
    assert [s.name for s in list_subsets(inside / "t.h5")] == ["t"]


def test_the_lock_of_a_killed_writer_is_taken_over(inside: Path):
    first = holder(inside / "t.h5")
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert lock_path(inside / "t.h5").exists()  # left behind by kill -9, but no longer held
    result = CliRunner().invoke(app, BASE["curate"])
    assert result.exit_code == 0, result.output
    assert not lock_path(inside / "t.h5").exists()


def test_two_curates_of_one_profile_at_once_keep_both_sets(inside: Path):
    names = ["first", "second"]
    processes = [subprocess.Popen([*ADVQ, "curate", "p.h5", "--keep", "100", "--name", name, "--wait"], env=ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for name in names]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()
    assert {s.name for s in list_subsets(inside / "p.h5")} == set(names)


def test_a_resume_beside_a_running_profile_stops_naming_it(inside: Path):
    args = ["profile", *TRAINING, "--epochs", "3", "--repeats", "1", "--out", "live.h5"]
    running = paused_in_epoch_2(args, inside / "in-epoch-2")
    try:
        result = CliRunner().invoke(app, [*args, "--resume"])
        assert result.exit_code == 2, result.output
        assert f"live.h5 is being written by process {running.pid}" in result.output
    finally:
        running.kill()
        running.communicate()


def with_run_attrs(path: Path, **attrs) -> None:
    with h5py.File(path, "r+") as handle:
        handle["runs/seed-0"].attrs.update(attrs)


def test_a_checkpoint_ahead_of_its_record_says_the_file_is_an_older_copy(inside: Path):
    """q.h5 records one epoch of a two-epoch run whose checkpoint is at epoch 2: the file was restored from a copy."""
    shutil.copytree(inside / "p.h5.runs", inside / "q.h5.runs")
    with h5py.File(inside / "q.h5", "r+") as handle:
        handle.attrs["config"] = handle.attrs["config"].replace("epochs: 1\n", "epochs: 2\n")
        handle["runs/seed-0"].attrs.update(status="partial", epochs_done=1, epochs=2)
    checkpoint = inside / "q.h5.runs" / "seed-0" / "last.pt"
    payload = read_checkpoint(checkpoint)
    save_checkpoint(checkpoint, {**payload, "epoch": 2, "config": {**payload["config"], "epochs": 2}})
    args = ["profile", *TRAINING, "--epochs", "2", "--repeats", "1", "--out", "q.h5", "--min-perturbation-max", "2/255",
            "--resume"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())
    assert "is at epoch 2 but q.h5 records only 1, so q.h5 is an older copy than its q.h5.runs folder" in line, line
    assert "another profile" not in line


def test_curate_writes_through_a_symlinked_profile(inside: Path):
    (inside / "real").mkdir()
    shutil.move(inside / "p.h5", inside / "real" / "p.h5")
    (inside / "p.h5").symlink_to(inside / "real" / "p.h5")
    result = CliRunner().invoke(app, ["curate", "p.h5", "--keep", "50", "--name", "linked"])
    assert result.exit_code == 0, result.output
    assert (inside / "p.h5").is_symlink()
    assert "linked" in {s.name for s in list_subsets(inside / "real" / "p.h5")}
    assert sorted(p.name for p in (inside / "real").iterdir()) == ["p.h5"]  # no temporary or lock file left


def test_a_profile_moved_with_its_folder_finds_its_checkpoints(inside: Path):
    # a copy beside the original, without a folder of its own, reads the original's
    shutil.copyfile(inside / "p.h5", inside / "copy.h5")
    assert read_profile(inside / "copy.h5").checkpoints["seed-0"] == inside / "p.h5.runs" / "seed-0"
    shutil.move(inside / "p.h5", inside / "moved.h5")
    shutil.move(inside / "p.h5.runs", inside / "moved.h5.runs")
    assert read_profile(inside / "moved.h5").checkpoints["seed-0"] == inside / "moved.h5.runs" / "seed-0"
    result = CliRunner().invoke(app, replaced(BASE["examples"], "p.h5", "moved.h5"))  # its default checkpoint
    assert result.exit_code == 0, result.output


def test_resuming_a_profile_moved_without_its_folder_says_what_to_move(inside: Path):
    shutil.move(inside / "p.h5", inside / "moved.h5")
    with_run_attrs(inside / "moved.h5", status="partial")
    result = CliRunner().invoke(app, [*replaced(BASE["profile"], "new.h5", "moved.h5"), "--resume",
                                      "--min-perturbation-max", "2/255"])
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())
    assert "rename p.h5.runs to moved.h5.runs (or copy it there) and resume again" in line, line


def limited(bytes_: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (bytes_, resource.RLIM_INFINITY))


@pytest.mark.parametrize("args", [
    [*replaced(BASE["train"], "new", "run"), "--overwrite"],
    [*replaced(BASE["profile"], "new.h5", "p.h5"), "--resume", "--repeats", "2", "--min-perturbation-max", "2/255"],
    replaced(BASE["curate"], "t.h5", "sets.h5"),
    [*replaced(replaced(BASE["evaluate"], "new-e.h5", "e.h5"), "pgd-10", "pgd-10,fgsm"), "--resume"],
    BASE["evaluate"],
], ids=["train --overwrite", "profile --resume", "curate", "evaluate --resume", "evaluate"])
def test_a_full_disk_is_one_line_and_damages_nothing(inside: Path, args: list[str]):
    before = snapshot(inside)
    done = advq("--quiet", *args, preexec_fn=limited(4_000))  # every file these commands write is larger
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: Cannot write "), done.stderr
    assert "Free some space and run the command again." in done.stderr
    assert snapshot(inside) == before
    assert not [p for p in inside.rglob(".*") if p.name.endswith((".tmp", ".lock"))]

"""How `advq profile` executes its repeats: worker processes (`--parallel K`) and Ray tasks
give the sequential profile bit for bit, run files are merged as runs finish, and a resume
continues each run from whichever file holds more of it, whatever executed it before."""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advq_cli.cli import app
from advq_cli.errors import AdvqError
from advq_cli.h5store import updating
from advq_cli.profiling import ProfileConfig, checkpoints_dir, profile
from advq_cli.profiling.epoch_rows import pending_epochs
from advq_cli.profiling.store import copy_run, run_file_for, update_quality
from advq_cli.progress import NullReporter
from test_profile import CrashingReporter, SimulatedCrash, assert_same_profile

FAST = dict(
    dataset="digits", model="mlp", epochs=2, milestones=[], lr=0.05, eps=0.1, steps=1, step_size=0.1,
    eval_examples=30, batch_size=256, device="cpu", min_perturbation_max=2 / 255,
)
BATCHES = math.ceil(1437 / 256)


def make_config(out: Path, **overrides: object) -> ProfileConfig:
    return ProfileConfig(out=out, **{**FAST, **overrides})


class MessageReporter(NullReporter):
    """Keeps the driver's messages (one per merged run)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def info(self, message: str) -> None:
        self.messages.append(message)

    def merged(self) -> list[str]:
        return [m for m in self.messages if "merged into" in m]


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> Path:
    """Four runs, one after another: what every other executor must reproduce."""
    out = tmp_path_factory.mktemp("sequential") / "digits.h5"
    profile(make_config(out, repeats=4))
    return out


def first_runs(reference: Path, n: int, folder: Path) -> Path:
    """A copy of the reference keeping its first n runs, /quality recomputed over them."""
    out = folder / f"reference-{n}.h5"
    shutil.copyfile(reference, out)
    with updating(out) as handle:
        for seed in range(n, 4):
            del handle["runs"][f"seed-{seed}"]
        update_quality(handle)
    return out


def no_run_files(out: Path) -> bool:
    return not list(checkpoints_dir(out).glob("*/record.h5"))


# -- choosing the executor -----------------------------------------------------------------------


def test_executor_options_are_checked(tmp_path: Path) -> None:
    assert make_config(tmp_path / "a.h5").executor == "sequential"
    assert make_config(tmp_path / "a.h5", parallel=3).executor == "parallel"
    assert make_config(tmp_path / "a.h5", executor="ray", parallel=3).parallel == 3
    for bad, match in (
        (dict(executor="threads"), "Unknown --executor 'threads'"),
        (dict(executor="sequential", parallel=2), "--parallel 2.*--executor parallel or ray"),
        (dict(parallel=0), "--parallel must be at least 1"),
        (dict(ray_address="auto"), "--ray-address needs --executor ray"),
    ):
        with pytest.raises(ValueError, match=match):
            make_config(tmp_path / "a.h5", **bad)


def test_ray_missing_is_one_line_and_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    out = tmp_path / "p.h5"
    with pytest.raises(AdvqError, match=r"pip install 'advq\[ray\]'"):
        profile(make_config(out, repeats=1, executor="ray"))
    result = CliRunner().invoke(app, [
        "profile", "--dataset", "digits", "--model", "mlp", "--device", "cpu", "--out", str(out), "--executor", "ray",
    ])
    # (the CLI prints messages as rich markup, which currently swallows the "[ray]")
    assert result.exit_code == 2 and "needs Ray" in result.output and "pip install" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists() and not checkpoints_dir(out).exists()


def test_cli_refuses_parallel_with_the_sequential_executor(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [
        "profile", "--dataset", "digits", "--device", "cpu", "--out", str(tmp_path / "p.h5"),
        "--executor", "sequential", "--parallel", "2",
    ])
    assert result.exit_code == 2 and "--executor parallel or ray" in result.output, result.output
    assert not (tmp_path / "p.h5").exists()


# -- run files, merged and resumed --------------------------------------------------------------


def test_sequential_resume_takes_over_run_files(sequential: Path, tmp_path: Path) -> None:
    """A driver killed while two runs were outside it: seed 0 finished but not merged, seed 1
    one epoch in. The profile holds neither; a sequential resume merges seed 0 untrained
    and continues seed 1 from its run file."""
    out = tmp_path / "taken-over.h5"
    with pytest.raises(SimulatedCrash):
        profile(make_config(out, repeats=2), CrashingReporter("batches", 2 * BATCHES + BATCHES + 1))
    for seed in (0, 1):
        copy_run(out, run_file_for(out, seed), f"seed-{seed}", quality=False)
    with updating(out) as handle:
        del handle["runs"]["seed-0"], handle["runs"]["seed-1"], handle["quality"]
    reporter = MessageReporter()
    profile(make_config(out, repeats=2, resume=True), reporter)
    assert reporter.merged() == [f"Run 1/2 (seed 0) finished; merged into {out}."]  # seed 1 ran in the profile
    assert_same_profile(out, first_runs(sequential, 2, tmp_path))
    assert no_run_files(out)


@pytest.mark.slow
def test_parallel_resumes_a_sequential_profile_identically(sequential: Path, tmp_path: Path) -> None:
    """Seed 0 killed in its second epoch, sequentially; then two runs at once in worker
    processes: seed 0 continues from the profile's record, and the result is the sequential one."""
    out = tmp_path / "parallel.h5"
    with pytest.raises(SimulatedCrash):
        profile(make_config(out, repeats=1), CrashingReporter("batches", BATCHES + 1))
    assert pending_epochs(checkpoints_dir(out) / "seed-0") == [1]
    reporter = MessageReporter()
    profile(make_config(out, repeats=2, resume=True, parallel=2), reporter)
    assert sorted(reporter.merged()) == [f"Run {k + 1}/2 (seed {k}) finished; merged into {out}." for k in range(2)]
    assert_same_profile(out, first_runs(sequential, 2, tmp_path))
    assert no_run_files(out)


# -- Ray ------------------------------------------------------------------------------------------


@pytest.fixture
def local_ray():
    """A local Ray instance on the CPU with two workers."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_gives_the_sequential_ranks_and_resubmits_only_missing_runs(
    local_ray, sequential: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ray.h5"
    reporter = MessageReporter()
    profile(make_config(out, repeats=4, executor="ray"), reporter)
    assert len(reporter.merged()) == 4
    assert_same_profile(out, sequential)  # records, measures and /quality/problem_rank, bit for bit
    assert no_run_files(out)

    # seed 3 lost, seed 2 killed while measuring: only those two are submitted again
    with updating(out) as handle:
        del handle["runs"]["seed-3"], handle["runs"]["seed-2"]["measures"]
        handle["runs"]["seed-2"].attrs["status"] = "partial"
        update_quality(handle)
    resumed = MessageReporter()
    profile(make_config(out, repeats=4, executor="ray", resume=True), resumed)
    assert sorted(m.split(" finished")[0] for m in resumed.merged()) == ["Run 3/4 (seed 2)", "Run 4/4 (seed 3)"]
    assert_same_profile(out, sequential)

"""A profile run's per-epoch row files: written beside the run at the cost of one epoch,
folded into the profile file in one update, and a fold cut short before its row files are
removed folds again to the same file."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from advq_cli.errors import AdvqError
from advq_cli.h5store import stamp
from advq_cli.profiling.epoch_rows import append_epoch, fold_epochs, pending_epochs, row_file, rows_dir
from advq_cli.profiling.store import FORMAT, finish_run, read_state, start_run, write_epoch
from advq_cli.training import TrainConfig

N, EPOCHS = 500, 8
RUN = dict(dataset="digits", model="mlp", milestones=[], device="cpu", epochs=EPOCHS,
           eval_eps=0.1, eval_step_size=0.025, eval_steps=10)


def rows(epoch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An epoch's synthetic ``correct`` (int8) and ``true_prob`` (float16)."""
    rng = np.random.default_rng([seed, epoch])
    prob = rng.uniform(size=N)
    return (rng.uniform(size=N) < prob).astype(np.int8), prob.astype(np.float16)


def progress(epoch: int) -> dict[str, float]:
    return dict(best_epoch=epoch, best_robust_acc=epoch / 100, best_clean_acc=epoch / 50, train_robust_acc=epoch / 80)


def new_profile(path: Path, complete_runs: int = 0) -> tuple[str, Path]:
    """A profile holding ``complete_runs`` complete runs and a started run; its id and folder."""
    with h5py.File(path, "w") as handle:
        stamp(handle, FORMAT, "digits", "0" * 16, n_train=N, config="")
        for seed in range(complete_runs + 1):
            start_run(handle, f"seed-{seed}", TrainConfig(seed=seed, **RUN), N, N, "")
            if seed < complete_runs:
                for epoch in range(1, EPOCHS + 1):
                    write_epoch(handle, f"seed-{seed}", epoch, *rows(epoch, seed), **progress(epoch))
                finish_run(handle, f"seed-{seed}", {"instability": np.zeros(N)})
    run_id = f"seed-{complete_runs}"
    return run_id, path.with_name(path.name + ".runs") / run_id


def assert_holds(path: Path, run_id: str, epochs: int) -> None:
    """The file holds epochs 1..``epochs`` of the run as written, the rest unset, and the last epoch's progress."""
    with h5py.File(path, "r") as handle:
        group = handle["runs"][run_id]
        for epoch in range(1, epochs + 1):
            correct, true_prob = rows(epoch)
            np.testing.assert_array_equal(group["correct"][epoch - 1], correct)
            np.testing.assert_array_equal(group["true_prob"][epoch - 1], true_prob)
        assert (group["correct"][epochs:] == -1).all()
        assert group.attrs["epochs_done"] == epochs
        for key, value in progress(epochs).items():
            assert group.attrs[key] == value, key


def test_epochs_wait_in_row_files_until_folded_into_the_file(tmp_path: Path):
    path = tmp_path / "p.h5"
    run_id, run_dir = new_profile(path)
    before = path.read_bytes()
    for epoch in (1, 2, 3):
        append_epoch(run_dir, epoch, *rows(epoch), **progress(epoch))
    assert path.read_bytes() == before  # the epochs did not touch the file
    assert pending_epochs(run_dir) == [1, 2, 3]
    assert read_state(path).runs[run_id].epochs_done == 0

    state = fold_epochs(path, run_id, run_dir)
    assert state.epochs_done == 3 and state.best_epoch == 3
    assert_holds(path, run_id, 3)
    assert not rows_dir(run_dir).exists()  # every row file, and their folder, gone
    assert fold_epochs(path, run_id, run_dir).epochs_done == 3  # nothing left to fold


def test_a_fold_cut_short_before_removing_its_row_files_folds_again_to_the_same_file(tmp_path: Path):
    path = tmp_path / "p.h5"
    run_id, run_dir = new_profile(path)
    for epoch in (1, 2):
        append_epoch(run_dir, epoch, *rows(epoch), **progress(epoch))
    kept = tmp_path / "kept"
    shutil.copytree(rows_dir(run_dir), kept)
    fold_epochs(path, run_id, run_dir)
    shutil.copytree(kept, rows_dir(run_dir))  # the file updated, the row files not yet removed: a kill here
    (rows_dir(run_dir) / ".epoch-0003.npz.x1y2.tmp").write_bytes(b"half")  # and a row file killed while written
    folded = path.stat().st_ino

    assert fold_epochs(path, run_id, run_dir).epochs_done == 2
    assert path.stat().st_ino == folded  # not replaced: epochs the file holds are not written again
    assert not rows_dir(run_dir).exists()

    append_epoch(run_dir, 3, *rows(3), **progress(3))  # the run goes on
    assert fold_epochs(path, run_id, run_dir).epochs_done == 3
    assert_holds(path, run_id, 3)


def test_rows_after_a_gap_are_kept_for_the_file_they_belong_to(tmp_path: Path):
    """Epochs 3 and 4 cannot follow a file that holds none: the file is an older copy, and they wait."""
    path = tmp_path / "p.h5"
    run_id, run_dir = new_profile(path)
    for epoch in (3, 4):
        append_epoch(run_dir, epoch, *rows(epoch), **progress(epoch))
    assert fold_epochs(path, run_id, run_dir).epochs_done == 0
    assert pending_epochs(run_dir) == [3, 4]


def test_a_row_file_of_another_profile_is_refused_in_one_line(tmp_path: Path):
    path = tmp_path / "p.h5"
    run_id, run_dir = new_profile(path)
    correct, true_prob = rows(1)
    append_epoch(run_dir, 1, correct[:10], true_prob[:10], **progress(1))
    with pytest.raises(AdvqError, match="holds 10 examples, not the profile's 500"):
        fold_epochs(path, run_id, run_dir)
    row_file(run_dir, 1).write_bytes(b"not a zip")
    with pytest.raises(AdvqError, match="is not an epoch's row file of advq"):
        fold_epochs(path, run_id, run_dir)


def test_the_bytes_written_per_epoch_do_not_grow_with_the_epochs_or_runs_held(tmp_path: Path):
    written = []
    for complete_runs in (0, 3):
        folder = tmp_path / f"with-{complete_runs}"
        folder.mkdir()
        run_id, run_dir = new_profile(folder / "p.h5", complete_runs)
        for epoch in range(1, EPOCHS + 1):
            sizes = {p: p.stat().st_size for p in folder.rglob("*") if p.is_file()}
            append_epoch(run_dir, epoch, *rows(epoch), **progress(epoch))
            changed = [p for p in folder.rglob("*") if p.is_file() and sizes.get(p) != p.stat().st_size]
            assert changed == [row_file(run_dir, epoch)]  # the profile file untouched
            written.append(changed[0].stat().st_size)
    # one epoch's rows (N int8 + N float16) and a little framing, whatever the file already holds
    assert len(set(written)) == 1 and 3 * N < written[0] < 3 * N + 2_000, written

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from advq_cli import load_model
from advq_cli.checkpoint import read_checkpoint
from advq_cli.errors import AdvqError
from advq_cli.training import TrainConfig, TrainingRun, train
from advq_cli.training.augment import crop_and_flip
from advq_cli.training.evaluation import correctness

from conftest import FAST_DIGITS


def test_train_writes_the_four_files_and_a_sane_history(digits_run):
    out = digits_run.out
    assert {p.name for p in out.iterdir()} >= {"config.yaml", "best.pt", "last.pt", "history.csv"}
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"epoch", "lr", "train_loss", "train_clean_acc", "train_robust_acc",
                            "test_clean_acc", "test_robust_acc", "seconds"}
    best = rows[digits_run.best_epoch - 1]
    assert float(best["test_robust_acc"]) == pytest.approx(digits_run.best_robust_acc, abs=1e-6)
    assert 0.1 < digits_run.best_robust_acc < digits_run.best_clean_acc  # above chance, below clean


def test_early_stopping_keeps_the_epoch_with_the_best_robust_test_accuracy(digits_run):
    robust = [h.test_robust_acc for h in digits_run.history]
    assert digits_run.best_epoch == 1 + int(np.argmax(robust))
    best = read_checkpoint(digits_run.out / "best.pt")
    assert best["epoch"] == digits_run.best_epoch
    # the stored weights really are that epoch's: re-evaluating them reproduces its clean accuracy
    model = load_model(digits_run.out / "best.pt")
    from advq_cli import get_dataset
    images, labels = get_dataset("digits").split(train=False)
    clean = correctness(model, images, labels).float().mean().item()
    assert clean == pytest.approx(digits_run.best_clean_acc, abs=1e-6)


def test_best_epoch_is_not_simply_the_last_when_robustness_drops(tmp_path: Path):
    # a too-large learning rate late in training makes robust accuracy fall: the best epoch must be earlier
    cfg = TrainConfig(**{**FAST_DIGITS, "epochs": 6, "lr": 0.05}, out=tmp_path / "r")
    run = TrainingRun(cfg)
    robust = []
    for epoch in range(6):
        if epoch == 4:
            for group in run.optimizer.param_groups:
                group["lr"] = 5.0  # wreck the model
        robust.append(run.run_epoch().test_robust_acc)
    assert run.best_epoch == 1 + int(np.argmax(robust)) < 6


def test_without_evaluation_the_last_epoch_is_best(tmp_path: Path):
    result = train(TrainConfig(**{**FAST_DIGITS, "epochs": 2}, eval_examples=0, out=tmp_path / "r"))
    assert result.best_epoch == 2 and math.isnan(result.best_robust_acc)


def test_same_seed_same_result_and_resume_matches_an_uninterrupted_run(tmp_path: Path):
    full = train(TrainConfig(**FAST_DIGITS, out=tmp_path / "full"))
    partial_cfg = TrainConfig(**{**FAST_DIGITS, "epochs": 3}, out=tmp_path / "part")
    run = TrainingRun(partial_cfg)
    run.run_epoch()
    run.save(tmp_path / "part")  # as if killed during epoch 2
    resumed = train(TrainConfig(**FAST_DIGITS, out=tmp_path / "part", resume=True))
    assert [h.test_robust_acc for h in resumed.history] == [h.test_robust_acc for h in full.history]
    a = read_checkpoint(tmp_path / "full" / "last.pt")["state_dict"]
    b = read_checkpoint(tmp_path / "part" / "last.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_another_config_is_refused(digits_run, tmp_path: Path):
    with pytest.raises(AdvqError, match="differs in lr"):
        train(TrainConfig(**{**FAST_DIGITS, "lr": 0.01}, out=digits_run.out, resume=True))


def test_an_existing_run_is_not_overwritten_by_accident(digits_run):
    before = (digits_run.out / "last.pt").read_bytes()
    with pytest.raises(AdvqError, match="--resume.*--overwrite"):
        train(TrainConfig(**FAST_DIGITS, out=digits_run.out))
    assert (digits_run.out / "last.pt").read_bytes() == before


def test_subset_trains_on_exactly_those_examples(tmp_path: Path):
    keep = np.arange(0, 1437, 3)
    np.save(tmp_path / "keep.npy", keep)
    run = TrainingRun(TrainConfig(**FAST_DIGITS, subset=str(tmp_path / "keep.npy"), out=tmp_path / "r"))
    assert np.array_equal(run.train_indices, keep) and len(run.labels) == len(keep)


@pytest.mark.parametrize(("values", "message"), [
    (np.array([0, 5, 5]), "repeats"),
    (np.array([0, 1437]), "out of range"),
    (np.array([-1, 2]), "out of range"),
    (np.array([0.5, 2.0]), "whole-number"),
])
def test_bad_subsets_are_refused(tmp_path: Path, values, message):
    np.save(tmp_path / "bad.npy", values)
    with pytest.raises(AdvqError, match=message):
        TrainingRun(TrainConfig(**FAST_DIGITS, subset=str(tmp_path / "bad.npy"), out=tmp_path / "r"))


def test_crop_and_flip_moves_pixels_but_keeps_shape_and_values():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 32, 32)
    y = crop_and_flip(x)
    assert y.shape == x.shape
    # every output is a translated (and maybe mirrored) copy: its non-padding pixels come from the input
    assert not torch.equal(x, y)
    assert set(torch.unique(y[y != 0]).tolist()) <= set(torch.unique(x).tolist())
    # translation by zero and no flip happens for some examples: those are unchanged
    same = (y == x).flatten(1).all(1)
    assert 0 < same.sum() < len(x)


def test_crop_and_flip_mirrors_exactly():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(200, 1, 1, 1)
    y = crop_and_flip(x, padding=0)
    flipped = (y == x.flip(3)).flatten(1).all(1)
    kept = (y == x).flatten(1).all(1)
    assert bool((flipped | kept).all()) and 50 < int(flipped.sum()) < 150


def test_a_crash_between_best_and_last_checkpoint_is_repaired_on_resume(tmp_path: Path):
    out = tmp_path / "run"
    cfg = TrainConfig(**FAST_DIGITS, out=out)
    run = TrainingRun(cfg)
    run.run_epoch()
    run.save(out)
    run.run_epoch()
    # killed after best.pt of epoch 2 was written, before last.pt: pretend epoch 2 improved
    from advq_cli.checkpoint import save_checkpoint
    save_checkpoint(out / "best.pt", {**run._payload(), "epoch": 2, "robust_acc": 1.0, "clean_acc": 1.0})
    resumed = TrainingRun(TrainConfig(**FAST_DIGITS, out=out, resume=True))
    resumed.restore(out)
    assert resumed.epochs_done == 1
    assert read_checkpoint(out / "best.pt")["epoch"] == 1 == resumed.best_epoch

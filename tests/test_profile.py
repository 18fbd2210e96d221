"""`advq profile` on the embedded digits: the record, each measure against a hand-computed
case, ranks, subset masking, crash and resume, refusals, and the command line."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from typer.testing import CliRunner

from advq_cli import hookimpl
from advq_cli.cli import app
from advq_cli.lookups import get_dataset
from advq_cli.errors import AdvqError, FingerprintMismatchError
from advq_cli.plugins import register_plugin, registry, unregister_plugin
from advq_cli.profiling import (
    EpochRecorder, ProfileConfig, RunRecord, average_ranks, checkpoints_dir, compute_measures, normalised_rank,
    profile, read_quality,
)
from advq_cli.profiling import measures as M
from advq_cli.profiling.epoch_rows import fold_epochs, pending_epochs, rows_dir
from advq_cli.progress import NullReporter
from advq_cli.training import TrainingRun

BUILT_IN_MEASURES = {
    "instability", "first_learned_epoch", "forgetting_events", "true_prob", "min_perturbation", "confidence",
    "variability",
}
EPOCHS = 3
BASE = dict(
    dataset="digits", model="mlp", epochs=EPOCHS, milestones=[], lr=0.05, eps=0.1, steps=2, step_size=0.05,
    eval_examples=60, batch_size=128, device="cpu", min_perturbation_max=8 / 255,
)


def make_config(out: Path, **overrides: object) -> ProfileConfig:
    return ProfileConfig(out=out, **{**BASE, **overrides})


@pytest.fixture(scope="module")
def digits():
    return get_dataset("digits")


@pytest.fixture(scope="module")
def profiled(tmp_path_factory, digits) -> Path:
    """Two complete runs on all of digits: the reference every resumed profile must equal."""
    out = tmp_path_factory.mktemp("profile") / "digits.h5"
    profile(make_config(out, repeats=2))
    return out


@pytest.fixture(scope="module")
def subset_file(tmp_path_factory, digits) -> Path:
    indices = np.sort(np.random.default_rng(0).choice(digits.n_train, 400, replace=False))
    path = tmp_path_factory.mktemp("subset") / "subset.npy"
    np.save(path, indices)
    return path


@pytest.fixture(scope="module")
def subset_profiled(tmp_path_factory, subset_file) -> Path:
    out = tmp_path_factory.mktemp("subset-profile") / "subset.h5"
    profile(make_config(out, repeats=2, subset=str(subset_file)))
    return out


def runs_of(handle: h5py.File) -> list[h5py.Group]:
    return sorted(handle["runs"].values(), key=lambda g: int(g.attrs["seed"]))


RUN_ATTRS = ("seed", "status", "epochs", "epochs_done", "best_epoch", "best_robust_acc", "n_trained", "eps", "steps")


def assert_same_profile(a: Path, b: Path) -> None:
    """Every record, measure, quality array and run attribute identical (bit for bit)."""
    with h5py.File(a, "r") as ha, h5py.File(b, "r") as hb:
        assert sorted(ha["runs"]) == sorted(hb["runs"])
        for run_id in ha["runs"]:
            ga, gb = ha["runs"][run_id], hb["runs"][run_id]
            for key in RUN_ATTRS:
                assert ga.attrs[key] == gb.attrs[key], (run_id, key)
            for name in ("correct", "true_prob"):
                np.testing.assert_array_equal(ga[name][()], gb[name][()], err_msg=f"{run_id}/{name}")
            assert sorted(ga["measures"]) == sorted(gb["measures"])
            for name in ga["measures"]:
                np.testing.assert_array_equal(ga["measures"][name][()], gb["measures"][name][()], err_msg=name)
        assert sorted(ha["quality"]) == sorted(hb["quality"])
        for name in ha["quality"]:
            np.testing.assert_array_equal(ha["quality"][name][()], hb["quality"][name][()], err_msg=name)


# -- the file and the record ------------------------------------------------------------------


def test_built_in_measures_are_registered() -> None:
    names = {M.storage_name(n) for n in registry("measures").names()}
    assert BUILT_IN_MEASURES <= names


def test_file_layout(profiled: Path, digits) -> None:
    with h5py.File(profiled, "r") as h:
        a = h.attrs
        assert a["format"] == "advq-profile" and int(a["format_version"]) == 1
        assert a["dataset"] == "digits" and a["dataset_fingerprint"] == digits.fingerprint
        assert int(a["n_train"]) == digits.n_train == 1437
        assert {"advq_version", "created"} <= set(a)
        stored = yaml.safe_load(a["config"])
        assert stored["repeats"] == 2 and stored["lr"] == 0.05 and stored["dataset"] == "digits"
        runs = runs_of(h)
        assert [r.name for r in runs] == ["/runs/seed-0", "/runs/seed-1"]
        for seed, run in enumerate(runs):
            ra = run.attrs
            assert ra["seed"] == seed and ra["model"] == "mlp" and ra["method"] == "pgd-at"
            assert yaml.safe_load(ra["threat"]) == {"eps": 0.1, "steps": 2, "step_size": 0.05, "random_start": True, "norm": "linf"}
            assert ra["norm"] == "linf" and ra["eps"] == 0.1 and ra["steps"] == 2 and ra["step_size"] == 0.05
            assert ra["epochs"] == EPOCHS and ra["epochs_done"] == EPOCHS and ra["status"] == "complete"
            assert 1 <= ra["best_epoch"] <= EPOCHS
            assert yaml.safe_load(ra["config"])["seed"] == seed
            assert run["correct"].shape == (EPOCHS, 1437) and run["correct"].dtype == np.int8
            assert run["true_prob"].shape == (EPOCHS, 1437) and run["true_prob"].dtype == np.float16
            assert set(run["measures"]) == BUILT_IN_MEASURES | {"problem_rank"}
            for data in run["measures"].values():
                assert data.shape == (1437,) and data.dtype == np.float32
        assert set(h["quality"]) == BUILT_IN_MEASURES | {"problem_rank"}
        for data in h["quality"].values():
            assert data.shape == (1437,) and data.dtype == np.float64
            assert list(data.attrs["runs"]) == ["seed-0", "seed-1"]
    for run_id in ("seed-0", "seed-1"):
        assert (checkpoints_dir(profiled) / run_id / "best.pt").is_file()


def test_record_values(profiled: Path) -> None:
    with h5py.File(profiled, "r") as h:
        for run in runs_of(h):
            correct, prob = run["correct"][()], run["true_prob"][()].astype(np.float64)
            assert set(np.unique(correct)) <= {0, 1}  # every example is trained every epoch
            assert np.all((prob >= 0) & (prob <= 1))
            # argmax is the true class ⇒ its probability is at least 1/K; above 1/2 ⇒ it is the argmax
            assert np.all(prob[correct == 1] >= 0.1 - 1e-3)
            assert np.all(correct[prob > 0.5 + 1e-3] == 1)
            # the recorded robust accuracy is the loop's own training robust accuracy of the last epoch
            assert correct[-1].mean() == pytest.approx(run.attrs["train_robust_acc"], abs=1e-9)


class LogitsCollector:
    """An independent observer: keeps every batch's logits, to recompute the record."""

    def __init__(self) -> None:
        self.batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def observe(self, indices: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        self.batches.append((indices.numpy().copy(), logits.numpy().copy(), labels.numpy().copy()))


def test_record_equals_the_attack_logits_of_training(profiled: Path, digits, tmp_path: Path) -> None:
    """Re-train seed 1 by hand: each stored row is argmax == y and softmax_y of the logits the
    method trained on, for every example, epoch by epoch."""
    cfg = make_config(tmp_path / "unused.h5", repeats=2)
    run = TrainingRun(cfg.run_config(1, tmp_path / "run"), digits)
    with h5py.File(profiled, "r") as h:
        stored_correct, stored_prob = h["runs/seed-1/correct"][()], h["runs/seed-1/true_prob"][()]
    for epoch in range(EPOCHS):
        collector = LogitsCollector()
        run.run_epoch(collector)
        correct = np.full(digits.n_train, -9)
        prob = np.full(digits.n_train, np.nan)
        for indices, logits, labels in collector.batches:
            z = logits.astype(np.float64)
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            correct[indices] = logits.argmax(1) == labels
            prob[indices] = p[np.arange(len(labels)), labels]
        np.testing.assert_array_equal(stored_correct[epoch], correct)
        np.testing.assert_allclose(stored_prob[epoch].astype(np.float64), prob, rtol=1e-3, atol=1e-4)


def test_recorder_scatters_by_global_index() -> None:
    recorder = EpochRecorder(6)
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, math.log(3.0)]])
    recorder.observe(torch.tensor([4, 0, 2]), logits, torch.tensor([0, 1, 0]))
    correct, prob = recorder.take()
    np.testing.assert_array_equal(correct, [0, -1, 0, -1, 1, -1])  # a tie goes to class 0
    expected = [0.5, np.nan, 0.25, np.nan, 1 / (1 + math.exp(-2)), np.nan]
    np.testing.assert_allclose(prob.astype(np.float64), expected, rtol=1e-3)
    assert correct.dtype == np.int8 and prob.dtype == np.float16
    after = recorder.take()  # the next epoch starts from nothing, and the rows taken stay as they were
    assert (after[0] == -1).all() and np.isnan(after[1]).all()
    np.testing.assert_array_equal(correct, [0, -1, 0, -1, 1, -1])


def test_measures_agree_with_the_record(profiled: Path) -> None:
    with h5py.File(profiled, "r") as h:
        ranks = []
        for run in runs_of(h):
            c, p = run["correct"][()], run["true_prob"][()].astype(np.float64)
            m = {k: v[()] for k, v in run["measures"].items()}
            np.testing.assert_array_equal(m["instability"], (c == 0).sum(0))
            np.testing.assert_allclose(m["confidence"], p.mean(0), rtol=1e-6)
            np.testing.assert_allclose(m["variability"], p.std(0), rtol=1e-5, atol=1e-7)
            assert np.all((m["min_perturbation"] >= 0) & (m["min_perturbation"] <= 8 / 255 + 1e-7))
            np.testing.assert_allclose(np.round(m["min_perturbation"] * 255), m["min_perturbation"] * 255, atol=1e-4)
            assert np.all((m["true_prob"] >= 0) & (m["true_prob"] <= 1))
            rank = normalised_rank(m["instability"].astype(np.float64))
            np.testing.assert_allclose(m["problem_rank"], rank, rtol=1e-6)
            ranks.append(m["instability"].astype(np.float64))
        mean_instability = (ranks[0] + ranks[1]) / 2
        published = h["quality/problem_rank"][()]
        np.testing.assert_array_equal(np.sort(published), np.arange(len(published)) / len(published))
        assert np.all(np.diff(mean_instability[np.argsort(published)]) >= 0)  # the rank of the mean instability
        for name in BUILT_IN_MEASURES:
            values = [r["measures"][name][()].astype(np.float64) for r in runs_of(h)]
            np.testing.assert_array_equal(h["quality"][name][()], (values[0] + values[1]) / 2)
    np.testing.assert_array_equal(read_quality(profiled), published)


def test_trades_records_a_separate_cross_entropy_pgd(tmp_path: Path, subset_file: Path) -> None:
    out = tmp_path / "trades.h5"
    profile(make_config(out, repeats=1, epochs=1, method="trades", subset=str(subset_file)))
    with h5py.File(out, "r") as h:
        correct = h["runs/seed-0/correct"][()]
        assert h["runs/seed-0"].attrs["method"] == "trades"
        assert set(np.unique(correct)) == {-1, 0, 1} and (correct >= 0).sum() == 400
        assert h["runs/seed-0"].attrs["status"] == "complete"


# -- each measure against a tiny hand-computed case ------------------------------------------

HAND_CORRECT = np.array([
    [1, 0, -1, 0, 1, 0],
    [0, 0, -1, 1, 1, 0],
    [1, 0, -1, 1, 0, 0],
    [1, 1, -1, 1, 1, 0],
], dtype=np.int8)
HAND_PROB = np.array([
    [0.5, 0.5, np.nan, 0.5, 0.5, 0.0],
    [0.25, 0.5, np.nan, 0.5, 0.5, 0.25],
    [0.75, 0.5, np.nan, 0.5, 0.5, 0.0],
    [1.0, 0.5, np.nan, 0.5, 0.5, 0.25],
], dtype=np.float16)
NAN = np.nan


def hand_record(**kwargs: object) -> RunRecord:
    return RunRecord(HAND_CORRECT, HAND_PROB, best_epoch=4, trained=HAND_CORRECT[0] >= 0, **kwargs)


@pytest.mark.parametrize("name,expected", [
    ("instability", [1, 3, NAN, 1, 1, 4]),
    ("first_learned_epoch", [1, 4, NAN, 2, 1, 5]),  # never learned: epochs + 1
    ("forgetting_events", [1, 0, NAN, 0, 1, 0]),
    ("confidence", [0.625, 0.5, NAN, 0.5, 0.5, 0.125]),
    ("variability", [math.sqrt(0.078125), 0, NAN, 0, 0, 0.125]),
    # instability of the trained [1, 3, 1, 1, 4] ranked with ties by index: 0, 3, 1, 2, 4 of 5
    ("problem_rank", [0.0, 0.6, NAN, 0.2, 0.4, 0.8]),
])
def test_record_measure_by_hand(name: str, expected: list[float]) -> None:
    np.testing.assert_allclose(getattr(M, name)(hand_record()), expected, rtol=1e-12)


class Threshold(nn.Module):
    """Logits (0, 10·(x − 0.5)) of a one-pixel image: class 1 iff x > 0.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = 10 * (x.flatten(1)[:, :1] - 0.5)
        return torch.cat([torch.zeros_like(z), z], 1)


# one-pixel images (grey levels) and labels; trained: all but example 4
PIXELS = [153, 200, 100, 120, 0]
PIXEL_LABELS = [1, 1, 1, 0, 0]


def pixel_record(max_steps: int = 32) -> RunRecord:
    trained = np.array([True, True, True, True, False])
    images = torch.tensor(PIXELS, dtype=torch.uint8).view(-1, 1, 1, 1)[torch.from_numpy(trained)]
    return RunRecord(
        np.ones((2, 5), np.int8), np.ones((2, 5), np.float16), best_epoch=2, trained=trained,
        labels=np.array(PIXEL_LABELS), model_loader=Threshold, images_loader=lambda: images, batch_size=3,
        options={"min_perturbation_steps": max_steps, "min_perturbation_step": 1 / 255},
    )


def test_true_prob_by_hand() -> None:
    def p1(grey: int) -> float:
        return 1 / (1 + math.exp(-10 * (grey / 255 - 0.5)))

    expected = [p1(153), p1(200), p1(100), 1 - p1(120), NAN]
    np.testing.assert_allclose(M.true_prob(pixel_record()), expected, rtol=1e-5)


def test_min_perturbation_by_hand() -> None:
    # 153 (class 1) drops below 127.5 after 26 steps of 1/255; 200 would need 73 (> 32: the
    # bound); 100 is misclassified already (0); 120 (class 0) passes 127.5 after 8 steps.
    np.testing.assert_allclose(M.min_perturbation(pixel_record()), [26 / 255, 32 / 255, 0, 8 / 255, NAN], rtol=1e-12)
    np.testing.assert_allclose(M.min_perturbation(pixel_record(10)), [10 / 255, 10 / 255, 0, 8 / 255, NAN], rtol=1e-12)


def test_minimal_steps_equal_ifgsm_at_each_radius() -> None:
    """The one-trajectory sweep equals running I-FGSM (k steps of 1/255 in the k/255 ball) per radius.

    In float64: the sweep takes gradients of shrinking batches, the reference of the whole one,
    and a near-zero gradient's sign may differ between those in float32 rounding."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)).eval().double()
    x, y = torch.rand(64, 1, 4, 4, dtype=torch.float64), torch.randint(0, 3, (64,))
    found = M.minimal_linf_steps(model, x, y, 1 / 255, 12)
    expected = torch.full((64,), 12)
    for k in range(12, -1, -1):
        x_adv = x.clone()
        for _ in range(k):
            x_adv.requires_grad_(True)
            (g,) = torch.autograd.grad(nn.functional.cross_entropy(model(x_adv), y, reduction="sum"), x_adv)
            x_adv = torch.min(torch.max(x_adv.detach() + g.sign() / 255, x - k / 255), x + k / 255).clamp(0, 1)
        with torch.no_grad():
            expected[model(x_adv).argmax(1) != y] = k
    # the first flipping radius is the smallest k whose iterate is misclassified
    assert torch.equal(found, expected)
    assert (found == 0).any() and ((found > 0) & (found < 12)).any()


# -- ranks --------------------------------------------------------------------------------------


def test_normalised_rank_ties_by_index_and_mask() -> None:
    values = np.array([3, 1, 7, 1, 0, 2], dtype=float)
    mask = np.array([True, True, False, True, True, True])
    np.testing.assert_array_equal(normalised_rank(values, mask), [4 / 5, 1 / 5, NAN, 2 / 5, 0, 3 / 5])
    full = normalised_rank(np.zeros(4))
    np.testing.assert_array_equal(full, [0, 0.25, 0.5, 0.75])  # all tied: index order, within [0, 1)


@given(st.lists(st.integers(0, 5), min_size=1, max_size=40), st.data())
def test_normalised_rank_properties(values: list[int], data) -> None:
    values = np.array(values, dtype=float)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))))
    ranks = normalised_rank(values, mask)
    n = int(mask.sum())
    assert np.isnan(ranks[~mask]).all()
    np.testing.assert_array_equal(np.sort(ranks[mask]), np.arange(n) / max(n, 1))
    inside = np.flatnonzero(mask)
    for i in inside:
        for j in inside:
            if values[i] < values[j] or (values[i] == values[j] and i < j):
                assert ranks[i] < ranks[j]


def test_average_ranks() -> None:
    a = np.array([0.0, 0.5, NAN])
    b = np.array([0.5, 0.0, NAN])
    np.testing.assert_array_equal(average_ranks([a, b]), [0.25, 0.25, NAN])
    with pytest.raises(ValueError):
        average_ranks([])


# -- subsets --------------------------------------------------------------------------------------


def test_subset_masking(subset_profiled: Path, subset_file: Path) -> None:
    inside = np.zeros(1437, dtype=bool)
    inside[np.load(subset_file)] = True
    with h5py.File(subset_profiled, "r") as h:
        for run in runs_of(h):
            assert run.attrs["n_trained"] == 400
            c, p = run["correct"][()], run["true_prob"][()]
            assert (c[:, ~inside] == -1).all() and np.isnan(p[:, ~inside]).all()
            assert np.isin(c[:, inside], [0, 1]).all() and not np.isnan(p[:, inside]).any()
            for name, data in run["measures"].items():
                values = data[()]
                assert np.isnan(values[~inside]).all() and not np.isnan(values[inside]).any(), name
            ranks = run["measures"]["problem_rank"][()][inside].astype(np.float64)
            np.testing.assert_allclose(np.sort(ranks), np.arange(400) / 400, rtol=1e-6)
        for name, data in h["quality"].items():
            values = data[()]
            assert np.isnan(values[~inside]).all() and not np.isnan(values[inside]).any(), name
        rank = h["quality/problem_rank"][()]
        assert 0 <= np.nanmin(rank) and np.nanmax(rank) < 1


# -- crash, resume, extend, refuse --------------------------------------------------------------


class SimulatedCrash(Exception):
    pass


class CrashingReporter(NullReporter):
    """Raises once ``key`` has advanced ``after`` times: a kill in the middle of some epoch."""

    def __init__(self, key: str, after: int) -> None:
        self.key, self.after, self.count = key, after, 0

    def advance(self, key: str, n: int = 1, **fields: object) -> None:
        if key == self.key:
            self.count += n
            if self.count >= self.after:
                raise SimulatedCrash


def test_resume_after_a_crash_mid_epoch_gives_the_identical_profile(profiled: Path, tmp_path: Path) -> None:
    out = tmp_path / "crashed.h5"
    batches = math.ceil(1437 / 128)
    # run 1 complete, run 2 killed in the middle of its second epoch
    with pytest.raises(SimulatedCrash):
        profile(make_config(out, repeats=2), CrashingReporter("batches", EPOCHS * batches + batches + 5))
    with h5py.File(out, "r") as h:
        assert h["runs/seed-0"].attrs["status"] == "complete"
        # seed 1's first epoch waits in its row file; the file holds none of its epochs yet
        assert h["runs/seed-1"].attrs["status"] == "partial" and h["runs/seed-1"].attrs["epochs_done"] == 0
        assert (h["runs/seed-1/correct"][()] == -1).all()
        assert list(h["quality"].attrs["runs"]) == ["seed-0"]
    assert pending_epochs(checkpoints_dir(out) / "seed-1") == [1]
    assert pending_epochs(checkpoints_dir(out) / "seed-0") == []  # folded when it completed
    # and then killed again after a fold had updated the file but before it removed the row file
    run_dir = checkpoints_dir(out) / "seed-1"
    shutil.copytree(rows_dir(run_dir), tmp_path / "kept")
    assert fold_epochs(out, "seed-1", run_dir).epochs_done == 1
    shutil.copytree(tmp_path / "kept", rows_dir(run_dir))
    profile(make_config(out, repeats=2, resume=True))
    assert_same_profile(out, profiled)
    assert not list(checkpoints_dir(out).glob("*/epochs"))  # every row file folded and removed


@pytest.mark.parametrize("epoch", [1, 2])
def test_resume_when_killed_between_the_file_and_the_checkpoint(profiled: Path, tmp_path: Path, monkeypatch, epoch) -> None:
    """The record holds epoch ``epoch`` but last.pt the one before (or none yet): that epoch is trained again."""
    out = tmp_path / "between.h5"
    original = TrainingRun.save

    def save_then_die(self, run_dir):
        if self.config.seed == 0 and self.epochs_done == epoch:
            raise SimulatedCrash
        original(self, run_dir)

    monkeypatch.setattr(TrainingRun, "save", save_then_die)
    with pytest.raises(SimulatedCrash):
        profile(make_config(out, repeats=2))
    monkeypatch.setattr(TrainingRun, "save", original)
    assert pending_epochs(checkpoints_dir(out) / "seed-0") == list(range(1, epoch + 1))
    assert (checkpoints_dir(out) / "seed-0" / "last.pt").is_file() == (epoch > 1)
    profile(make_config(out, repeats=2, resume=True))
    assert_same_profile(out, profiled)


def test_resume_when_killed_while_measuring_and_extend_repeats(profiled: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "extended.h5"

    def die(record):
        raise SimulatedCrash

    monkeypatch.setattr("advq_cli.profiling.run.compute_measures", die)
    with pytest.raises(SimulatedCrash):
        profile(make_config(out, repeats=1))
    monkeypatch.undo()
    with h5py.File(out, "r") as h:
        run = h["runs/seed-0"]
        assert run.attrs["status"] == "partial" and run.attrs["epochs_done"] == EPOCHS and "quality" not in h
    profile(make_config(out, repeats=1, resume=True))
    result = profile(make_config(out, repeats=2, resume=True))  # a larger --repeats adds seed 1
    assert [r.run_id for r in result.runs] == ["seed-0", "seed-1"] and all(r.complete for r in result.runs)
    assert result.quality_runs == 2
    with h5py.File(out, "r") as h:
        assert yaml.safe_load(h.attrs["config"])["repeats"] == 2
    assert_same_profile(out, profiled)


def test_resume_refuses_another_configuration(profiled: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy.h5"
    shutil.copyfile(profiled, out)
    before = out.read_bytes()
    with pytest.raises(AdvqError) as info:
        profile(make_config(out, repeats=2, resume=True, lr=0.1, steps=3))
    message = str(info.value)
    assert "lr" in message and "steps" in message and "\n" not in message
    assert "repeats" not in message and "out" not in message.split(":", 1)[1]
    assert out.read_bytes() == before


def test_resume_refuses_another_dataset(profiled: Path, tmp_path: Path) -> None:
    out = tmp_path / "other.h5"
    shutil.copyfile(profiled, out)
    with h5py.File(out, "r+") as h:
        h.attrs["dataset_fingerprint"] = "0123456789abcdef"
    with pytest.raises(FingerprintMismatchError):
        profile(make_config(out, repeats=2, resume=True))


def test_resume_of_a_complete_profile_changes_nothing(profiled: Path, tmp_path: Path) -> None:
    out = tmp_path / "done.h5"
    shutil.copyfile(profiled, out)
    shutil.copytree(checkpoints_dir(profiled), checkpoints_dir(out))
    result = profile(make_config(out, repeats=2, resume=True))
    assert [r.status for r in result.runs] == ["complete", "complete"]
    assert_same_profile(out, profiled)


def test_existing_file_needs_resume_or_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "p.h5"
    out.write_bytes(b"precious")
    with pytest.raises(AdvqError, match="--resume.*--overwrite"):
        profile(make_config(out, repeats=1, epochs=1))
    assert out.read_bytes() == b"precious"
    result = profile(make_config(out, repeats=1, epochs=1, overwrite=True))
    assert result.runs[0].complete
    with pytest.raises(AdvqError, match="folder"):
        profile(make_config(tmp_path, repeats=1, epochs=1))


# -- plugins --------------------------------------------------------------------------------------


class ExtraMeasures:
    @hookimpl
    def advq_register_measures(self, register):
        register("last-epoch-correct", lambda record: record.correct[-1].astype(float), description="test")


@pytest.fixture
def extra_measure():
    name = register_plugin(ExtraMeasures(), name="test-extra-measures")
    yield
    unregister_plugin(name)


def test_a_plugin_measure_is_computed_and_stored(extra_measure, subset_file: Path, tmp_path: Path) -> None:
    results = compute_measures(hand_record(), ["instability", "last-epoch-correct"])
    assert set(results) == {"instability", "last_epoch_correct"}
    np.testing.assert_array_equal(results["last_epoch_correct"], [1, 1, NAN, 1, 1, 0])
    out = tmp_path / "plugin.h5"
    profile(make_config(out, repeats=1, epochs=1, subset=str(subset_file)))
    with h5py.File(out, "r") as h:
        last = h["runs/seed-0/correct"][-1].astype(np.float64)
        last[last < 0] = np.nan
        np.testing.assert_array_equal(h["runs/seed-0/measures/last_epoch_correct"][()], last)
        np.testing.assert_array_equal(h["quality/last_epoch_correct"][()], last)


class BadMeasures:
    @hookimpl
    def advq_register_measures(self, register):
        register("wrong-shape", lambda record: np.zeros(3), description="test")
        register("problem_rank", lambda record: np.zeros(record.n_examples), description="test")


def test_bad_measures_are_refused_naming_their_plugin() -> None:
    name = register_plugin(BadMeasures(), name="test-bad-measures")
    try:
        with pytest.raises(AdvqError, match="wrong-shape.*test-bad-measures.*shape"):
            compute_measures(hand_record(), ["wrong-shape"])
        with pytest.raises(AdvqError, match="test-bad-measures.*reserves"):
            compute_measures(hand_record(), ["problem-rank"])
    finally:
        unregister_plugin(name)


# -- the command line ---------------------------------------------------------------------------


def cli_args(out: Path, *extra: str) -> list[str]:
    return [
        "profile", "--dataset", "digits", "--model", "mlp", "--epochs", "2", "--milestones", "", "--lr", "0.05",
        "--steps", "2", "--step-size", "0.05", "--eval-examples", "60", "--device", "cpu", "--repeats", "1",
        "--min-perturbation-max", "4/255", "--out", str(out), *extra,
    ]


def test_cli_profile(tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "profile.yaml"
    config.write_text("eps: 0.1\nbatch-size: 128\n")
    out = tmp_path / "cli.h5"
    result = runner.invoke(app, cli_args(out, "--config", str(config)))
    assert result.exit_code == 0, result.output
    assert "problem_rank" in result.output and "seed-0" in result.output
    with h5py.File(out, "r") as h:
        stored = yaml.safe_load(h.attrs["config"])
        assert stored["eps"] == 0.1 and stored["min_perturbation_max"] == pytest.approx(4 / 255)
        assert np.nanmax(h["quality/min_perturbation"][()]) == pytest.approx(4 / 255)  # float32 per run
    before = out.read_bytes()
    again = runner.invoke(app, cli_args(out))
    assert again.exit_code == 2 and "--resume" in again.output and len(again.output.strip().splitlines()) == 1
    changed = runner.invoke(app, cli_args(out, "--config", str(config), "--resume", "--lr", "0.2"))
    assert changed.exit_code == 2 and "lr (0.05 → 0.2)" in changed.output, changed.output
    assert len(changed.output.strip().splitlines()) == 1 and "Traceback" not in changed.output
    assert out.read_bytes() == before
    resumed = runner.invoke(app, cli_args(out, "--config", str(config), "--resume"))
    assert resumed.exit_code == 0, resumed.output

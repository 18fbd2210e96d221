"""Smoke tests that keep the benchmark scripts working at a tiny size; they assert no time,
only that each runs, prints the machine and a ratio, and that both sides did the work. The
detection benchmark's parts (scores, AUM, the noisy data) are checked on small real data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from advq_cli import get_dataset

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY_TRAINING = ["--device", "cpu", "--dataset", "digits", "--n-train", "64", "--epochs", "1", "--steps", "1",
                 "--repeats", "1", "--threads", "1"]


def run_script(name: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "machine: cpu" in done.stdout
    return done.stdout


def ratio(stdout: str, label: str) -> float:
    found = re.search(rf"{re.escape(label)}: ([0-9.]+) whole process", stdout)
    assert found, stdout
    return float(found.group(1))


def test_train_speed_prints_a_ratio():
    assert ratio(run_script("train_speed.py", *TINY_TRAINING), "ratio (reference time / advq time)") > 0


def test_profile_overhead_prints_a_ratio():
    stdout = run_script("profile_overhead.py", *TINY_TRAINING)
    assert ratio(stdout, "ratio (profile time / train time)") > 0
    assert re.search(r"profile: .* training loop [0-9.]+ s", stdout)


def test_profile_runs_prints_a_ratio_per_model_and_number_of_runs():
    stdout = run_script("profile_runs.py", *TINY_TRAINING, "--models", "mlp", "--runs", "2", "--eval-examples", "8")
    assert ratio(stdout, "mlp R=2 ratio (sequential time / together time)") > 0
    assert re.search(r"mlp R=2 +together: .* training loops [0-9.]+ s", stdout)


def test_startup_prints_a_ratio_per_command():
    stdout = run_script("startup.py", "--repeats", "1")
    for command in ("advq --help", "advq train --help", "advq --version"):
        assert ratio(stdout, f"{command} ratio (advq time / import torch time)") > 0


def test_profile_write_prints_the_bytes_and_seconds_of_an_epoch_before_and_after():
    stdout = run_script("profile_write.py", "--n", "2000", "--epochs", "6", "--at", "3", "--runs", "1,2", "--repeats", "1")
    ratios = [float(r) for r in re.findall(r"ratio \(before bytes / after bytes\): ([0-9.]+)", stdout)]
    assert len(ratios) == 2 and ratios[1] > ratios[0] > 1  # the rewrite grows with the runs held, the row file not
    assert len(re.findall(r"ratio \(before time / after time\): [0-9.]+", stdout)) == 2
    assert len(re.findall(r"fold at the end of the run \(6 row files into the file\)", stdout)) == 2


@pytest.mark.slow
def test_evaluate_speed_prints_a_ratio_per_attack():
    stdout = run_script("evaluate_speed.py", "--device", "cpu", "--n-examples", "64", "--autoattack-examples", "4",
                        "--repeats", "1", "--threads", "1")
    for attack in ("pgd-10", "autoattack"):
        assert ratio(stdout, f"{attack} ratio (reference time / advq time)") > 0
    assert len(re.findall(r"attack alone [0-9.]+", stdout)) == 2


def detection_module():
    """benchmarks/detection.py imported by its file name, as the script imports `common`."""
    sys.path.insert(0, str(BENCHMARKS))
    import detection

    return detection


def test_detection_scores_a_perfect_and_a_reversed_ranking():
    detection = detection_module()
    flipped = np.random.default_rng(0).random(200) < 0.2
    tie_breaker = np.random.default_rng(1).random(200) / 10
    perfect = detection.score(detection.Detection("perfect", flipped + tie_breaker, 1.5), flipped)
    reversed_ = detection.score(detection.Detection("reversed", -(flipped + tie_breaker), 0.0), flipped)
    assert (perfect.auroc, perfect.average_precision, perfect.precision_at_noise) == (1.0, 1.0, 1.0)
    assert reversed_.auroc == 0.0 and reversed_.precision_at_noise == 0.0
    assert perfect.seconds == 1.5


def test_margin_recorder_averages_each_examples_margin_over_its_epochs():
    detection = detection_module()
    rng = np.random.default_rng(0)
    recorder = detection.MarginRecorder(5)
    epochs = [(np.array([4, 0, 2]), rng.normal(size=(3, 4)), np.array([1, 3, 0])),
              (np.array([0, 4]), rng.normal(size=(2, 4)), np.array([3, 1]))]
    for indices, logits, labels in epochs:
        recorder.observe(torch.tensor(indices), torch.tensor(logits), torch.tensor(labels))
    margins: dict[int, list[float]] = {}
    for indices, logits, labels in epochs:
        for i, row, label in zip(indices, logits, labels):
            margins.setdefault(int(i), []).append(row[label] - np.delete(row, label).max())
    aum = recorder.area_under_margin()
    for i, values in margins.items():
        assert aum[i] == pytest.approx(np.mean(values))
    assert aum[1] == 0 and aum[3] == 0  # never seen


def test_noisy_subset_is_an_npz_dataset_with_the_flips_it_records(tmp_path):
    detection = detection_module()
    source = get_dataset("digits")
    data = detection.write_noisy_subset(source, 500, detection.Noise("symmetric", 0.2), 3, tmp_path / "noisy.npz")
    loaded = get_dataset(data.dataset)
    stored = np.load(data.path)
    assert loaded.n_train == 500 and data.n_noisy == 100
    assert np.array_equal(loaded.train_labels.numpy(), data.labels)
    assert np.array_equal(data.labels != stored["y_train_clean"], data.flipped)
    assert np.array_equal(loaded.test_labels.numpy(), source.test_labels.numpy())


def test_detection_benchmark_fast_setting(tmp_path):
    """The CI setting: every detector scored, each removal trained and attacked, the files written."""
    stdout = run_script("detection.py", "--fast", "--out", str(tmp_path))
    scores = dict(re.findall(r"^\| (\S+) \| ([0-9.]+) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$", stdout, re.M))
    measures = ["problem_rank", "true_prob", "forgetting_events", "first_learned_epoch", "confidence", "variability"]
    expected = [f"{m}/{name}" for m in ("pgd-at", "trades") for name in measures]
    expected += ["standard/forgetting_events", "standard/confidence", "aum", "cleanlab", "random"]
    assert set(expected) <= set(scores), stdout
    assert all(0 <= float(v) <= 1 for v in scores.values())
    assert float(scores["cleanlab"]) > 0.65  # 20% symmetric noise on digits is easy to see
    flipped_left = dict(re.findall(r"^\| ([^|]+?) \| \d+ \| (\d+) \|", stdout, re.M))
    assert flipped_left["flipped removed (oracle)"] == "0" and int(flipped_left["none removed"]) == 60
    assert {"pgd-at/problem_rank", "cleanlab", "random"} <= set(flipped_left)
    for name in ("pr-curves.png", "detection.csv", "consequence.csv", "results.json"):
        assert (tmp_path / name).stat().st_size > 0

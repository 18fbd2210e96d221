"""Smoke tests that keep the benchmark scripts working at a tiny size; they assert no time,
only that each runs, prints the machine and a ratio, and that both sides did the work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_startup_prints_a_ratio_per_command():
    stdout = run_script("startup.py", "--repeats", "1")
    for command in ("advq --help", "advq train --help", "advq --version"):
        assert ratio(stdout, f"{command} ratio (advq time / import torch time)") > 0


@pytest.mark.slow
def test_evaluate_speed_prints_a_ratio_per_attack():
    stdout = run_script("evaluate_speed.py", "--device", "cpu", "--n-examples", "64", "--autoattack-examples", "4",
                        "--repeats", "1", "--threads", "1")
    for attack in ("pgd-10", "autoattack"):
        assert ratio(stdout, f"{attack} ratio (reference time / advq time)") > 0
    assert len(re.findall(r"attack alone [0-9.]+", stdout)) == 2

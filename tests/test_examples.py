"""The ready configs and scripts under examples/ keep working: every YAML is read by its
command's config class (unknown keys fail) and holds the paper's settings, each GPU config
runs at a tiny scale on the embedded digits (CPU, MLP, one epoch), and the CPU walkthroughs,
the quickstart and the Table-3 pipeline run start to finish at a tiny scale."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from advq_cli.cli import app
from advq_cli.evaluation.comparison import (
    FULL, LOWEST_REMOVED, PAPER_TABLE3, RANDOM_REMOVED, TrainingSet, compare_runs, comparison_csv, draw_comparison,
    paper_table3, training_set,
)
from advq_cli.config import load_config_file, resolve
from advq_cli.curation import CurateConfig
from advq_cli.datasets.fashion_mnist import DEBIAN_DIR
from advq_cli.errors import AdvqError
from advq_cli.evaluation import EvaluateConfig
from advq_cli.explaining import resolve_sweep_config
from advq_cli.profiling import ProfileConfig
from advq_cli.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SWEEPS = sorted(EXAMPLES.rglob("sweep.yaml"))  # `advq explain sweep`'s configs
CONFIGS = sorted(p for p in EXAMPLES.rglob("*.yaml") if p not in SWEEPS)
CPU_DIRS = ("digits", "fashion-mnist", "fashion-mnist-overfitting")
GPU_CONFIGS = [p for p in CONFIGS if p.parent.name not in CPU_DIRS]
COMMANDS = {"profile": ProfileConfig, "train": TrainConfig, "curate": CurateConfig, "evaluate": EvaluateConfig}

# One epoch of a small MLP with a one-step attack on the embedded digits: a second or two.
TINY = ["--dataset", "digits", "--model", "mlp", "--epochs", "1", "--milestones=", "--steps", "1",
        "--eval-examples", "30", "--device", "cpu"]
BIN = Path(sys.executable).parent
SCRIPT_ENV = {"ADVQ": str(BIN / "advq"), "PYTHON": sys.executable, "COLUMNS": "200"}

runner = CliRunner()


def command_of(path: Path) -> str:
    return path.stem.split("-")[0]


def name(path: Path) -> str:
    return str(path.relative_to(EXAMPLES))


def resolved(path: Path) -> Any:
    """The file through its command's config class, with the values the command line always gives."""
    values = load_config_file(path)
    given: dict[str, Any] = {}
    if command_of(path) == "curate":  # the profile it names is made by an earlier step; resolving checks it exists
        assert str(values.get("profile", "profile.h5")).endswith(".h5")
        given["profile"] = Path(__file__)
    if command_of(path) == "evaluate":
        given["checkpoint"] = "best.pt"
    return resolve(COMMANDS[command_of(path)], values, given)


def test_every_example_config_belongs_to_a_command():
    assert len(CONFIGS) >= 30
    assert {command_of(p) for p in CONFIGS} <= set(COMMANDS), [name(p) for p in CONFIGS]


@pytest.mark.parametrize("path", CONFIGS, ids=name)
def test_example_config_resolves(path: Path):
    config = resolved(path)
    if isinstance(config, TrainConfig) and path in GPU_CONFIGS:  # the paper's settings (appendix F)
        assert (config.steps, config.step_size, config.lr, config.momentum, config.weight_decay) == (
            10, pytest.approx(2 / 255), 0.1, 0.9, 5e-4)
        assert config.batch_size == 128 and config.eps in (pytest.approx(8 / 255), pytest.approx(12 / 255))
        if config.model == "wrn":
            assert (config.epochs, config.milestones) == (120, [100, 110])
            assert f"{config.depth}-{config.width}" in path.stem
        else:
            assert (config.model, config.epochs, config.milestones) == ("preact-resnet18", 160, [80, 120])
        if isinstance(config, ProfileConfig):
            assert config.repeats == 10 and config.method == "pgd-at"
        assert config.dataset == path.parent.name or path.parent.name == "wrn"
    if isinstance(config, CurateConfig):
        assert (config.remove_lowest, config.baseline, config.name) == (pytest.approx(0.2), "random", "clean80")
    if isinstance(config, EvaluateConfig) and path in GPU_CONFIGS:
        assert config.eps == pytest.approx(8 / 255) and config.attacks[:2] == ["pgd-10", "pgd-1000"] or (
            path.stem == "evaluate-table3" and config.attacks == ["pgd-10", "autoattack"])


@pytest.mark.parametrize("path", SWEEPS, ids=name)
def test_sweep_config_trains_as_its_profile(path: Path):
    """A sweep re-trains its folder's profiled setting: every training option both files state agrees."""
    sweep = resolve_sweep_config(load_config_file(path), {"profile": path.parent / "profile.h5"})
    trained, profiled = resolve(TrainConfig, sweep.train, {}), resolved(path.parent / "profile.yaml")
    stated = set(sweep.train) & set(load_config_file(path.parent / "profile.yaml"))
    assert {"model", "method", "epochs", "milestones", "lr", "eps", "steps", "step_size"} <= stated
    assert {key: getattr(trained, key) for key in stated} == {key: getattr(profiled, key) for key in stated}
    assert sweep.fractions == [0.1, 0.2, 0.3] and len(sweep.seeds) >= 3 and sweep.attacks == ["pgd-10", "autoattack"]


def test_cifar10_has_every_method_at_both_radii():
    names = {p.stem for p in (EXAMPLES / "cifar10").glob("train-*.yaml")}
    for method in ("pgd-at", "trades", "mart", "gairat"):
        for eps in (8, 12):
            config = resolved(EXAMPLES / "cifar10" / f"train-{method}-eps{eps}.yaml")
            assert (config.method, round(config.eps * 255)) == (method, eps)
            names.discard(f"train-{method}-eps{eps}")
    assert not names


@pytest.fixture(scope="module")
def tiny_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/cifar10/profile.yaml shrunk to one MLP run of one epoch on the digits, curated
    by examples/cifar10/curate.yaml (the sets are stored in the profile)."""
    out = tmp_path_factory.mktemp("examples") / "profile.h5"
    config = EXAMPLES / "cifar10" / "profile.yaml"
    result = runner.invoke(app, ["profile", "--config", str(config), *TINY, "--repeats", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["curate", str(out), "--config", str(EXAMPLES / "cifar10" / "curate.yaml")])
    assert result.exit_code == 0, result.output
    return out


TRAINING_CONFIGS = [p for p in GPU_CONFIGS if command_of(p) in ("train", "profile")]


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=name)
def test_gpu_training_config_runs_tiny_on_digits(path: Path, tmp_path: Path, tiny_profile: Path):
    command = command_of(path)
    if path == EXAMPLES / "cifar10" / "profile.yaml":
        out = tiny_profile  # run by the fixture
    else:
        out = tmp_path / ("profile.h5" if command == "profile" else "run")
        extra = ["--repeats", "1"] if command == "profile" else ["--subset", f"{tiny_profile}:clean80"]
        result = runner.invoke(app, [command, "--config", str(path), *TINY, *extra, "--out", str(out)])
        assert result.exit_code == 0, result.output
    stored = (out / "config.yaml").read_text() if command == "train" else ""
    assert out.exists() and (command == "profile" or "clean80" in stored)
    own = resolved(path)
    if command == "train":  # the file's method and ε reached the run; only the overrides differ
        assert f"method: {own.method}" in stored and f"eps: {own.eps}" in stored


@pytest.mark.parametrize("path", [p for p in GPU_CONFIGS if command_of(p) == "curate"], ids=name)
def test_gpu_curate_config_runs_on_a_tiny_profile(path: Path, tmp_path: Path, tiny_profile: Path):
    result = runner.invoke(app, ["curate", str(tiny_profile), "--config", str(path), "--out", str(tmp_path / "sets.h5")],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "clean80-random" in result.output and "remove-lowest" in result.output


EVALUATE_CONFIGS = [p for p in GPU_CONFIGS if command_of(p) == "evaluate"]


def evaluate_args(path: Path, checkpoint: Path, out: Path) -> list[str]:
    args = ["evaluate", str(checkpoint), "--config", str(path), "--device", "cpu", "--out", str(out)]
    return args + (["--surrogate", str(checkpoint)] if "transfer" in resolved(path).attacks else [])


@pytest.mark.parametrize("path", EVALUATE_CONFIGS, ids=name)
def test_gpu_evaluate_config_runs_on_digits(path: Path, tmp_path: Path, digits_run):
    """The config through `advq evaluate` (its ε, surrogate, attack options) with PGD-10 only, on 20 test digits."""
    args = evaluate_args(path, digits_run.out / "best.pt", tmp_path / "eval.h5")
    result = runner.invoke(app, [*args, "--attacks", "pgd-10", "--n-examples", "20"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "ε = 0.0313725" in result.output  # 8/255, not the checkpoint's training ε (0.1)


@pytest.mark.slow
def test_appendix_f_suite_runs_whole_on_digits(tmp_path: Path, digits_run):
    """examples/cifar10/evaluate.yaml: all six attacks with its options, on four test digits; the
    query budgets of Square and RayS cut 50-fold (the option names are still checked by the plugins)."""
    path = tmp_path / "evaluate.yaml"
    values = yaml.safe_load((EXAMPLES / "cifar10" / "evaluate.yaml").read_text())
    for attack, budget in (("square", 5000), ("rays", 10000)):
        assert values["attack-options"][attack] == {"n_queries": budget}
        values["attack-options"][attack]["n_queries"] = budget // 50
    path.write_text(yaml.safe_dump(values))
    args = evaluate_args(path, digits_run.out / "best.pt", tmp_path / "eval.h5")
    result = runner.invoke(app, [*args, "--n-examples", "4"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for attack in resolved(path).attacks:
        assert attack in result.output


def run_script(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["bash", str(script), *args], cwd=ROOT, env={**os.environ, **SCRIPT_ENV, **env},
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def comparison_rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "comparison.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def check_figure(path: Path) -> None:
    with Image.open(path) as image:
        assert image.size[0] >= 1000 and image.size[1] >= 700


def check_loop_outputs(out: Path, stdout: str, start: tuple[str, str, str] = ("full", "full", "0")) -> None:
    rows = comparison_rows(out)
    assert [(r["training_set"], r["kind"], r["removed"]) for r in rows] == [
        start, ("clean80", "lowest removed", "0.2"), ("clean80-random", "random removed", "0.2")]
    assert all(0 <= float(r["clean"]) <= 1 and 0 <= float(r["pgd-10"]) <= float(r["clean"]) for r in rows)
    check_figure(out / "comparison.png")
    assert (out / "correlations" / "summary.json").is_file()
    assert "clean80-random" in stdout and "Done in" in stdout


@pytest.mark.slow
def test_quickstart_loop_runs_tiny(tmp_path: Path):
    """scripts/quickstart.sh (without the install) through examples/loop.sh on the digits configs."""
    out = tmp_path / "quickstart"
    result = run_script(
        ROOT / "scripts" / "quickstart.sh", str(out), QUICKSTART_SKIP_INSTALL="1",
        TRAIN_OPTIONS="--epochs 1 --milestones= --steps 1", PROFILE_OPTIONS="--repeats 1",
        EVAL_OPTIONS="--attacks pgd-10 --n-examples 40",
    )
    check_loop_outputs(out, result.stdout)


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason=f"Fashion-MNIST not installed in {DEBIAN_DIR}")
def test_fashion_mnist_walkthrough_runs_tiny(tmp_path: Path):
    """The Fashion-MNIST walkthrough's loop (its 10,000 images) with one epoch of a one-step attack."""
    out = tmp_path / "fashion"
    result = run_script(
        EXAMPLES / "loop.sh", str(EXAMPLES / "fashion-mnist"), str(out),
        TRAIN_OPTIONS="--epochs 1 --milestones= --steps 1 --eval-examples 100", PROFILE_OPTIONS="--repeats 1",
        EVAL_OPTIONS="--attacks pgd-10 --n-examples 100",
    )
    check_loop_outputs(out, result.stdout, start=("subset-10000", "subset", ""))  # train.yaml's 10,000 images
    assert "fashion-mnist" in result.stdout
    profiled = np.load(EXAMPLES / "fashion-mnist" / "subset-10000.npy")
    with h5py.File(out / "profile.h5", "r") as handle:
        for name in ("clean80", "clean80-random"):  # 20% of the 10,000 profiled images removed
            indices = handle[f"subsets/{name}/indices"][()]
            assert len(indices) == 8000 and np.isin(indices, profiled).all()


@pytest.mark.slow
def test_reproduce_table3_runs_tiny_with_the_papers_numbers_beside(tmp_path: Path):
    out = tmp_path / "table3"
    result = run_script(
        EXAMPLES / "reproduce_table3.sh", str(out),
        TRAIN_OPTIONS=" ".join(TINY), PROFILE_OPTIONS="--repeats 1",
        EVAL_OPTIONS="--attacks pgd-10 --n-examples 40 --device cpu",
    )
    rows = comparison_rows(out)
    assert len(rows) == 8
    for row in rows:
        removed = float(row["removed"])
        paper = PAPER_TABLE3[(row["method"], round(float(row["train_eps"]) * 255), removed)]
        assert (float(row["paper_standard_pct"]), float(row["paper_robust_pct"])) == paper
        assert row["eval_eps"] == f"{8 / 255:.6g}"  # every run is evaluated at 8/255, as in appendix F
    assert {(r["method"], r["kind"]) for r in rows} == {
        (m, k) for m in ("pgd-at", "trades") for k in ("full", "lowest removed")}
    check_figure(out / "comparison.png")
    assert "83.92%" in result.stdout and "Table 3" in result.stdout

    again = run_script(EXAMPLES / "reproduce_table3.sh", str(out), TRAIN_OPTIONS=" ".join(TINY),
                       PROFILE_OPTIONS="--repeats 1", EVAL_OPTIONS="--attacks pgd-10 --n-examples 40 --device cpu")
    assert comparison_rows(out) == rows  # a finished pipeline resumes to the same table
    assert "83.92%" in again.stdout


def test_training_sets_are_described_from_the_stored_provenance(tiny_profile: Path):
    assert training_set(None) == TrainingSet("full", FULL, 0.0)
    assert training_set(f"{tiny_profile}:clean80") == TrainingSet("clean80", LOWEST_REMOVED, 0.2)
    assert training_set(f"{tiny_profile}:clean80-random") == TrainingSet("clean80-random", RANDOM_REMOVED, 0.2)
    assert training_set("picked.npy").kind == training_set(f"{tiny_profile}.gone.h5:clean80").kind == "subset"
    eps8, eps12 = 8 / 255, 12 / 255
    assert paper_table3("trades", eps12, training_set(f"{tiny_profile}:clean80")) == (73.53, 46.85)
    assert paper_table3("pgd-at", eps8, training_set(None)) == (83.92, 48.12)
    assert paper_table3("pgd-at", eps8, training_set(f"{tiny_profile}:clean80-random")) is None
    assert paper_table3("mart", eps8, training_set(None)) is None


def test_comparison_of_evaluated_runs(tmp_path: Path, digits_run):
    files = []
    for n in (20, 30):
        out = tmp_path / f"eval-{n}.h5"
        result = runner.invoke(app, ["evaluate", str(digits_run.out / "best.pt"), "--attacks", "pgd-10,fgsm",
                                     "--n-examples", str(n), "--device", "cpu", "--out", str(out)])
        assert result.exit_code == 0, result.output
        files.append(out)
    comparison = compare_runs(files, paper=True)
    assert comparison.attacks == ["pgd-10", "fgsm"] and not comparison.has_paper  # ε 0.1 is not in Table 3
    assert [r.n_examples for r in comparison.rows] == [20, 30]
    row = comparison.rows[0]
    assert (row.method, row.train_eps, row.training_set.kind, row.run) == ("pgd-at", 0.1, FULL, digits_run.out.name)
    assert row.worst_case <= min(row.robust.values()) <= row.clean
    drawn = draw_comparison(comparison, tmp_path / "comparison.png")
    clean, fgsm = [100 * r.clean for r in comparison.rows], [100 * r.robust["fgsm"] for r in comparison.rows]
    assert drawn["heights"]["clean"] == pytest.approx(clean) and drawn["heights"]["fgsm"] == pytest.approx(fgsm)
    assert drawn["labels"]["fgsm"] == [f"{v:.1f}" for v in fgsm]  # every bar carries its value
    # the axis is zoomed to the values (5-point steps) so that a few points' difference shows
    values = [v for heights in drawn["heights"].values() for v in heights]
    low, high = drawn["axis"]
    assert low % 5 == 0 and high % 5 == 0 and 0 <= low <= min(values) - 5 and min(max(values) + 5, 100) <= high <= 100
    check_figure(tmp_path / "comparison.png")
    lines = comparison_csv(comparison).splitlines()
    assert lines[0].startswith("run,dataset,method") and len(lines) == 3
    with pytest.raises(AdvqError, match="at least one"):
        compare_runs([])

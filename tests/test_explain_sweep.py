"""`advq explain sweep` on a small real digits profile: the sets recomputed from the ranks,
every number recomputed from the stored evaluation files, the figures checked against
them, resuming after an interruption, the refusals, and the example config on the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from advq_cli.cli import app
from advq_cli.lookups import get_dataset
from advq_cli.errors import AdvqError
from advq_cli.explaining import SweepConfig, explain_sweep, resolve_sweep_config
from advq_cli.profiling import ProfileConfig, profile
from advq_cli.progress import NullReporter

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits" / "sweep.yaml"
TRAIN = dict(model="mlp", method="pgd-at", eps=0.1, steps=3, step_size=0.04, epochs=3, milestones=[], eval_examples=60)
FAST_AUTOATTACK = {"autoattack": {"version": "custom", "attacks": ["apgd-ce"]}}
SWEEP = dict(n_examples=60, attack_options=FAST_AUTOATTACK, train=TRAIN)
FRACTIONS, SEEDS = [0.2, 0.4], [0, 1]
METRICS = ["best_robust", "last_robust", "robust_overfitting", "clean", "gap"]


@pytest.fixture(scope="module")
def sweep_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-run digits profile (a few seconds)."""
    path = tmp_path_factory.mktemp("sweep-profile") / "profile.h5"
    profile(ProfileConfig(out=path, dataset="digits", repeats=1, min_perturbation_max=8 / 255, device="cpu", **TRAIN))
    return path


@pytest.fixture(scope="module")
def swept(sweep_profile: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two fractions × two seeds: ten sub-runs."""
    out_dir = tmp_path_factory.mktemp("sweep") / "out"
    return explain_sweep(SweepConfig(profile=sweep_profile, out_dir=out_dir, fractions=FRACTIONS, repeats=2, **SWEEP))


class Recorder(NullReporter):
    """Keeps the messages; raises KeyboardInterrupt (as Ctrl-C would) once ``stop`` epochs are done."""

    def __init__(self, stop: int | None = None) -> None:
        self.messages: list[str] = []
        self.epochs, self.stop = 0, stop

    def advance(self, key: str, n: int = 1, **fields) -> None:
        if key == "epochs" and n:
            self.epochs += n
            if self.stop is not None and self.epochs >= self.stop:
                raise KeyboardInterrupt

    def info(self, message: str) -> None:
        self.messages.append(message)


def problem_rank(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as handle:
        return handle["quality/problem_rank"][()]


def stored_sets(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: group["indices"][()] for name, group in handle["subsets"].items()}


def evaluation_numbers(path: Path) -> dict[str, float]:
    """Clean accuracy, worst-case robust accuracy and PGD-10 − AutoAttack, straight from the file."""
    with h5py.File(path, "r") as handle:
        clean, pgd, auto = (handle[k][()] for k in ("clean/correct", "attacks/pgd-10/correct", "attacks/autoattack/correct"))
    return {"clean": clean.mean(), "robust": (clean & pgd & auto).mean(), "gap": pgd.mean() - auto.mean()}


def close(a, b, tol: float = 1e-12) -> bool:
    return np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=0, atol=tol, equal_nan=True)


@pytest.mark.slow
def test_sets_are_the_lowest_quality_removed_and_random_twins(sweep_profile: Path, swept) -> None:
    rank = problem_rank(sweep_profile)
    labels = get_dataset("digits").train_labels.numpy()
    n = rank.size
    sets = stored_sets(swept.out_dir / "subsets.h5")
    names = {"full"} | {f"quality-f{f:g}" for f in FRACTIONS} | {f"random-f{f:g}-seed{s}" for f in FRACTIONS for s in SEEDS}
    assert set(sets) == names
    assert np.array_equal(sets["full"], np.arange(n))
    worst_first = np.lexsort((np.arange(n), -rank))  # highest rank first, ties by index
    for fraction in FRACTIONS:
        removed = math.floor(fraction * n + 0.5)
        quality = sets[f"quality-f{fraction:g}"]
        assert np.array_equal(quality, np.sort(worst_first[removed:]))
        draws = [sets[f"random-f{fraction:g}-seed{s}"] for s in SEEDS]
        for draw in draws:
            assert draw.size == quality.size and np.array_equal(np.bincount(labels[draw]), np.bincount(labels[quality]))
        assert not np.array_equal(draws[0], draws[1])
        assert rank[np.setdiff1d(np.arange(n), quality)].min() >= rank[quality].max()
    assert swept.summary["subsets"]["sizes"] == {k: int(v.size) for k, v in sets.items()}


@pytest.mark.slow
def test_every_number_comes_from_the_stored_sub_runs(swept) -> None:
    out_dir = swept.out_dir
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary == swept.summary and summary["command"] == "sweep" and summary["seeds"] == SEEDS
    runs = {(r["condition"], r["fraction"], r["seed"]): r for r in summary["runs"]}
    expected = {("full", 0.0, s) for s in SEEDS} | {(c, f, s) for c in ("quality", "random") for f in FRACTIONS for s in SEEDS}
    assert set(runs) == expected and len(summary["runs"]) == 10
    for (condition, fraction, seed), run in runs.items():
        folder = out_dir / "runs" / f"{condition}-f{fraction:g}-seed{seed}"
        assert Path(run["folder"]) == folder
        assert json.loads((folder / "result.json").read_text())["metrics"] == run["metrics"]
        stored = yaml.safe_load((folder / "config.yaml").read_text())
        assert stored["subset"] == f"{out_dir / 'subsets.h5'}:{run['subset']}" and stored["seed"] == seed
        assert stored["epochs"] == TRAIN["epochs"] and stored["model"] == "mlp"
        history = (folder / "history.csv").read_text().splitlines()
        assert len(history) == 1 + TRAIN["epochs"]
        best = evaluation_numbers(folder / "best-evaluation.h5")
        if run["best_epoch"] == run["epochs"]:
            last = best
            assert run["last"]["same_as_best"] and not (folder / "last-evaluation.h5").exists()
        else:
            last = evaluation_numbers(folder / "last-evaluation.h5")
        metrics = run["metrics"]
        assert close(metrics["best_robust"], best["robust"]) and close(metrics["clean"], best["clean"])
        assert close(metrics["gap"], best["gap"]) and close(metrics["last_robust"], last["robust"])
        assert close(metrics["robust_overfitting"], best["robust"] - last["robust"])
        with h5py.File(folder / "best-evaluation.h5", "r") as handle:
            assert handle["labels"].shape == (SWEEP["n_examples"],)

    for key in METRICS:
        entry = summary["metrics"][key]
        full = [runs["full", 0.0, s]["metrics"][key] for s in SEEDS]
        assert close(entry["full"]["values"], full)
        assert close([entry["full"]["mean"], entry["full"]["std"]], [np.mean(full), np.std(full)])
        for condition in ("quality", "random"):
            values = [[runs[condition, f, s]["metrics"][key] for s in SEEDS] for f in FRACTIONS]
            assert close(entry[condition]["values"], values)
            assert close(entry[condition]["mean"], np.mean(values, axis=1))
            assert close(entry[condition]["std"], np.std(values, axis=1))


@pytest.mark.slow
def test_figures_hold_the_stored_means_and_spreads(swept) -> None:
    summary = swept.summary
    figures = {f"sweep-{k.replace('_', '-')}.png" for k in METRICS}
    assert set(swept.drawn) == figures == set(summary["figures"])
    assert {p.name for p in swept.files} == figures | {"report.md", "summary.json"}
    x = [0.0, *FRACTIONS]
    for key in METRICS:
        name = f"sweep-{key.replace('_', '-')}.png"
        with Image.open(swept.out_dir / name) as image:
            assert image.format == "PNG" and image.width >= 1000 and image.height >= 700
        drawn, entry = swept.drawn[name], summary["metrics"][key]
        for condition in ("quality", "random"):
            line = drawn[condition]
            assert close(line["x"], x)
            assert close(line["y"], [entry["full"]["mean"], *entry[condition]["mean"]])
            assert close((line["high"] - line["low"]) / 2, [entry["full"]["std"], *entry[condition]["std"]])
            points = np.column_stack([np.repeat(FRACTIONS, len(SEEDS)), np.ravel(entry[condition]["values"])])
            assert close(drawn[f"{condition}_seeds"], points)
        assert close(drawn["full_seeds"], np.column_stack([np.zeros(len(SEEDS)), entry["full"]["values"]]))
    assert not list(swept.out_dir.glob(".*.tmp"))


@pytest.mark.slow
def test_report_sets_quality_and_random_side_by_side(swept) -> None:
    report = (swept.out_dir / "report.md").read_text()
    summary = swept.summary
    assert "| fraction removed | examples kept | lowest quality removed | removed at random | quality − random |" in report
    entry = summary["metrics"]["best_robust"]
    for k, fraction in enumerate(FRACTIONS):
        quality, random = (entry[c]["mean"][k] for c in ("quality", "random"))
        row = (
            f"| {fraction:g} | {summary['subsets']['sizes'][f'quality-f{fraction:g}']} | "
            f"{quality:.3f} ± {entry['quality']['std'][k]:.3f} | {random:.3f} ± {entry['random']['std'][k]:.3f} | "
            f"{quality - random:+.3f} |"
        )
        assert row in report
    assert all(f"![{name}]({name})" in report for name in summary["figures"])
    assert all(f"`{run['name']}`" in report for run in summary["runs"])


@pytest.mark.slow
def test_resume_skips_finished_sub_runs_and_continues_an_interrupted_one(
    sweep_profile: Path, swept, tmp_path: Path
) -> None:
    config = dict(profile=sweep_profile, out_dir=tmp_path / "sweep", fractions=[FRACTIONS[0]], repeats=1, **SWEEP)
    # Ctrl-C once the second sub-run (quality-f0.2-seed0) has saved its second epoch
    with pytest.raises(KeyboardInterrupt):
        explain_sweep(SweepConfig(**config), Recorder(stop=TRAIN["epochs"] + 2))
    runs = tmp_path / "sweep" / "runs"
    finished = runs / "full-f0-seed0" / "result.json"
    assert finished.is_file() and not (runs / "quality-f0.2-seed0" / "result.json").exists()
    before = finished.stat().st_mtime_ns, (runs / "full-f0-seed0" / "best.pt").stat().st_mtime_ns

    with pytest.raises(AdvqError, match="already holds a sweep: pass --resume"):
        explain_sweep(SweepConfig(**config))
    recorder = Recorder()
    result = explain_sweep(SweepConfig(**config, resume=True), recorder)
    assert "full-f0-seed0: finished in" in " ".join(recorder.messages)
    assert any("Resuming" in m and "after epoch 2" in m for m in recorder.messages), recorder.messages
    assert (finished.stat().st_mtime_ns, (runs / "full-f0-seed0" / "best.pt").stat().st_mtime_ns) == before
    # the same sub-runs as in the uninterrupted sweep, with the same numbers
    whole = {r["name"]: r["metrics"] for r in swept.summary["runs"]}
    for run in result.summary["runs"]:
        assert close(list(run["metrics"].values()), list(whole[run["name"]].values())), run["name"]


def test_bad_configurations_are_refused_before_anything_is_written(sweep_profile: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    base = dict(profile=sweep_profile, out_dir=out_dir, n_examples=60, attack_options=FAST_AUTOATTACK, **TRAIN)
    for values, message in [
        ({"fractions": "0.2,1"}, "must lie strictly between 0 and 1"),
        ({"fractions": "0.2,0.2"}, "more than once"),
        ({"subset": "x.npy"}, "--subset: the sweep sets this"),
        ({"epoch": 3}, "did you mean '--epochs'"),
    ]:
        with pytest.raises(AdvqError, match=message):
            resolve_sweep_config({}, {**base, **values})
    for values, message in [
        ({"attacks": ["pgd-10", "pgd-7"]}, "pgd-7"),
        ({"dataset": "fashion-mnist"}, "profile's dataset 'digits'"),
        ({"attack_options": {"autoattack": {"restarts": 2}}}, "no option restarts"),
    ]:
        with pytest.raises(AdvqError, match=message):
            explain_sweep(resolve_sweep_config({}, {**base, **values}))
    assert not out_dir.exists()


@pytest.mark.slow
def test_the_example_config_runs_on_the_command_line(sweep_profile: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "cli"
    args = [
        "explain", "sweep", str(sweep_profile), "--config", str(EXAMPLE), "--out-dir", str(out_dir),
        "--fractions", "0.3", "--repeats", "1", "--seed", "4", "--epochs", "2", "--milestones", "1",
        "--eval-examples", "40", "--n-examples", "40", "--attacks", "pgd-10",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    summary = json.loads((out_dir / "summary.json").read_text())
    example = yaml.safe_load(EXAMPLE.read_text())
    assert summary["fractions"] == [0.3] and summary["seeds"] == [4] and summary["n_examples"] == 40
    assert summary["training"]["epochs"] == 2 and summary["training"]["milestones"] == [1]
    assert summary["training"]["lr"] == example["lr"] and summary["training"]["steps"] == example["steps"]
    assert summary["attack_options"] == example["attack-options"]
    assert [r["name"] for r in summary["runs"]] == ["full-f0-seed4", "quality-f0.3-seed4", "random-f0.3-seed4"]
    best = summary["metrics"]["best_robust"]
    assert all(f"{best[c]['mean'][0]:.3f}" in out.output for c in ("quality", "random"))  # the printed table
    assert "Wrote" in out.output and "report.md" in out.output
    # without autoattack there is no overestimation gap: no figure for it, and the report says so
    assert summary["metrics"]["gap"]["full"]["values"] == [None] and "sweep-gap.png" not in summary["figures"]
    assert len(summary["figures"]) == 4 and not (out_dir / "sweep-gap.png").exists()
    assert "(No figure: the evaluation lacks pgd-10 or autoattack.)" in (out_dir / "report.md").read_text()


@pytest.mark.parametrize(
    "args", [["{profile}", "--fractions", "0.2,1.5"], ["{missing}"], ["{profile}", "--attacks", "pgd-7"]]
)
def test_command_line_bad_input_exits_2(sweep_profile: Path, tmp_path: Path, args: list[str]) -> None:
    paths = {"profile": sweep_profile, "missing": tmp_path / "missing.h5"}
    out = CliRunner().invoke(app, ["explain", "sweep", *(a.format(**paths) for a in args), "--out-dir", str(tmp_path / "o")])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), out.output
    assert not (tmp_path / "o").exists()

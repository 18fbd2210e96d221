"""`advq explain correlations|consistency|examples` on small real digits profiles: every
number recomputed from the HDF5 file, every figure checked for size and for holding those
numbers, the refusals, and the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from scipy.stats import spearmanr
from typer.testing import CliRunner

from advq_cli.checkpoint import load_model, read_checkpoint
from advq_cli.cli import app
from advq_cli.lookups import get_dataset
from advq_cli.errors import AdvqError, FingerprintMismatchError
from advq_cli.explaining import (
    ConsistencyConfig, CorrelationsConfig, ExamplesConfig, explain_consistency, explain_correlations, explain_examples,
)
from advq_cli.profiling import ProfileConfig, profile

TRAIN_EPS = 0.1
DIGITS = dict(
    dataset="digits", model="mlp", method="pgd-at", eps=TRAIN_EPS, steps=3, step_size=0.04, epochs=4,
    milestones=[], repeats=2, eval_examples=100, min_perturbation_max=16 / 255, device="cpu",
)


@pytest.fixture(scope="session")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two digits profiles of two runs each, seeds 0-1 and 10-11 (a few seconds)."""
    folder = tmp_path_factory.mktemp("explain-profiles")
    paths = (folder / "seed0.h5", folder / "seed10.h5")
    for path, seed in zip(paths, (0, 10)):
        profile(ProfileConfig(out=path, seed=seed, **DIGITS))
    return paths


@pytest.fixture(scope="session")
def profile_a(profiles: tuple[Path, Path]) -> Path:
    return profiles[0]


def quality(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as handle:
        return {name: data[()] for name, data in handle["quality"].items()}


def summary_of(out_dir: Path) -> dict:
    return json.loads((out_dir / "summary.json").read_text())


def check_figures(result, expected: set[str]) -> None:
    """The figures named, each a PNG of at least 1000×700 pixels, listed with report.md and summary.json."""
    assert {p.name for p in result.files} == expected | {"report.md", "summary.json"}
    assert set(result.drawn) == expected == set(summary_of(result.out_dir)["figures"])
    for name in expected:
        with Image.open(result.out_dir / name) as image:
            assert image.format == "PNG"
            assert image.width >= 1000 and image.height >= 700
    assert not list(result.out_dir.glob(".*.tmp"))


def close(a, b, tol: float = 1e-12) -> bool:
    a = np.asarray([np.nan if v is None else v for v in a] if isinstance(a, list) else a, dtype=np.float64)
    return np.allclose(a, np.asarray(b, dtype=np.float64), rtol=0, atol=tol, equal_nan=True)


# -- correlations -------------------------------------------------------------------------------


def test_correlations_recomputed_from_the_file(profile_a: Path, tmp_path: Path) -> None:
    result = explain_correlations(CorrelationsConfig(profile=profile_a, out_dir=tmp_path / "c"))
    stored = quality(profile_a)
    rank = stored.pop("problem_rank")
    summary = summary_of(result.out_dir)
    assert summary == result.summary and summary["command"] == "correlations"
    assert set(summary["spearman"]) == set(stored)
    ranked = np.isfinite(rank)
    assert summary["n_examples"] == ranked.sum() == 1437
    with h5py.File(profile_a, "r") as handle:
        assert summary["runs"] == list(handle["quality"].attrs["runs"]) == ["seed-0", "seed-1"]

    for name, values in stored.items():
        both = ranked & np.isfinite(values)
        assert abs(summary["spearman"][name] - spearmanr(values[both], rank[both]).statistic) <= 1e-12
        assert summary["n_finite"][name] == both.sum()
        # the bins, recomputed by masks: edges[k] <= rank < edges[k + 1]
        bins = summary["bins"][name]
        edges = np.asarray(bins["edges"])
        assert close(edges, np.linspace(0, 1, 21))
        members = [both & (rank >= lo) & (rank < hi) for lo, hi in zip(edges[:-1], edges[1:])]
        assert bins["count"] == [int(m.sum()) for m in members]
        mean = [values[m].mean() if m.any() else np.nan for m in members]
        std = [values[m].std() if m.any() else np.nan for m in members]
        assert close(bins["mean"], mean) and close(bins["std"], std)

        # what the figure holds: the filled bins as error bars, every example as a point
        drawn = result.drawn[f"correlations-{name}.png"]
        filled = np.asarray(bins["count"]) > 0
        assert close(drawn["bins"]["x"], ((edges[:-1] + edges[1:]) / 2)[filled])
        assert close(drawn["bins"]["y"], np.asarray(mean)[filled])
        # ± 1 std, cut at the smallest and largest value the measure takes (a probability's band stays in [0, 1])
        lowest, highest = values[both].min(), values[both].max()
        assert close(drawn["bins"]["low"], np.maximum(np.asarray(mean) - std, lowest)[filled])
        assert close(drawn["bins"]["high"], np.minimum(np.asarray(mean) + std, highest)[filled])
        expected = np.column_stack([rank[both], values[both]])
        assert close(drawn["points"], expected)
    overview = result.drawn["correlations-overview.png"]
    assert overview["names"] == list(summary["spearman"])
    assert close(overview["rho"], list(summary["spearman"].values()))
    check_figures(result, {f"correlations-{n}.png" for n in stored} | {"correlations-overview.png"})
    report = (result.out_dir / "report.md").read_text()
    assert all(f"`{n}`" in report for n in stored)


def test_correlations_sample_a_seeded_subset(profile_a: Path, tmp_path: Path) -> None:
    config = dict(profile=profile_a, measures=["true-prob"], max_points=200, bins=5, seed=3)
    first = explain_correlations(CorrelationsConfig(out_dir=tmp_path / "a", **config))
    again = explain_correlations(CorrelationsConfig(out_dir=tmp_path / "b", **config))
    points = first.drawn["correlations-true_prob.png"]["points"]
    assert points.shape == (200, 2) and np.array_equal(points, again.drawn["correlations-true_prob.png"]["points"])
    stored = quality(profile_a)
    pairs = set(zip(stored["problem_rank"], stored["true_prob"]))
    assert all((x, y) in pairs for x, y in points)
    assert len(first.summary["bins"]["true_prob"]["count"]) == 5 and list(first.summary["spearman"]) == ["true_prob"]


@pytest.fixture
def broken_files(profile_a: Path, tmp_path: Path) -> dict[str, Path]:
    """A profile without /quality, a non-profile HDF5 file and a text file."""
    unfinished = tmp_path / "unfinished.h5"
    shutil.copyfile(profile_a, unfinished)
    with h5py.File(unfinished, "r+") as handle:
        del handle["quality"]
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as handle:
        handle["x"] = np.arange(3)
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    return {"unfinished": unfinished, "foreign": foreign, "text": text, "missing": tmp_path / "missing.h5"}


@pytest.mark.parametrize(
    ("which", "message"),
    [("missing", "not found"), ("foreign", "not an advq file"), ("text", "not an HDF5 file"), ("unfinished", "no /quality")],
)
def test_correlations_refuse_bad_files(broken_files: dict[str, Path], tmp_path: Path, which: str, message: str) -> None:
    out_dir = tmp_path / "out"
    with pytest.raises(AdvqError, match=message):
        explain_correlations(CorrelationsConfig(profile=broken_files[which], out_dir=out_dir))
    assert not out_dir.exists()


def test_unknown_measure_is_refused(profile_a: Path, tmp_path: Path) -> None:
    with pytest.raises(AdvqError, match="no measure 'loss'. Stored: confidence"):
        explain_correlations(CorrelationsConfig(profile=profile_a, out_dir=tmp_path / "c", measures=["loss"]))
    with pytest.raises(AdvqError, match="no measure 'loss'"):
        explain_consistency(ConsistencyConfig(profiles=[profile_a], out_dir=tmp_path / "d", measure="loss"))
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()


def test_out_dir_of_another_subcommand_is_refused(profile_a: Path, tmp_path: Path) -> None:
    explain_correlations(CorrelationsConfig(profile=profile_a, out_dir=tmp_path, measures=["true_prob"]))
    before = (tmp_path / "summary.json").read_bytes()
    with pytest.raises(AdvqError, match=r"outputs of `advq explain correlations`"):
        explain_consistency(ConsistencyConfig(profiles=[profile_a], out_dir=tmp_path))
    assert (tmp_path / "summary.json").read_bytes() == before


# -- consistency --------------------------------------------------------------------------------


def test_consistency_between_the_runs_of_one_file(profile_a: Path, tmp_path: Path) -> None:
    result = explain_consistency(ConsistencyConfig(profiles=[profile_a], out_dir=tmp_path / "runs"))
    with h5py.File(profile_a, "r") as handle:
        a, b = (handle[f"runs/seed-{s}/measures/problem_rank"][()] for s in (0, 1))
    rho = spearmanr(a, b).statistic
    summary = summary_of(result.out_dir)
    assert summary["between"] == "runs" and summary["measure"] == "problem_rank"
    assert summary["spearman_matrix"]["labels"] == ["seed-0", "seed-1"]
    assert close(np.ravel(summary["spearman_matrix"]["values"]), [1, rho, rho, 1])
    assert summary["n_common"] == [[1437, 1437], [1437, 1437]] and summary["scatter_pairs"] == [["seed-0", "seed-1"]]
    drawn = result.drawn
    assert close(drawn["consistency-matrix.png"]["matrix"].ravel(), [1, rho, rho, 1])
    assert drawn["consistency-matrix.png"]["cells"] == ["1.000", f"{rho:.3f}", f"{rho:.3f}", "1.000"]
    # every example is drawn (1437 < 5000) at its ranks: their Pearson correlation is the rho
    (points,) = drawn["consistency-scatter.png"]["points"]
    assert points.shape == (1437, 2) and abs(np.corrcoef(points.T)[0, 1] - rho) <= 1e-12
    check_figures(result, {"consistency-matrix.png", "consistency-scatter.png"})


def test_consistency_between_files(profiles: tuple[Path, Path], tmp_path: Path) -> None:
    result = explain_consistency(
        ConsistencyConfig(profiles=list(profiles), out_dir=tmp_path / "files", measure="true-prob", labels=["s0", "s10"])
    )
    x, y = (quality(p)["true_prob"] for p in profiles)
    rho = spearmanr(x, y).statistic
    summary = result.summary
    assert summary["between"] == "files" and summary["measure"] == "true_prob"
    assert summary["spearman_matrix"] == {"labels": ["s0", "s10"], "values": [[1.0, rho], [rho, 1.0]]}
    assert summary["sources"] == [str(p.resolve()) for p in profiles]
    for label, path in zip(("s0", "s10"), profiles):
        with h5py.File(path, "r") as handle:
            runs = [g["measures/true_prob"][()] for g in handle["runs"].values()]
        assert abs(summary["runs_spearman_mean"][label] - spearmanr(*runs).statistic) <= 1e-12
    assert 0.3 < rho < 1  # independent profiles of one dataset agree, not perfectly
    check_figures(result, {"consistency-matrix.png", "consistency-scatter.png"})


@pytest.fixture
def other_dataset(profile_a: Path, tmp_path: Path) -> Path:
    """The profile, relabelled as made for another dataset."""
    path = tmp_path / "other.h5"
    shutil.copyfile(profile_a, path)
    with h5py.File(path, "r+") as handle:
        handle.attrs.update({"dataset": "fashion-mnist", "dataset_fingerprint": "0123456789abcdef"})
    return path


def test_consistency_refuses_profiles_of_other_datasets(profile_a: Path, other_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(FingerprintMismatchError, match="only profiles of one dataset compare"):
        explain_consistency(ConsistencyConfig(profiles=[profile_a, other_dataset], out_dir=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_consistency_refuses_wrong_labels_and_a_single_run(profile_a: Path, tmp_path: Path) -> None:
    with pytest.raises(AdvqError, match="--labels names 3"):
        explain_consistency(ConsistencyConfig(profiles=[profile_a], out_dir=tmp_path / "a", labels=["x", "y", "z"]))
    single = tmp_path / "single.h5"
    shutil.copyfile(profile_a, single)
    with h5py.File(single, "r+") as handle:
        handle["runs/seed-1"].attrs["status"] = "partial"
    with pytest.raises(AdvqError, match="1 complete run"):
        explain_consistency(ConsistencyConfig(profiles=[single], out_dir=tmp_path / "b"))


# -- examples -----------------------------------------------------------------------------------


def test_examples_are_the_extremes_with_their_counterparts(profile_a: Path, tmp_path: Path) -> None:
    k = 2
    result = explain_examples(ExamplesConfig(profile=profile_a, out_dir=tmp_path / "ex", per_class=k))
    summary = summary_of(result.out_dir)
    digits = get_dataset("digits")
    labels = digits.train_labels.numpy()
    rank = quality(profile_a)["problem_rank"]
    checkpoint = profile_a.with_name(profile_a.name + ".runs") / "seed-0" / "best.pt"
    assert summary["checkpoint"] == str(checkpoint.resolve())
    eps = 2 * TRAIN_EPS
    assert summary["attack"] == {
        "name": "pgd-20", "eps": eps, "steps": 20, "step_size": eps / 8, "random_start": True, "seed": 0,
    }

    for side, pick in (("lowest_quality", np.max), ("highest_quality", np.min)):
        assert [row["label"] for row in summary[side]] == list(range(10))
        for row in summary[side]:
            chosen = [e["index"] for e in row["examples"]]
            members = np.flatnonzero(labels == row["label"])
            rest = np.setdiff1d(members, chosen)
            assert len(set(chosen)) == k and set(chosen) <= set(members)
            assert [e["problem_rank"] for e in row["examples"]] == rank[chosen].tolist()
            if side == "lowest_quality":  # the highest ranks of the class, worst first
                assert rank[chosen].min() >= pick(rank[rest]) and list(rank[chosen]) == sorted(rank[chosen], reverse=True)
            else:
                assert rank[chosen].max() <= pick(rank[rest]) and list(rank[chosen]) == sorted(rank[chosen])

        # the figure holds the clean images and counterparts inside the ε-ball, predicted as stated
        drawn = result.drawn[f"examples-{side.replace('_', '-')}.png"]
        indices = [e["index"] for row in summary[side] for e in row["examples"]]
        assert drawn["indices"] == indices
        clean = np.stack(drawn["clean"])
        adversarial = np.stack(drawn["adversarial"])
        assert np.array_equal(clean, digits.train_images[indices, 0].numpy() / np.float32(255))
        assert np.abs(adversarial - clean).max() <= eps + 1e-6 and adversarial.min() >= 0 and adversarial.max() <= 1
        model = load_model(checkpoint)
        with torch.no_grad():
            pred_clean = model(torch.from_numpy(clean)[:, None]).argmax(1).tolist()
            pred_adv = model(torch.from_numpy(adversarial)[:, None]).argmax(1).tolist()
        examples = [e for row in summary[side] for e in row["examples"]]
        assert pred_clean == [e["pred_clean"] for e in examples]
        assert pred_adv == [e["pred_adversarial"] for e in examples]
        titles = [f"#{e['index']}\n{labels[e['index']]} → {e['pred_clean']}" for e in examples]
        assert drawn["titles"][0::2] == titles
        assert drawn["titles"][1::2] == [f"adversarial\n{labels[e['index']]} → {e['pred_adversarial']}" for e in examples]
    check_figures(result, {"examples-lowest-quality.png", "examples-highest-quality.png"})


def test_examples_refuse_a_checkpoint_of_another_dataset(profile_a: Path, tmp_path: Path) -> None:
    payload = read_checkpoint(profile_a.with_name(profile_a.name + ".runs") / "seed-0" / "best.pt")
    payload["dataset"] = {**payload["dataset"], "fingerprint": "0123456789abcdef"}
    foreign = tmp_path / "foreign.pt"
    torch.save(payload, foreign)
    config = dict(profile=profile_a, out_dir=tmp_path / "out", classes=["3"], per_class=1)
    with pytest.raises(FingerprintMismatchError, match="fingerprints differ"):
        explain_examples(ExamplesConfig(checkpoint=foreign, **config))
    with pytest.raises(AdvqError, match="Checkpoint not found"):
        explain_examples(ExamplesConfig(checkpoint=tmp_path / "none.pt", **config))
    with pytest.raises(AdvqError, match="Unknown class 'cat'"):
        explain_examples(ExamplesConfig(**{**config, "classes": ["cat"]}))
    assert not (tmp_path / "out").exists()


# -- the command line ---------------------------------------------------------------------------


def test_command_line(profiles: tuple[Path, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    config = tmp_path / "explain.yaml"
    config.write_text(yaml.safe_dump({"bins": 4, "measures": "true_prob,first-learned-epoch"}))
    out = runner.invoke(app, [
        "explain", "correlations", str(profiles[0]), "--out-dir", str(tmp_path / "c"), "--config", str(config),
        "--max-points", "300",
    ])
    assert out.exit_code == 0, out.output
    summary = summary_of(tmp_path / "c")
    assert list(summary["spearman"]) == ["true_prob", "first_learned_epoch"]
    assert len(summary["bins"]["true_prob"]["count"]) == 4 and summary["scatter"]["max_points"] == 300
    assert f"{summary['spearman']['true_prob']:+.3f}" in out.output and "Wrote" in out.output

    out = runner.invoke(app, [
        "explain", "consistency", *map(str, profiles), "--out-dir", str(tmp_path / "s"), "--labels", "a,b",
        "--measure", "min-perturbation",
    ])
    assert out.exit_code == 0, out.output
    rho = summary_of(tmp_path / "s")["spearman_matrix"]["values"][0][1]
    assert f"{rho:.3f}" in out.output

    out = runner.invoke(app, [
        "explain", "examples", str(profiles[0]), "--out-dir", str(tmp_path / "e"), "--per-class", "1",
        "--classes", "0,7", "--eps", "8/255", "--steps", "5",
    ])
    assert out.exit_code == 0, out.output
    summary = summary_of(tmp_path / "e")
    assert summary["attack"]["eps"] == 8 / 255 and summary["attack"]["steps"] == 5
    assert [row["class"] for row in summary["lowest_quality"]] == ["0", "7"]


@pytest.mark.parametrize(
    "args",
    [
        ["correlations", "{missing}"],
        ["correlations", "{profile}", "--measures", "loss"],
        ["correlations", "{profile}", "--bins", "0"],
        ["consistency", "{profile}", "{other}"],
        ["examples", "{profile}", "--eps", "1/0"],
    ],
)
def test_command_line_bad_input_exits_2(profile_a: Path, other_dataset: Path, tmp_path: Path, args: list[str]) -> None:
    paths = {"missing": tmp_path / "missing.h5", "profile": profile_a, "other": other_dataset}
    args = [a.format(**paths) for a in args]
    out = CliRunner().invoke(app, ["explain", *args, "--out-dir", str(tmp_path / "out")])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), out.output
    assert not (tmp_path / "out").exists()


def test_the_command_line_does_not_import_matplotlib_or_scipy_at_start() -> None:
    code = "import sys, advq_cli.cli; print(sorted(m for m in ('matplotlib', 'scipy.stats') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"

"""`advq curate` on the command line: thin over the library, one clear line and exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from advq_cli import get_dataset
from advq_cli.cli import app
from advq_cli.curation.training_subset import load_subset

from test_cli import snapshot
from test_curate import N_UNPROFILED, digits_measures, write_profile

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture
def files(tmp_path: Path, monkeypatch) -> Path:
    """A profile, a set file holding one set, rank arrays good and bad, and a profile of another dataset."""
    monkeypatch.chdir(tmp_path)
    digits = get_dataset("digits")
    write_profile(tmp_path / "profile.h5", digits)
    write_profile(tmp_path / "foreign.h5", digits, fingerprint="0123456789abcdef")
    rank = digits_measures(digits.n_train)["problem_rank"]
    np.save(tmp_path / "ranks.npy", rank)
    np.save(tmp_path / "short.npy", rank[:1000])
    np.save(tmp_path / "inf.npy", np.where(np.arange(digits.n_train) == 3, np.inf, rank))
    np.save(tmp_path / "nan.npy", np.full(digits.n_train, np.nan))
    np.save(tmp_path / "text.npy", np.array(["a"] * digits.n_train))
    (tmp_path / "typo.yaml").write_text("remove_lowst: 0.2\n")
    result = runner.invoke(app, ["curate", "profile.h5", "--keep", "100", "--name", "taken", "--out", "sets.h5"])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_curate_export_and_list_end_to_end_with_a_config_file(files: Path):
    (files / "curate.yaml").write_text(yaml.safe_dump({
        "remove-lowest": "1/5", "balanced": True, "baseline": "random", "name": "clean80", "keep": None,
        "export": "npy", "export_dir": "ex",
    }))
    result = runner.invoke(app, ["curate", "profile.h5", "--config", "curate.yaml", "--export", "npy,hdf5"], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "clean80-random" in result.output and "remove-lowest" in result.output
    assert sorted(p.name for p in (files / "ex").iterdir()) == [
        "clean80-random.h5", "clean80-random.manifest.json", "clean80-random.npy",
        "clean80.h5", "clean80.manifest.json", "clean80.npy",
    ]
    manifest = json.loads((files / "ex" / "clean80.manifest.json").read_text())
    assert manifest["params"]["fraction"] == pytest.approx(0.2) and manifest["files"] == {
        "npy": ["clean80.npy"], "hdf5": ["clean80.h5"]}

    listing = runner.invoke(app, ["curate", "--list", "profile.h5"], env=WIDE)
    assert listing.exit_code == 0, listing.output
    rows = {line.split("│")[1].strip(): line for line in listing.output.splitlines() if line.count("│") > 4}
    assert set(rows) == {"clean80", "clean80-random"}
    size = int(rows["clean80"].split("│")[2])
    assert size == len(np.load(files / "ex" / "clean80.npy"))
    labels = get_dataset("digits").train_labels.numpy()
    counts = np.bincount(labels[np.load(files / "ex" / "clean80.npy")], minlength=10)
    assert " ".join(f"{c}:{n}" for c, n in enumerate(counts)) in rows["clean80"]
    rank = digits_measures(labels.size)["problem_rank"]
    assert f"{rank[np.load(files / 'ex' / 'clean80.npy')].mean():.4f}" in rows["clean80"]


def test_list_of_an_empty_file_says_so(files: Path):
    result = runner.invoke(app, ["curate", "--list", "foreign.h5"])
    assert result.exit_code == 2 and "made for dataset 'digits'" in result.output
    result = runner.invoke(app, ["curate", "--list", "profile.h5"])
    assert result.exit_code == 0 and "none" in result.output


def test_an_imported_rank_array_makes_sets_that_advq_train_reads(files: Path):
    result = runner.invoke(app, ["curate", "--from-npy", "ranks.npy", "--dataset", "digits", "--out", "paper.h5",
                                 "--quantiles", "5", "--name", "q"], env=WIDE)
    assert result.exit_code == 0, result.output
    digits = get_dataset("digits")
    sets = [load_subset(f"paper.h5:q-{k}", digits) for k in range(1, 6)]
    sizes = [s.size for s in sets]
    assert sum(sizes) == digits.n_train - N_UNPROFILED and max(sizes) - min(sizes) <= 1
    rank = np.load(files / "ranks.npy")
    assert [rank[s].mean() for s in sets] == sorted((rank[s].mean() for s in sets), reverse=True)


@pytest.mark.parametrize(("args", "message"), [
    (["profile.h5", "--remove-lowest", "1.5", "--name", "x"], "--remove-lowest must lie in [0, 1]"),
    (["profile.h5", "--remove-lowest", "1", "--name", "x"], "--remove-lowest must lie strictly between 0 and 1"),
    (["profile.h5", "--remove-lowest", "0", "--name", "x"], "--remove-lowest must lie strictly between 0 and 1"),
    (["profile.h5", "--remove-lowest", "abc", "--name", "x"], "Malformed --remove-lowest"),
    (["profile.h5", "--keep", "5000", "--name", "x"], "--keep 5000 is larger than the set"),
    (["profile.h5", "--keep", "1380", "--balanced", "--name", "x"], "class 0 (needs 138, has 137), class 8 (needs 138, has 135)"),
    (["profile.h5", "--quantiles", "1", "--name", "x"], "--quantiles must be 2 or more"),
    (["profile.h5", "--keep", "5", "--quantiles", "3", "--name", "x"], "Give one rule, not --keep and --quantiles"),
    (["profile.h5", "--name", "x"], "Give a rule"),
    (["profile.h5", "--keep", "5"], "Name the set with --name"),
    (["profile.h5", "--keep", "5", "--name", "a/b"], "Set name 'a/b' is not allowed"),
    (["profile.h5", "--keep", "5", "--name", "taken", "--out", "sets.h5"], "already holds taken; add --overwrite"),
    (["profile.h5", "--keep", "5", "--name", "x", "--baseline", "shuffled"], "the only baseline is 'random'"),
    (["profile.h5", "--keep", "5", "--name", "x", "--classes", "0,cat"], "Unknown class 'cat'"),
    (["profile.h5", "--keep", "5", "--name", "x", "--rank", "nope"], "has no measure 'nope' in /quality. Stored: "),
    (["profile.h5", "--keep", "5", "--name", "x", "--rank", "custom_score"], "--higher-is-worse or --higher-is-better"),
    (["profile.h5", "--keep", "5", "--name", "x", "--export", "zip", "--export-dir", "ex"], "Unknown exporter 'zip'"),
    (["profile.h5", "--keep", "5", "--name", "x", "--export", "npy"], "--export FORMAT and --export-dir DIR go together"),
    (["profile.h5", "--keep", "5", "--name", "x", "--dataset", "fashion-mnist"], "not 'fashion-mnist'"),
    (["foreign.h5", "--keep", "5", "--name", "x"], "was made for dataset 'digits' (fingerprint 0123456789abcdef)"),
    (["profile.h5", "--keep", "5", "--name", "x", "--out", "foreign.h5"], "fingerprint 0123456789abcdef"),
    (["missing.h5", "--keep", "5", "--name", "x"], "File not found: missing.h5"),
    (["missing.h5"], "File not found: missing.h5"),  # the file first, before the missing rule and name
    (["--from-npy", "missing.npy", "--dataset", "digits"], "Rank file not found: missing.npy"),
    (["ranks.npy", "--keep", "5", "--name", "x"], "is not an HDF5 file"),
    (["--from-npy", "short.npy", "--dataset", "digits", "--out", "o.h5", "--keep", "5", "--name", "x"],
     "has 1000 values; dataset 'digits' has 1437 training examples"),
    (["--from-npy", "inf.npy", "--dataset", "digits", "--out", "o.h5", "--keep", "5", "--name", "x"],
     "must hold problem ranks in [0, 1)"),
    (["--from-npy", "nan.npy", "--dataset", "digits", "--out", "o.h5", "--keep", "5", "--name", "x"],
     "ranks no example: every value is NaN"),
    (["--from-npy", "text.npy", "--dataset", "digits", "--out", "o.h5", "--keep", "5", "--name", "x"],
     "must be a 1-D array of numbers"),
    (["--from-npy", "ranks.npy", "--dataset", "digits", "--keep", "5", "--name", "x"], "--from-npy needs --dataset NAME and --out"),
    (["--from-npy", "ranks.npy", "--dataset", "digitz", "--out", "o.h5", "--keep", "5", "--name", "x"],
     "Unknown dataset 'digitz'. Did you mean 'digits'?"),
    (["profile.h5", "--from-npy", "ranks.npy", "--keep", "5", "--name", "x"], "Give one source of ranks"),
    (["profile.h5", "--config", "typo.yaml", "--name", "x"], "did you mean '--remove-lowest'"),
    (["--list", "sets.h5", "--keep", "4"], "--list FILE.h5 shows stored sets; give it alone"),
])
def test_bad_input_exits_2_with_one_line_and_leaves_files_intact(files: Path, args, message):
    before = snapshot(files)
    result = runner.invoke(app, ["curate", *args], env=WIDE)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert snapshot(files) == before

"""Every kind of bad input, fed to every command it applies to: exit status 2, one line
(no traceback), and every file that was there byte-identical afterwards, no file added."""

from __future__ import annotations

import collections
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from advq_cli.checkpoint import read_checkpoint, save_checkpoint
from advq_cli.cli import app
from advq_cli.curation import CurateConfig, curate
from advq_cli.evaluation import EvaluateConfig, evaluate
from advq_cli.profiling import ProfileConfig, profile
from advq_cli.training import TrainConfig, train

OTHER_FINGERPRINT = "0123456789abcdef"
N_TRAIN = 1437  # digits
FAST = dict(dataset="digits", model="mlp", epochs=1, milestones=[], eps=0.1, steps=1, step_size=0.1,
            eval_examples=30, device="cpu")


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_with(source: Path, target: Path, change) -> None:
    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as handle:
        change(handle)


def make_world(w: Path) -> None:
    """Real outputs of every command on digits, and bad files of every kind beside them."""
    profile(ProfileConfig(out=w / "p.h5", repeats=1, min_perturbation_max=2 / 255, **FAST))
    shutil.copyfile(w / "p.h5", w / "q.h5")
    train(TrainConfig(out=w / "run", **FAST))
    curate(CurateConfig(profile=w / "p.h5", remove_lowest=0.2, name="s", out=w / "sets.h5"))
    evaluate(EvaluateConfig(checkpoint=w / "run" / "best.pt", attacks=["pgd-10"], n_examples=20, device="cpu",
                            out=w / "e.h5"))
    # configuration files
    (w / "typo.yaml").write_text("sed: 1\n")  # every command has --seed
    (w / "broken.yaml").write_text("seed: [\n")
    (w / "folder.yaml").mkdir()
    (w / "binary.yaml").write_bytes(b"\xff\xfe\x00seed")
    # a "billion laughs": nine levels of nine aliases, 9**9 values once expanded, under a key every command has
    levels = ["l0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]" for k in range(1, 9)]
    (w / "laughs.yaml").write_text("\n".join(levels) + "\nseed: *l8\n")
    (w / "itself.yaml").write_text("seed: &s [1, *s]\n")
    # HDF5 files of another tool, a newer advq, another dataset, and NaN ranks
    (w / "text.h5").write_text("not hdf5")
    with h5py.File(w / "foreign.h5", "w") as handle:
        handle["x"] = [1]
    copy_with(w / "p.h5", w / "newer.h5", lambda h: h.attrs.__setitem__("format_version", 99))
    copy_with(w / "e.h5", w / "newer-e.h5", lambda h: h.attrs.__setitem__("format_version", 99))
    copy_with(w / "p.h5", w / "otherdata.h5", lambda h: h.attrs.__setitem__("dataset_fingerprint", OTHER_FINGERPRINT))
    copy_with(w / "p.h5", w / "nanrank.h5", lambda h: [d.__setitem__(Ellipsis, np.nan) for d in h["quality"].values()])

    def other_sets(handle: h5py.File) -> None:
        handle.attrs["dataset_fingerprint"] = OTHER_FINGERPRINT
        handle["subsets/s"].attrs["dataset_fingerprint"] = OTHER_FINGERPRINT

    def bad_sets(handle: h5py.File) -> None:
        handle.create_dataset("subsets/far/indices", data=np.array([0, N_TRAIN]))
        handle.create_dataset("subsets/twice/indices", data=np.array([4, 4]))

    copy_with(w / "sets.h5", w / "othersets.h5", other_sets)
    copy_with(w / "sets.h5", w / "badsets.h5", bad_sets)
    # index and rank files
    np.save(w / "far.npy", np.array([0, N_TRAIN]))
    np.save(w / "twice.npy", np.array([0, 3, 3]))
    np.save(w / "halves.npy", np.array([0.5, 2.0]))
    np.save(w / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(w / "allnan.npy", np.full(N_TRAIN, np.nan))
    np.save(w / "infrank.npy", np.r_[np.full(N_TRAIN - 1, 0.5), np.inf])
    np.save(w / "short.npy", np.zeros(10))
    (w / "empty.npy").write_bytes(b"")
    np.save(w / "huge.npy", np.array([0.0, 1e300]))
    # checkpoints of another tool, a newer advq, other data
    payload = read_checkpoint(w / "run" / "best.pt")
    save_checkpoint(w / "otherdata.pt", {**payload, "dataset": {**payload["dataset"], "fingerprint": OTHER_FINGERPRINT}})
    torch.save({"format": "advq-checkpoint", "format_version": 99}, w / "newer.pt")
    # advq's format tag, but malformed: no model, weights of other shapes, absurd model options
    save_checkpoint(w / "nomodel.pt", {k: v for k, v in payload.items() if k != "model"})
    save_checkpoint(w / "shapes.pt", {**payload, "state_dict": {k: v[..., :1] for k, v in payload["state_dict"].items()}})
    save_checkpoint(w / "absurd.pt", {**payload, "model": {**payload["model"], "options": {"hidden": 10**9}}})
    save_checkpoint(w / "hollow.pt", {**payload, "model": {**payload["model"], "options": {"hidden": 0}}})
    # run folders: advq's files without last.pt, and someone else's files
    (w / "halfrun").mkdir()
    shutil.copyfile(w / "run" / "best.pt", w / "halfrun" / "best.pt")
    (w / "notes").mkdir()
    (w / "notes" / "todo.txt").write_text("not a run\n")
    torch.save(collections.OrderedDict(weight=torch.zeros(1)), w / "foreign.pt")
    (w / "text.pt").write_text("not a checkpoint")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("world")
    make_world(w)
    return w


TRAINING = ["--dataset", "digits", "--model", "mlp", "--eps", "0.1", "--steps", "1", "--step-size", "0.1",
            "--epochs", "1", "--milestones", "", "--device", "cpu", "--eval-examples", "30"]
BASE = {
    "train": ["train", *TRAINING, "--out", "new"],
    "profile": ["profile", *TRAINING, "--repeats", "1", "--out", "new.h5"],
    "curate": ["curate", "p.h5", "--remove-lowest", "0.2", "--name", "t", "--out", "t.h5"],
    "evaluate": ["evaluate", "run/best.pt", "--attacks", "pgd-10", "--n-examples", "20", "--device", "cpu",
                 "--out", "new-e.h5"],
    "correlations": ["explain", "correlations", "p.h5", "--out-dir", "c"],
    "consistency": ["explain", "consistency", "p.h5", "q.h5", "--out-dir", "k"],
    "examples": ["explain", "examples", "p.h5", "--out-dir", "x", "--per-class", "1", "--steps", "1",
                 "--device", "cpu"],
}
EXPLAIN = ("correlations", "consistency", "examples")
FROM_NPY = ["curate", "--from-npy", "RANKS", "--dataset", "digits", "--remove-lowest", "0.2", "--name", "t",
            "--out", "t.h5"]


def replaced(args: list[str], old: str, new: str) -> list[str]:
    assert old in args
    return [new if a == old else a for a in args]


def cases() -> list:
    table = []

    def add(command: str, args: list[str], message: str) -> None:
        table.append(pytest.param(args, message, id=f"{command}: {' '.join(args[-4:])}"))

    for command, base in BASE.items():
        add(command, [*base, "--config", "typo.yaml"], "Unknown option '--sed' in the configuration; did you mean '--seed'?")
        add(command, [*base, "--config", "broken.yaml"], "is not valid YAML")
        add(command, [*base, "--config", "missing.yaml"], "Cannot read config file missing.yaml")
        add(command, [*base, "--config", "folder.yaml"], "Cannot read config file folder.yaml")
        add(command, [*base, "--config", "binary.yaml"], "Config file binary.yaml is not UTF-8 text")
        add(command, [*base, "--config", "laughs.yaml"], "laughs.yaml expands (through its aliases) to more than")
        add(command, [*base, "--config", "itself.yaml"], "itself.yaml holds a value that contains itself")
    for command in ("train", "profile"):
        base = BASE[command]
        for extra, message in [
            (["--dataset", "digitz"], "Unknown dataset 'digitz'. Did you mean 'digits'? Known: cifar10"),
            (["--model", "resnett"], "Unknown model 'resnett'. Known: "),
            (["--method", "pgdat"], "Unknown method 'pgdat'. Did you mean 'pgd-at'?"),
            (["--device", "gpu"], "Unknown device 'gpu'"),
            (["--eps", "8/0"], "Malformed --eps '8/0'"),
            (["--eps", "2"], "--eps must lie in [0, 1]"),
            (["--step-size", "two"], "Malformed --step-size 'two'"),
            (["--milestones", "5,x"], "Malformed --milestones '5,x'"),
            (["--milestones", "3,2"], "--milestones must be ascending"),
            (["--subset", "missing.npy"], "Subset file not found: missing.npy"),
            (["--subset", "folder.yaml"], "Subset file not found: folder.yaml"),
            (["--subset", "far.npy"], "has indices out of range"),
            (["--subset", "twice.npy"], "repeats 1 indices"),
            (["--subset", "halves.npy"], "not whole-number indices"),
            (["--subset", "pickled.npy"], "is not a readable .npy file"),
            (["--subset", "badsets.h5:far"], "has indices out of range"),
            (["--subset", "badsets.h5:twice"], "repeats 1 indices"),
            (["--subset", "sets.h5:nope"], "has no subset 'nope'. Stored: s"),
            (["--subset", "text.h5:s"], "text.h5 is not an HDF5 file"),
            (["--subset", "othersets.h5:s"], "othersets.h5 was made for dataset 'digits' (fingerprint"),
            (["--subset", "foreign.h5:s"], "foreign.h5 is not an advq file of kind"),  # format checked as curate does
            (["--subset", "empty.npy"], "Subset empty.npy is not a readable .npy file (it is empty or cut short)"),
            (["--subset", "huge.npy"], "has indices out of range: 0..1e+300"),
            (["--seed", str(2**64 + 1)], "--seed must lie between -(2**63) and 2**63 - 1"),
            (["--steps", "0"], "--steps must be positive, got 0"),
            (["--momentum", "5"], "--momentum must lie in [0, 1)"),
            (["--model", "small-cnn", "--width", "0"], "--width must be positive, got 0"),
            (["--out", "typo.yaml/inside"], "Cannot write"),
        ]:
            add(command, [*base, *extra], message)
    add("evaluate", [*BASE["evaluate"], "--out", "typo.yaml/e.h5"], "typo.yaml is a file, not a folder")
    add("evaluate", [*BASE["evaluate"], "--seed", str(2**64 + 1)], "--seed must lie between")
    add("train", replaced(BASE["train"], "new", "halfrun"), "halfrun already holds a run: it has no last.pt to resume from (best.pt)")
    add("train", [*replaced(BASE["train"], "new", "halfrun"), "--resume"], "it has no last.pt to resume from")
    add("train", replaced(BASE["train"], "new", "notes"), "--out notes holds other files (todo.txt)")
    add("train", replaced(BASE["train"], "new", "run"), "run already holds a run: pass --resume to continue it")
    add("profile", [*BASE["profile"], "--min-perturbation-max", "x"], "Malformed --min-perturbation-max 'x'")
    add("profile", [*BASE["profile"], "--repeats", "0"], "--repeats must be at least 1")
    add("profile", [*BASE["profile"], "--runs-together", "0"], "--runs-together must be at least 1")
    for target, message in [
        ("text.h5", "text.h5 is not an HDF5 file"),
        ("foreign.h5", "foreign.h5 is not an advq file of kind advq-profile (format: none)"),
        ("newer.h5", "newer.h5 was written by a newer advq (format version 99)"),
        ("otherdata.h5", f"otherdata.h5 was made for dataset 'digits' (fingerprint {OTHER_FINGERPRINT})"),
    ]:
        add("profile", [*replaced(BASE["profile"], "new.h5", target), "--resume"], message)
        add("profile", [*replaced(BASE["profile"], "new.h5", target), "--resume", "--model", "nope"], message)
    add("train", [*replaced(BASE["train"], "new", "run"), "--resume", "--lr", "0.5"], "Cannot resume run/last.pt")

    curate_base = BASE["curate"]
    for source, message in [
        ("missing.h5", "File not found: missing.h5"),
        ("folder.yaml", "File not found: folder.yaml"),
        ("text.h5", "text.h5 is not an HDF5 file"),
        ("foreign.h5", "foreign.h5 is not an advq file of kind advq-profile or advq-subsets"),
        ("newer.h5", "newer.h5 was written by a newer advq (format version 99)"),
        ("nanrank.h5", "ranks no example: every value is NaN"),
    ]:
        add("curate", replaced(curate_base, "p.h5", source), message)
    for fraction, message in [("1.5", "--remove-lowest must lie"), ("0", "strictly between 0 and 1"),
                              ("abc", "Malformed --remove-lowest 'abc'"), ("nan", "Malformed --remove-lowest 'nan'")]:
        add("curate", replaced(curate_base, "0.2", fraction), message)
    add("curate", [*curate_base, "--dataset", "cifar10"], "p.h5 was made for dataset 'digits', not 'cifar10'")
    add("curate", [*curate_base, "--rank", "bogus"], "p.h5 has no measure 'bogus' in /quality. Stored: confidence")
    add("curate", [*curate_base, "--export", "zip", "--export-dir", "ex"], "Unknown exporter 'zip'. Known: hdf5")
    add("curate", [*curate_base, "--classes", "eleven"], "Unknown class 'eleven' of dataset 'digits'")
    for target, message in [("text.h5", "text.h5 is not an HDF5 file"),
                            ("newer.h5", "newer.h5 was written by a newer advq"),
                            ("othersets.h5", "othersets.h5 was made for dataset 'digits' (fingerprint")]:
        add("curate", replaced(curate_base, "t.h5", target), message)
    for ranks, message in [
        ("missing.npy", "Rank file not found: missing.npy"),
        ("allnan.npy", "ranks no example: every value is NaN"),
        ("infrank.npy", "must hold problem ranks in [0, 1)"),
        ("short.npy", "has 10 values; dataset 'digits' has 1437"),
        ("pickled.npy", "is not a readable .npy file"),
        ("empty.npy", "Rank file empty.npy is not a readable .npy file (it is empty or cut short)"),
    ]:
        add("curate", replaced(FROM_NPY, "RANKS", ranks), message)
    add("curate", [*replaced(curate_base, "t", "n" * 300), "--export", "npy", "--export-dir", "ex"],
        "choose a shorter --name")
    add("curate", replaced(replaced(FROM_NPY, "RANKS", "allnan.npy"), "digits", "digitz"), "Unknown dataset 'digitz'")

    evaluate_base = BASE["evaluate"]
    for checkpoint, message in [
        ("missing.pt", "Checkpoint not found: missing.pt"),
        ("run", "Checkpoint not found: run"),
        ("text.pt", "text.pt is not an advq checkpoint"),
        ("p.h5", "p.h5 is not an advq checkpoint"),
        ("foreign.pt", "foreign.pt is not an advq checkpoint"),
        ("newer.pt", "newer.pt was written by a newer advq"),
        ("otherdata.pt", "otherdata.pt was trained on other 'digits' data"),
        ("nomodel.pt", "nomodel.pt carries advq's format tag but is malformed: it lacks its model description"),
        ("shapes.pt", "shapes.pt carries advq's format tag but is malformed: its weights do not fit its model"),
        ("absurd.pt", "absurd.pt carries advq's format tag but is malformed: Model 'mlp' (hidden=1000000000)"),
        ("hollow.pt", "would have no weights"),
    ]:
        add("evaluate", replaced(evaluate_base, "run/best.pt", checkpoint), message)
    for attacks, message in [("autoatack", "Unknown attack 'autoatack'. Did you mean 'autoattack'?"),
                             ("pgd-10,pgd-10", "--attacks names pgd-10 more than once")]:
        add("evaluate", replaced(evaluate_base, "pgd-10", attacks), message)
    add("evaluate", [*evaluate_base, "--eps", "8/0"], "Malformed --eps '8/0'")
    add("evaluate", [*evaluate_base, "--eps", "-0.1"], "--eps must lie in [0, 1]")
    for target, message in [("text.h5", "text.h5 is not an HDF5 file"),
                            ("p.h5", "p.h5 is not an advq file of kind advq-evaluation (format: advq-profile)"),
                            ("newer-e.h5", "newer-e.h5 was written by a newer advq (format version 99)")]:
        add("evaluate", [*replaced(evaluate_base, "new-e.h5", target), "--resume"], message)

    for command in EXPLAIN:
        for source, message in [
            ("missing.h5", "File not found: missing.h5"),
            ("text.h5", "text.h5 is not an HDF5 file"),
            ("foreign.h5", "foreign.h5 is not an advq file of kind advq-profile (format: none)"),
            ("newer.h5", "newer.h5 was written by a newer advq (format version 99)"),
            ("nanrank.h5", "ranks no example: every value is NaN"),
        ]:
            add(command, replaced(BASE[command], "p.h5", source), message)
    add("correlations", [*BASE["correlations"], "--measures", "bogus"], "p.h5 has no measure 'bogus'. Stored: ")
    add("correlations", [*BASE["correlations"], "--bins", "0"], "--bins and --max-points must be positive")
    add("correlations", [*BASE["correlations"], "--bins", "1000000000"],
        f"--bins 1000000000 is more than the {N_TRAIN} examples p.h5 ranks")
    add("examples", [*BASE["examples"], "--checkpoint", "shapes.pt"], "shapes.pt carries advq's format tag but is malformed")
    add("consistency", [*BASE["consistency"], "--measure", "bogus"], "p.h5 has no measure 'bogus'. Stored: ")
    add("consistency", replaced(BASE["consistency"], "q.h5", "otherdata.h5"), "only profiles of one dataset compare")
    add("examples", [*BASE["examples"], "--eps", "8/0"], "Malformed --eps '8/0'")
    add("examples", [*BASE["examples"], "--checkpoint", "otherdata.pt"], "otherdata.pt was trained on other 'digits'")
    add("examples", [*BASE["examples"], "--checkpoint", "missing.pt"], "Checkpoint not found: missing.pt")
    add("examples", [*BASE["examples"], "--classes", "eleven"], "Unknown class 'eleven'")
    return table


@pytest.fixture
def inside(world: Path, tmp_path: Path, monkeypatch) -> Path:
    """A fresh copy of the world as the working directory."""
    here = tmp_path / "w"
    shutil.copytree(world, here)
    monkeypatch.chdir(here)
    return here


@pytest.mark.parametrize(("args", "message"), cases())
def test_bad_input_is_one_line_exit_2_and_changes_no_file(inside: Path, args: list[str], message: str):
    before = snapshot(inside)
    result = CliRunner().invoke(app, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert snapshot(inside) == before


# -- a few through a real process: stderr only, and --debug shows the traceback --------------------


def advq(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ADVQ_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "advq_cli", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(("args", "message"), [
    ([*BASE["train"], "--eps", "8/0"], "Error: Malformed --eps '8/0'"),
    (replaced(BASE["curate"], "p.h5", "newer.h5"), "Error: newer.h5 was written by a newer advq"),
])
def test_bad_input_in_a_real_process(inside: Path, args: list[str], message: str):
    before = snapshot(inside)
    done = advq(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(message), done.stderr
    assert snapshot(inside) == before


def test_debug_shows_the_traceback(inside: Path):
    done = advq("--debug", *BASE["train"], "--eps", "8/0")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "AdvqError: Malformed --eps '8/0'" in done.stderr


# -- sizes bounded by the data, not refused -------------------------------------------------------


class Notes:
    """A reporter that keeps the notes it is given."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def start(self, key: str, description: str, total: int) -> None: ...

    def advance(self, key: str, n: int = 1, **fields) -> None: ...

    def finish(self, key: str) -> None: ...

    def info(self, message: str) -> None:
        self.notes.append(message)


def test_examples_per_class_is_lowered_to_what_the_smallest_class_gives_and_says_so(world: Path):
    from advq_cli.lookups import get_dataset
    from advq_cli.explaining import ExamplesConfig
    from advq_cli.explaining.examples import fitted_per_class
    from advq_cli.explaining.profiles import read_profile

    profile = read_profile(world / "p.h5")
    labels = get_dataset("digits").train_labels.numpy()
    smallest = min(int(np.count_nonzero(labels == c)) for c in (3, 5))
    notes = Notes()
    config = fitted_per_class(ExamplesConfig(profile=world / "p.h5", per_class=200), profile, labels, [3, 5], notes)
    assert config.per_class == smallest // 2
    assert notes.notes == [f"--per-class 200 is more than the smallest chosen class can give to each side "
                           f"({smallest} ranked examples): showing {smallest // 2} per class."]
    kept = ExamplesConfig(profile=world / "p.h5", per_class=4)
    assert fitted_per_class(kept, profile, labels, [3, 5], notes) is kept and len(notes.notes) == 1

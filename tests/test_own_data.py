"""Your own data: imagefolder:PATH, npz:FILE and hf:PATH through the whole loop, on tiny sets the tests write.

Each set has 3 classes of 8×8 images whose brightness depends on the class (learnable in
one epoch of an MLP), 10 training and 3 test images per class.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from advq_cli.cli import app
from advq_cli.datasets import get_dataset

CLASSES = ("ant", "bee", "cow")
TRAIN_PER_CLASS, TEST_PER_CLASS, SIDE = 10, 3, 8
TINY = ["--model", "mlp", "--epochs", "1", "--milestones=", "--steps", "1", "--eps", "0.05", "--step-size", "0.05",
        "--batch-size", "8", "--device", "cpu"]

runner = CliRunner()


def class_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, H, W, 3): class k is mid-grey shifted by 80·(k-1), plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), count)
    base = 128 + 80 * (labels[:, None, None, None] - 1)
    noise = rng.integers(-30, 31, size=(len(labels), SIDE, SIDE, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8), labels.astype(np.int64)


def write_imagefolder(root: Path) -> Path:
    for split, count, seed in (("train", TRAIN_PER_CLASS, 0), ("test", TEST_PER_CLASS, 1)):
        images, labels = class_images(count, seed)
        for k, (pixels, label) in enumerate(zip(images, labels)):
            folder = root / split / CLASSES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / f"img{k:03d}.png")
    return root


def write_npz(path: Path) -> Path:
    (x_train, y_train), (x_test, y_test) = class_images(TRAIN_PER_CLASS, 0), class_images(TEST_PER_CLASS, 1)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test.transpose(0, 3, 1, 2), y_test=y_test,
             classes=np.array(CLASSES))
    return path


def write_hf(folder: Path) -> Path:
    """A DatasetDict saved with ``datasets`` itself: an ``img`` Image column and a ClassLabel ``label``."""
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=list(CLASSES))})
    splits = {}
    for split, count, seed in (("train", TRAIN_PER_CLASS, 0), ("test", TEST_PER_CLASS, 1)):
        images, labels = class_images(count, seed)
        rows = {"img": [Image.fromarray(p) for p in images], "label": labels.tolist()}
        splits[split] = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict(splits).save_to_disk(str(folder))
    return folder


WRITERS = {"imagefolder": (write_imagefolder, "folder"), "npz": (write_npz, "data.npz"), "hf": (write_hf, "hf-data")}


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("scheme", sorted(WRITERS))
def test_the_whole_loop_runs_on_your_own_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str):
    """profile → curate (+ export) → train on the set → evaluate → explain, from a relative name in tmp_path."""
    monkeypatch.chdir(tmp_path)
    write, location = WRITERS[scheme]
    write(tmp_path / location)
    dataset = f"{scheme}:{location}"
    invoke("profile", "--dataset", dataset, *TINY, "--repeats", "1", "--out", "profile.h5")
    with h5py.File("profile.h5", "r") as handle:
        stored_name = handle.attrs["dataset"]
        assert handle.attrs["n_train"] == len(CLASSES) * TRAIN_PER_CLASS
    assert stored_name == f"{scheme}:{tmp_path / location}"  # absolute: later commands find it from anywhere
    bundle = get_dataset(stored_name)
    assert bundle.classes == CLASSES and bundle.train_images.shape == (30, 3, SIDE, SIDE)
    x_train, y_train = class_images(TRAIN_PER_CLASS, 0)
    assert np.array_equal(bundle.train_images.numpy(), x_train.transpose(0, 3, 1, 2))  # canonical order, lossless
    assert np.array_equal(bundle.train_labels.numpy(), y_train)
    assert np.allclose(bundle.mean, x_train.reshape(-1, 3).mean(axis=0) / 255, atol=1e-5)

    invoke("curate", "profile.h5", "--remove-lowest", "0.2", "--name", "clean", "--export", "imagefolder,npy",
           "--export-dir", "exports")
    kept = np.load("exports/clean.npy")
    assert kept.size == 24
    exported = sorted((tmp_path / "exports" / "clean").rglob("*.png"))
    assert len(exported) == 24

    invoke("train", "--dataset", dataset, *TINY, "--subset", "profile.h5:clean", "--out", "run")
    monkeypatch.chdir(tmp_path / "exports")  # the stored absolute name is enough from any folder
    invoke("evaluate", str(tmp_path / "run" / "best.pt"), "--attacks", "pgd-10", "--device", "cpu")
    with h5py.File(tmp_path / "run" / "best-evaluation.h5", "r") as handle:
        assert handle["clean/correct"].shape == (len(CLASSES) * TEST_PER_CLASS,)
    invoke("explain", "examples", str(tmp_path / "profile.h5"), "--per-class", "2", "--steps", "1",
           "--device", "cpu", "--out-dir", str(tmp_path / "explained"))
    assert (tmp_path / "explained" / "summary.json").is_file()


def test_an_imagefolder_export_copies_the_original_files_byte_for_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    root = write_imagefolder(tmp_path / "folder")
    np.save("ranks.npy", np.linspace(0.99, 0, 30))  # the last three (class cow) are of the highest quality
    invoke("curate", "--from-npy", "ranks.npy", "--dataset", "imagefolder:folder", "--keep", "3", "--name", "best",
           "--out", "sets.h5", "--export", "imagefolder", "--export-dir", "exports")
    copies = sorted((tmp_path / "exports" / "best").rglob("*"))
    copies = [p for p in copies if p.is_file()]
    originals = [sorted((root / "train" / c).iterdir()) for c in CLASSES]
    assert [p.name for p in copies] == ["27-img027.png", "28-img028.png", "29-img029.png"]
    assert all(p.parent.name == "2-cow" for p in copies)
    for copy in copies:
        original = originals[2][int(copy.name.split("-")[0]) - 20]
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(original.read_bytes()).digest()
    manifest = json.loads((tmp_path / "exports" / "best.manifest.json").read_text())
    assert manifest["dataset"] == f"imagefolder:{root}"

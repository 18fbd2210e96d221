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
import yaml
from PIL import Image
from typer.testing import CliRunner

from advq_cli.cli import app
from advq_cli.lookups import forget_loaded_datasets, get_dataset

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
        stored_config = yaml.safe_load(handle.attrs["config"])
        assert handle.attrs["n_train"] == len(CLASSES) * TRAIN_PER_CLASS
    assert stored_name == f"{scheme}:{tmp_path / location}"  # absolute: later commands find it from anywhere
    assert stored_config["dataset"] == stored_name  # and so do the explain commands that retrain from the config
    bundle = get_dataset(stored_name)
    assert bundle.classes == CLASSES and bundle.train_images.shape == (30, 3, SIDE, SIDE)
    x_train, y_train = class_images(TRAIN_PER_CLASS, 0)
    assert np.array_equal(bundle.train_images.numpy(), x_train.transpose(0, 3, 1, 2))  # canonical order, lossless
    assert np.array_equal(bundle.train_labels.numpy(), y_train)
    assert np.allclose(bundle.mean, x_train.reshape(-1, 3).mean(axis=0) / 255, atol=1e-5)  # from the training images
    assert np.allclose(bundle.std, x_train.reshape(-1, 3).std(axis=0) / 255, atol=1e-5)

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


# ---- the pieces: names, options, refusals, fingerprints, memory -------------------------------


def load_fresh(name: str, data_dir: Path | None = None):
    """Load without the per-process cache, as a new command would."""
    forget_loaded_datasets()
    return get_dataset(name, data_dir)


def refused(name: str) -> str:
    from advq_cli.errors import AdvqError

    with pytest.raises(AdvqError) as caught:
        load_fresh(name)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_scheme_names_parse_keep_the_location_verbatim_and_fold_options():
    from advq_cli.datasets import configured_dataset_name, parse_dataset_name

    spec = parse_dataset_name("NPZ:Data/My_Set.npz?Image_Size=32&channels=1")
    assert (spec.scheme, spec.location, spec.options) == ("npz", "Data/My_Set.npz", {"image-size": "32", "channels": "1"})
    assert spec.registered_name == "npz:" and spec.text == "npz:Data/My_Set.npz?channels=1&image-size=32"
    assert parse_dataset_name("CIFAR_10").text == "cifar-10"
    assert configured_dataset_name("imagefolder:x", image_size="16", channels=None) == "imagefolder:x?image-size=16"
    assert configured_dataset_name("cifar10", image_size=None) == "cifar10"


def test_one_dataset_under_a_relative_and_an_absolute_name_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from advq_cli.datasets.spec import same_dataset

    monkeypatch.chdir(tmp_path)
    assert same_dataset("imagefolder:folder?channels=1", f"imagefolder:{tmp_path}/folder?channels=1")
    assert same_dataset("npz:d.npz", "npz:/data/d.npz", data_dir="/data") and same_dataset("CIFAR_10", "cifar-10")
    assert not same_dataset("imagefolder:folder", f"imagefolder:{tmp_path}/folder?channels=1")
    assert not same_dataset("imagefolder:a", "imagefolder:b") and not same_dataset("npz:a", "imagefolder:a")


@pytest.mark.parametrize("name, words", [
    ("cifar10?channels=1", ["Unknown dataset"]),
    ("nope:x", ["Unknown dataset 'nope:'", "npz:"]),
    ("npz:", ["SCHEME:LOCATION"]),
    ("npz:x.npz?channels", ["not key=value"]),
])
def test_malformed_names_are_refused_in_one_line(name: str, words: list[str]):
    message = refused(name)
    assert all(w in message for w in words), message


def test_options_on_a_builtin_dataset_are_refused():
    from advq_cli.errors import AdvqError
    from advq_cli.training import TrainConfig

    with pytest.raises(AdvqError, match="takes no options"):
        TrainConfig(dataset="digits", channels=3)
    assert TrainConfig(dataset="npz:a.npz", image_size="24,32", channels=1).dataset == "npz:a.npz?channels=1&image-size=24,32"


def test_imagefolder_canonical_order_is_sorted_class_then_sorted_path(tmp_path: Path):
    root = tmp_path / "f"
    for split in ("train", "val"):  # val/ stands in for test/
        for cls, names in (("b", ["z.png", "a/y.png", "10.png", "9.png"]), ("a", ["x.png"])):
            for n in names:
                (root / split / cls / n).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((4, 4), len(n), np.uint8)).save(root / split / cls / n)
    (root / "train" / "b" / "notes.txt").write_text("not an image")
    (root / "train" / "b" / ".hidden.png").write_bytes(b"")
    bundle = load_fresh(f"imagefolder:{root}")
    assert bundle.classes == ("a", "b") and bundle.train_labels.tolist() == [0, 1, 1, 1, 1]
    assert [p.relative_to(root / "train").as_posix() for p in bundle.train_files] == [
        "a/x.png", "b/10.png", "b/9.png", "b/a/y.png", "b/z.png"]
    assert bundle.in_channels == 1 and bundle.test_images.shape == (5, 1, 4, 4)


def test_mixed_sizes_and_modes_are_refused_naming_a_file_unless_resized_and_converted(tmp_path: Path):
    root = write_imagefolder(tmp_path / "f")
    odd = root / "train" / "bee" / "odd.png"
    Image.fromarray(np.zeros((6, 5), np.uint8)).save(odd)
    message = refused(f"imagefolder:{root}")
    assert str(odd) in message and "5×6 greyscale" in message and "--image-size" in message
    bundle = load_fresh(f"imagefolder:{root}?image-size=4&channels=1")
    assert bundle.train_images.shape == (31, 1, 4, 4)
    by_hand = Image.open(odd).resize((4, 4), Image.Resampling.BILINEAR)  # the documented filter
    assert np.array_equal(bundle.train_images[list(bundle.train_files).index(odd), 0].numpy(), np.asarray(by_hand))
    Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(odd)  # RGBA: a mode to convert
    assert "mode RGBA" in refused(f"imagefolder:{root}?image-size=8")
    assert load_fresh(f"imagefolder:{root}?channels=3").train_images.shape == (31, 3, 8, 8)


def test_non_square_images_load_but_models_ask_for_a_square_size(tmp_path: Path):
    from advq_cli.errors import AdvqError

    bundle = load_fresh(f"npz:{write_npz(tmp_path / 'd.npz')}?image-size=6,4")
    assert bundle.train_images.shape[-2:] == (6, 4)
    with pytest.raises(AdvqError, match="square images: resize them with --image-size N"):
        bundle.image_size


def test_a_channel_that_never_varies_is_normalised_by_one():
    import torch

    from advq_cli.datasets.own import channel_stats

    images = torch.stack([torch.full((4, 4), 51, dtype=torch.uint8), torch.tensor([[0, 255] * 2] * 4, dtype=torch.uint8)])
    mean, std = channel_stats(images[None].expand(3, -1, -1, -1).contiguous())
    assert mean == (0.2, 0.5) and std == (1.0, 0.5)


def test_the_fingerprint_follows_the_content_not_the_place(tmp_path: Path):
    first = load_fresh(f"imagefolder:{write_imagefolder(tmp_path / 'a')}")
    moved = load_fresh(f"imagefolder:{write_imagefolder(tmp_path / 'b')}")
    assert moved.name != first.name and moved.fingerprint == first.fingerprint
    as_npz = load_fresh(f"npz:{write_npz(tmp_path / 'd.npz')}")
    assert as_npz.fingerprint == first.fingerprint  # the same images and classes, in another format
    test_file = sorted((tmp_path / "b" / "test" / "ant").iterdir())[0]
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(test_file)  # one changed test image
    assert load_fresh(f"imagefolder:{tmp_path / 'b'}").fingerprint != first.fingerprint
    assert load_fresh(f"imagefolder:{tmp_path / 'a'}?channels=1").fingerprint != first.fingerprint


def test_a_changed_folder_is_refused_by_a_profile_made_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    root = write_imagefolder(tmp_path / "folder")
    invoke("profile", "--dataset", "imagefolder:folder", *TINY, "--repeats", "1", "--out", "profile.h5")
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(sorted((root / "train" / "ant").iterdir())[0])
    forget_loaded_datasets()
    result = runner.invoke(app, ["curate", "profile.h5", "--keep", "5", "--name", "best"])
    assert result.exit_code == 2 and "fingerprint" in result.output.lower(), result.output


@pytest.mark.parametrize("arrays, words", [
    ({"x_train": np.zeros((2, 4, 4), np.float32)}, ["missing y_train, x_test, y_test"]),
    ({"x_train": np.zeros((2, 4, 4), np.float32), "y_train": np.zeros(2, int),
      "x_test": np.zeros((1, 4, 4), np.uint8), "y_test": np.zeros(1, int)}, ["x_train", "must be uint8", "float32"]),
    ({"x_train": np.zeros((2, 3, 4, 3), np.uint8), "y_train": np.zeros(2, int),
      "x_test": np.zeros((1, 4, 4), np.uint8), "y_test": np.zeros(1, int)}, ["exactly one side"]),
    ({"x_train": np.zeros((2, 4, 4), np.uint8), "y_train": np.zeros(3, int),
      "x_test": np.zeros((1, 4, 4), np.uint8), "y_test": np.zeros(1, int)}, ["y_train", "2 integers"]),
    ({"x_train": np.zeros((2, 4, 4), np.uint8), "y_train": np.array([0, 2]), "classes": np.array(["a", "b"]),
      "x_test": np.zeros((1, 4, 4), np.uint8), "y_test": np.zeros(1, int)}, ["labels must be integers in 0..1"]),
])
def test_a_malformed_npz_is_refused_in_one_line(tmp_path: Path, arrays: dict, words: list[str]):
    np.savez(tmp_path / "bad.npz", **arrays)
    message = refused(f"npz:{tmp_path / 'bad.npz'}")
    assert all(w in message for w in words), message


def test_a_missing_location_names_the_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert str(tmp_path / "nowhere.npz") in refused("npz:nowhere.npz")


def test_hf_columns_and_splits_are_chosen_by_options(tmp_path: Path):
    datasets = pytest.importorskip("datasets")
    images, labels = class_images(2, 0)
    rows = {"picture": [Image.fromarray(p) for p in images], "kind": labels.tolist()}
    split = datasets.Dataset.from_dict(rows, features=datasets.Features({"picture": datasets.Image(), "kind": datasets.Value("int64")}))
    datasets.DatasetDict({"fit": split, "holdout": split}).save_to_disk(str(tmp_path / "hf"))
    message = refused(f"hf:{tmp_path / 'hf'}")
    assert "no train split train" in message and "fit, holdout" in message
    bundle = load_fresh(f"hf:{tmp_path / 'hf'}?train=fit&test=holdout&image=picture&label=kind")
    assert bundle.classes == ("0", "1", "2") and bundle.train_labels.tolist() == labels.tolist()
    assert np.array_equal(bundle.train_images.numpy(), images.transpose(0, 3, 1, 2))
    assert load_fresh(bundle.name).fingerprint == bundle.fingerprint  # the stored name loads the same data


def test_data_that_does_not_fit_the_device_is_refused_in_gib_with_what_to_do():
    import torch

    from advq_cli.devices import check_fits
    from advq_cli.errors import AdvqError

    check_fits(2**30, 2**31, torch.device("cuda:0"), "The images")
    with pytest.raises(AdvqError) as caught:
        check_fits(3 * 2**30, 2**30 + 2**29, torch.device("cuda:0"), "The images of 'npz:/d.npz'")
    assert str(caught.value) == (
        "The images of 'npz:/d.npz' need 3.00 GiB on cuda:0, which has 1.50 GiB free; "
        "use a smaller --image-size, train on a --subset, or run on --device cpu.")


def test_the_noisy_fashion_mnist_example_flips_a_seeded_fraction(tmp_path: Path):
    """examples/noisy_fashion_mnist.py on the real Fashion-MNIST: an npz advq loads, flips as documented."""
    import importlib.util

    from advq_cli.datasets.fashion_mnist import DEBIAN_DIR

    if not DEBIAN_DIR.is_dir():
        pytest.skip(f"Fashion-MNIST not installed in {DEBIAN_DIR}")
    path = Path(__file__).resolve().parents[1] / "examples" / "noisy_fashion_mnist.py"
    spec = importlib.util.spec_from_file_location("noisy_fashion_mnist", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)  # type: ignore[union-attr]
    for kind in example.KINDS:
        out = tmp_path / f"{kind}.npz"
        assert example.main(["--kind", kind, "--fraction", "0.2", "--seed", "3", "--out", str(out)]) == 0
        with np.load(out) as content:
            clean, noisy, flipped = content["y_train_clean"], content["y_train"], content["flipped"]
        assert np.array_equal(flipped, noisy != clean)
        if kind == "symmetric":
            assert flipped.sum() == 12000
            assert len(np.unique(noisy[flipped & (clean == 0)])) == 9  # any other class, never the true one
        else:
            assert flipped.sum() == round(0.2 * np.isin(clean, list(example.ASYMMETRIC)).sum())
            assert all(example.ASYMMETRIC[c] == n for c, n in zip(clean[flipped], noisy[flipped]))
        bundle = load_fresh(f"npz:{out}")
        assert bundle.train_images.shape == (60000, 1, 28, 28) and np.array_equal(bundle.train_labels.numpy(), noisy)
    again = example.flip_labels(clean, "asymmetric", 0.2, 3, 10)
    assert np.array_equal(again, noisy)  # seeded


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_a_set_larger_than_the_gpu_is_refused_before_copying():
    """An expanded view claims 1 TiB without allocating it: the real free memory is checked first."""
    import torch

    from advq_cli.devices import to_device
    from advq_cli.errors import AdvqError

    huge = torch.zeros(1, dtype=torch.uint8).expand(2**40)
    with pytest.raises(AdvqError, match=r"need 1024\.00 GiB on cuda:0, which has [0-9.]+ GiB free; use a smaller"):
        to_device([huge], torch.device("cuda:0"), "The images")
    small = to_device([torch.arange(6, dtype=torch.uint8)], torch.device("cuda:0"), "The images")[0]
    assert small.is_cuda and small.dtype == torch.uint8

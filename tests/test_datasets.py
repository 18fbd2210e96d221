"""The dataset loaders, on small files written in the real on-disk formats."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from advq_cli.datasets import DatasetBundle, cifar
from advq_cli.datasets.cifar import RestrictedUnpickler, load_cifar10, load_cifar100
from advq_cli.datasets.digits import load_digits
from advq_cli.datasets.fashion_mnist import DEBIAN_DIR, load_fashion_mnist
from advq_cli.datasets.locate import ENV_VAR, Layout, locate_or_fetch
from advq_cli.datasets.tiny_imagenet import load_tiny_imagenet
from advq_cli.errors import AdvqError, DatasetNotFoundError
from advq_cli.plugins import registry

from dataset_files import tiny_colour, write_cifar10, write_cifar100, write_fashion_mnist, write_idx, write_tiny_imagenet


@pytest.fixture(autouse=True)
def no_user_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real ./data or $ADVQ_DATA_DIR."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)


def test_builtin_datasets_are_registered() -> None:
    names = registry("datasets").names()
    assert {"digits", "fashion-mnist", "cifar10", "cifar100", "tiny-imagenet"} <= set(names)


# Fashion-MNIST


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_reads_idx_files(tmp_path: Path, gz: bool) -> None:
    written = write_fashion_mnist(tmp_path / "fm", gz=gz)
    bundle = load_fashion_mnist(tmp_path / "fm")
    for images, labels, (want_images, want_labels) in (
        (bundle.train_images, bundle.train_labels, written["train"]),
        (bundle.test_images, bundle.test_labels, written["t10k"]),
    ):
        assert images.dtype == torch.uint8 and images.shape == (len(want_images), 1, 28, 28)
        assert labels.dtype == torch.int64
        assert np.array_equal(images[:, 0].numpy(), want_images)
        assert np.array_equal(labels.numpy(), want_labels)
    assert bundle.classes[0] == "T-shirt/top" and bundle.num_classes == 10
    assert (bundle.mean, bundle.std, bundle.augment) == ((0.2860,), (0.3530,), False)


def test_fashion_mnist_found_in_torchvision_layout_under_env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_fashion_mnist(tmp_path / "env" / "FashionMNIST" / "raw")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    bundle = load_fashion_mnist()
    assert np.array_equal(bundle.train_images[:, 0].numpy(), written["train"][0])


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: b"\x00\x00\x08\x02" + raw[4:], "bad magic number"),
        (lambda raw: raw[:-5], "truncated or corrupt"),
    ],
)
def test_fashion_mnist_corrupt_idx_is_one_line(tmp_path: Path, damage, message: str) -> None:
    write_fashion_mnist(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(AdvqError, match=message) as info:
        load_fashion_mnist(tmp_path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_fashion_mnist_bad_gzip_is_one_line(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(AdvqError, match="cannot be read"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_image_label_count_mismatch(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(AdvqError, match="6 images but 5 labels"):
        load_fashion_mnist(tmp_path)


@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason=f"{DEBIAN_DIR} is not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_debian_package() -> None:
    bundle = load_fashion_mnist()  # no data_dir, no env, empty ./data: the Debian dir is found
    assert bundle.train_images.shape == (60_000, 1, 28, 28) and bundle.test_images.shape == (10_000, 1, 28, 28)
    assert torch.bincount(bundle.train_labels).tolist() == [6_000] * 10
    assert torch.bincount(bundle.test_labels).tolist() == [1_000] * 10
    assert int(bundle.train_images.max()) == 255


# CIFAR


def test_cifar10_concatenates_batches_in_torchvision_order(tmp_path: Path) -> None:
    files = write_cifar10(tmp_path, per_batch=3)
    bundle = load_cifar10(tmp_path)
    batches = [files[f"data_batch_{i}"] for i in range(1, 6)]
    want = np.concatenate([b[b"data"] for b in batches]).reshape(-1, 3, 32, 32)
    assert bundle.train_images.dtype == torch.uint8 and bundle.train_images.shape == (15, 3, 32, 32)
    assert np.array_equal(bundle.train_images.numpy(), want)
    assert bundle.train_labels.tolist() == sum((b[b"labels"] for b in batches), [])
    assert bundle.test_labels.tolist() == files["test_batch"][b"labels"]
    assert np.array_equal(bundle.test_images.numpy(), files["test_batch"][b"data"].reshape(-1, 3, 32, 32))
    assert bundle.classes[:2] == ("airplane", "automobile") and bundle.num_classes == 10
    assert bundle.mean == (0.4914, 0.4822, 0.4465) and bundle.std == (0.2471, 0.2435, 0.2616)
    assert bundle.augment


def test_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    files = write_cifar100(tmp_path)
    bundle = load_cifar100(tmp_path)
    assert np.array_equal(bundle.train_images.numpy(), files["train"][b"data"].reshape(-1, 3, 32, 32))
    assert bundle.train_labels.dtype == torch.int64
    assert bundle.train_labels.tolist() == files["train"][b"fine_labels"]
    assert bundle.test_labels.tolist() == files["test"][b"fine_labels"]
    assert bundle.num_classes == 100 and bundle.classes[7] == "fine_7"
    assert bundle.mean == (0.5071, 0.4865, 0.4409) and bundle.std == (0.2673, 0.2564, 0.2762) and bundle.augment


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch.write_bytes(pickle.dumps({b"data": _Exploit(marker), b"labels": []}))
    with pytest.raises(AdvqError, match="refusing to unpickle") as info:
        load_cifar10(tmp_path)
    assert not marker.exists()
    assert str(batch) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_unpickler_accepts_both_numpy_spellings(module: str) -> None:
    assert callable(RestrictedUnpickler(io.BytesIO()).find_class(module, "_reconstruct"))


def test_unpickler_reads_protocol_5_arrays() -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    loaded = RestrictedUnpickler(io.BytesIO(pickle.dumps({b"data": array}, protocol=5)), encoding="bytes").load()
    assert np.array_equal(loaded[b"data"], array)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"garbage, not a pickle", "not a readable pickle"),
        (pickle.dumps({b"labels": [1]}), "missing b'data'"),
        (pickle.dumps({b"data": np.zeros((3, 10), np.uint8), b"labels": [0, 1, 2]}), r"must be uint8 \(3, 3072\)"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}), "labels outside 0..9"),
    ],
)
def test_cifar_bad_batch_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(content)
    with pytest.raises(AdvqError, match=message):
        load_cifar10(tmp_path)


def test_download_fetches_into_data_dir_only_when_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[Path] = []

    def fake_fetch(spec: cifar.CifarSpec, root: Path) -> None:
        fetched.append(root)
        write_cifar10(root)

    monkeypatch.setattr(cifar, "_fetch", fake_fetch)
    assert load_cifar10(tmp_path, download=True).n_train == 15
    assert load_cifar10(tmp_path, download=True).n_train == 15
    assert fetched == [tmp_path]


def test_failed_download_is_one_line(tmp_path: Path) -> None:
    layout = Layout("thing", ("",), lambda folder: False, "")

    def offline(root: Path) -> None:
        raise OSError("no network\nat all")

    with pytest.raises(AdvqError, match=f"Downloading dataset 'thing' into {tmp_path} failed: no network at all"):
        locate_or_fetch(layout, tmp_path, True, offline)


# Tiny-ImageNet

WNIDS = ["n02", "n01", "n03"]  # deliberately unsorted in wnids.txt
TRAIN_NAMES = ["2", "10", "0"]  # sorted by name: 0, 10, 2
VAL = {"val_1.JPEG": "n03", "val_0.JPEG": "n02", "val_10.JPEG": "n01", "val_2.JPEG": "n02"}
WORDS = {"n01": "goldfish, Carassius auratus", "n02": "tabby, tabby cat", "n99": "unused"}


@pytest.fixture
def tiny_root(tmp_path: Path) -> Path:
    write_tiny_imagenet(tmp_path / "data", WNIDS, TRAIN_NAMES, VAL, WORDS, grey="val_2.JPEG")
    return tmp_path / "data"


def _colours(images: torch.Tensor) -> np.ndarray:
    return images.float().mean(dim=(2, 3)).numpy()


@pytest.mark.parametrize("subdir", ["", "tiny-imagenet-200"])
def test_tiny_imagenet_order_labels_and_names(tiny_root: Path, subdir: str) -> None:
    bundle = load_tiny_imagenet(tiny_root / subdir)
    assert bundle.classes == ("goldfish", "tabby", "n03")  # sorted wnids; no words entry → wnid
    assert bundle.train_images.dtype == torch.uint8 and bundle.train_images.shape == (9, 3, 64, 64)
    assert bundle.train_labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    want = [tiny_colour(f"{w}_{n}.JPEG") for w in sorted(WNIDS) for n in ("0", "10", "2")]
    assert np.abs(_colours(bundle.train_images) - np.array(want)).max() < 3
    val_order = ["val_0.JPEG", "val_1.JPEG", "val_10.JPEG", "val_2.JPEG"]
    assert bundle.test_images.shape == (4, 3, 64, 64)
    assert bundle.test_labels.tolist() == [1, 2, 0, 1]
    want_val = [tiny_colour(name, grey=name == "val_2.JPEG") for name in val_order]
    assert np.abs(_colours(bundle.test_images) - np.array(want_val)).max() < 3
    assert bundle.mean == (0.4802, 0.4481, 0.3975) and bundle.std == (0.2770, 0.2691, 0.2821) and bundle.augment


def test_tiny_imagenet_unannotated_val_image_is_one_line(tiny_root: Path) -> None:
    (tiny_root / "tiny-imagenet-200" / "val" / "images" / "val_99.JPEG").write_bytes(b"")
    with pytest.raises(AdvqError, match="no known class for val_99.JPEG"):
        load_tiny_imagenet(tiny_root)


def test_tiny_imagenet_unreadable_image_is_one_line(tiny_root: Path) -> None:
    broken = tiny_root / "tiny-imagenet-200" / "train" / "n01" / "images" / "n01_0.JPEG"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(AdvqError, match="not a readable image") as info:
        load_tiny_imagenet(tiny_root)
    assert str(broken) in str(info.value) and "\n" not in str(info.value)


# Missing data, search order


@pytest.mark.parametrize(
    "loader, looked_for, how",
    [
        (load_fashion_mnist, "FashionMNIST/raw", "apt-get install dataset-fashion-mnist"),
        (load_cifar10, "cifar-10-batches-py", "--download"),
        (load_cifar100, "cifar-100-python", "--download"),
        (load_tiny_imagenet, "tiny-imagenet-200", "tiny-imagenet-200.zip and unzip it into"),
    ],
)
def test_missing_dataset_names_where_it_looked(tmp_path: Path, loader, looked_for: str, how: str) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        loader(tmp_path / "empty")
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "empty" / looked_for) in message and how in message
    assert str(DEBIAN_DIR) not in message  # an explicit data_dir is the only place looked in


def test_without_data_dir_looks_in_env_then_dot_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10()
    message = str(info.value)
    env_at = message.index(str(tmp_path / "env" / "cifar-10-batches-py"))
    assert env_at < message.index(str(Path.cwd() / "data" / "cifar-10-batches-py"))
    assert f"fetch it into {tmp_path / 'env'}" in message
    write_cifar10(Path.cwd() / "data")
    assert load_cifar10().n_train == 15


# Fingerprints and the Python API


def test_fingerprints_are_stable_and_differ_between_datasets(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    write_cifar100(tmp_path)
    write_fashion_mnist(tmp_path)
    first = load_cifar10(tmp_path).fingerprint
    assert first == load_cifar10(tmp_path).fingerprint
    others = {load_cifar100(tmp_path).fingerprint, load_fashion_mnist(tmp_path).fingerprint}
    assert first not in others and len(others) == 2


def test_load_dataset_from_the_package(tmp_path: Path) -> None:
    from advq_cli import load_dataset

    files = write_cifar10(tmp_path)
    images, labels = load_dataset("cifar10", train=False, data_dir=tmp_path)
    assert images.shape == (3, 3, 32, 32) and labels.tolist() == files["test_batch"][b"labels"]
    images, labels = load_dataset("CIFAR10", train=True, data_dir=tmp_path)
    assert images.shape == (15, 3, 32, 32) and labels.dtype == torch.int64


def test_digits() -> None:
    bundle = load_digits()
    assert bundle.train_images.shape == (1_437, 1, 8, 8) and bundle.test_images.shape == (360, 1, 8, 8)
    assert bundle.train_images.dtype == torch.uint8 and bundle.num_classes == 10
    assert int(bundle.train_images.max()) == 255 and not bundle.augment
    assert set(bundle.train_labels.tolist()) == set(range(10))


def test_classes_are_picked_by_one_rule_names_first_then_labels():
    """curate --classes, explain's --classes and its pairs all read classes through the bundle."""
    images = torch.zeros(3, 1, 2, 2, dtype=torch.uint8)
    bundle = DatasetBundle(name="toy", train_images=images, train_labels=torch.arange(3), test_images=images,
                           test_labels=torch.arange(3), classes=("cat", "Dog", "0"), mean=(0.5,), std=(0.5,))
    assert bundle.class_labels(["Dog", "cat"]) == [1, 0]          # the order given
    assert bundle.class_labels(["dog", "CAT", "1"]) == [1, 0]     # any case; a label; each class once
    assert bundle.class_labels(["0"]) == [2]                      # a class named like a label is the class
    with pytest.raises(AdvqError, match=r"Unknown class 'bird' of dataset 'toy'\. Classes: cat, Dog, 0 \(or labels 0..2\)"):
        bundle.class_labels(["cat", "bird"])
    with pytest.raises(AdvqError, match="Unknown class '3'"):
        bundle.class_labels(["3"])

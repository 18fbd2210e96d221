"""`advq curate` as a library: sets stored with provenance, measures and their directions,
and exports that plain torchvision / PyTorch code loads (the embedded digits, real data)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml
from torchvision.datasets import ImageFolder

from advq_cli import get_dataset, hookimpl
from advq_cli.curation import CurateConfig, curate, list_subsets
from advq_cli.datasets import DatasetBundle
from advq_cli.errors import AdvqError, FingerprintMismatchError
from advq_cli.h5store import stamp
from advq_cli.plugins import register_plugin, unregister_plugin
from advq_cli.curation.training_subset import load_subset
from advq_cli.training import TrainConfig, TrainingRun, train

N_UNPROFILED = 37  # the first examples carry NaN: outside the profiled subset


@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return get_dataset("digits")


def digits_measures(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A profile's /quality as `advq profile` stores it: integer instability (many ties), its
    normalised rank, and a true-class probability that falls as instability rises."""
    rng = np.random.default_rng(seed)
    instability = rng.integers(0, 12, n).astype(np.float64)
    profiled = np.arange(n) >= N_UNPROFILED
    rank = np.full(n, np.nan)
    order = np.flatnonzero(profiled)[np.lexsort((np.flatnonzero(profiled), instability[profiled]))]
    rank[order] = np.arange(order.size) / order.size
    instability[~profiled] = np.nan
    true_prob = np.clip(1 - instability / 12 + rng.normal(0, 0.05, n), 0, 1)
    return {"problem_rank": rank, "instability": instability, "true_prob": true_prob,
            "custom_score": rng.random(n)}


def write_profile(path: Path, bundle: DatasetBundle, measures: dict[str, np.ndarray] | None = None,
                  fingerprint: str | None = None) -> Path:
    """A profile in DESIGN.md's storage layout (root attributes and /quality)."""
    measures = digits_measures(bundle.n_train) if measures is None else measures
    with h5py.File(path, "w") as handle:
        stamp(handle, "advq-profile", bundle.name, fingerprint or bundle.fingerprint, n_train=bundle.n_train)
        quality = handle.create_group("quality")
        for name, values in measures.items():
            quality.create_dataset(name, data=values)
    return path


def stored(path: Path, name: str) -> tuple[np.ndarray, dict]:
    with h5py.File(path, "r") as handle:
        group = handle[f"subsets/{name}"]
        return group["indices"][()], dict(group.attrs)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sets_are_stored_in_the_profile_with_their_provenance(tmp_path, digits):
    profile = write_profile(tmp_path / "profile.h5", digits)
    result = curate(CurateConfig(profile=profile, remove_lowest=0.2, balanced=True, baseline="random", name="clean80"))
    assert result.target == profile and [s.name for s in result.sets] == ["clean80", "clean80-random"]

    kept, attrs = stored(profile, "clean80")
    assert kept.dtype == np.int64 and np.all(np.diff(kept) > 0)
    assert attrs["rule"] == "remove-lowest" and attrs["seed"] == 0
    assert json.loads(attrs["params"]) == {"fraction": 0.2, "balanced": True, "rank": "problem_rank",
                                           "higher_is_worse": True, "classes": None,
                                           "pool_size": digits.n_train - N_UNPROFILED}
    assert attrs["source"] == f"{profile.resolve()}:/quality/problem_rank"
    assert attrs["dataset_fingerprint"] == digits.fingerprint
    resolved = yaml.safe_load(attrs["config"])  # the fully resolved configuration, as every output keeps it
    assert resolved["remove_lowest"] == 0.2 and resolved["profile"] == str(profile) and resolved["rank"] == "problem_rank"
    # unranked examples are never chosen; in each class the kept rank no worse than the removed
    rank = digits_measures(digits.n_train)["problem_rank"]
    labels = digits.train_labels.numpy()
    assert kept.min() >= N_UNPROFILED
    removed = np.setdiff1d(np.flatnonzero(~np.isnan(rank)), kept)
    for c in range(10):
        assert rank[kept[labels[kept] == c]].max() < rank[removed[labels[removed] == c]].min()
        n_c = np.sum(labels[N_UNPROFILED:] == c)
        assert np.sum(labels[kept] == c) == n_c - int(np.floor(0.2 * n_c + 0.5))
    assert attrs["mean_rank"] == pytest.approx(rank[kept].mean())

    baseline, base_attrs = stored(profile, "clean80-random")
    assert base_attrs["rule"] == "random" and json.loads(base_attrs["params"])["baseline_of"] == "clean80"
    assert np.array_equal(np.bincount(labels[baseline], minlength=10), np.bincount(labels[kept], minlength=10))
    assert not np.array_equal(baseline, kept) and baseline.min() >= N_UNPROFILED
    # `advq train --subset FILE.h5:NAME` reads both, and the profile's own data is untouched
    assert np.array_equal(load_subset(f"{profile}:clean80", digits), kept)
    assert np.array_equal(load_subset(f"{profile}:clean80-random", digits), baseline)
    with h5py.File(profile, "r") as handle:
        assert np.array_equal(handle["quality/problem_rank"][()], rank, equal_nan=True)
        assert handle.attrs["format"] == "advq-profile"


def test_the_same_call_gives_the_same_sets_and_another_seed_another_baseline(tmp_path, digits):
    profile = write_profile(tmp_path / "p.h5", digits)
    base = dict(profile=profile, keep=300, baseline="random", name="k")
    curate(CurateConfig(**base, out=tmp_path / "a.h5"))
    curate(CurateConfig(**base, out=tmp_path / "b.h5"))
    curate(CurateConfig(**base, out=tmp_path / "c.h5", seed=1))
    for name in ("k", "k-random"):
        assert np.array_equal(stored(tmp_path / "a.h5", name)[0], stored(tmp_path / "b.h5", name)[0])
    assert np.array_equal(stored(tmp_path / "a.h5", "k")[0], stored(tmp_path / "c.h5", "k")[0])
    assert not np.array_equal(stored(tmp_path / "a.h5", "k-random")[0], stored(tmp_path / "c.h5", "k-random")[0])


def test_a_separate_out_file_is_an_advq_subsets_file_and_the_profile_stays_byte_identical(tmp_path, digits):
    profile = write_profile(tmp_path / "p.h5", digits)
    before = digest(profile)
    curate(CurateConfig(profile=profile, quantiles=11, balanced=True, name="q", out=tmp_path / "sets.h5"))
    assert digest(profile) == before
    with h5py.File(tmp_path / "sets.h5", "r") as handle:
        assert handle.attrs["format"] == "advq-subsets"
        assert handle.attrs["dataset"] == "digits" and handle.attrs["dataset_fingerprint"] == digits.fingerprint
        assert handle.attrs["n_train"] == digits.n_train
        assert len(handle["subsets"]) == 11
    summaries = list_subsets(tmp_path / "sets.h5")
    assert [s.name for s in summaries] == [f"q-{k}" for k in range(1, 12)]
    means = [s.mean_rank for s in summaries]
    assert means == sorted(means, reverse=True), "q-1 is the lowest quality: the highest problem rank"
    assert sum(s.size for s in summaries) == digits.n_train - N_UNPROFILED
    assert all(s.rule == "quantiles" for s in summaries)
    # a set file accepts further sets for the same dataset
    curate(CurateConfig(profile=profile, keep=10, name="top10", out=tmp_path / "sets.h5"))
    assert [s.name for s in list_subsets(tmp_path / "sets.h5")][-1] == "top10"


@pytest.mark.parametrize(("measure", "best_is_high"), [("true_prob", True), ("instability", False)])
def test_another_measure_is_curated_in_its_known_direction(tmp_path, digits, measure, best_is_high):
    measures = digits_measures(digits.n_train)
    profile = write_profile(tmp_path / "p.h5", digits, measures)
    curate(CurateConfig(profile=profile, rank=measure, keep=200, name="best"))
    kept, attrs = stored(profile, "best")
    values = measures[measure]
    rest = np.setdiff1d(np.flatnonzero(~np.isnan(values)), kept)
    if best_is_high:
        assert values[kept].min() >= values[rest].max()
    else:
        assert values[kept].max() <= values[rest].min()
    assert json.loads(attrs["params"])["higher_is_worse"] is (not best_is_high)
    assert attrs["source"].endswith(f":/quality/{measure}")


def test_a_measure_of_unknown_direction_needs_the_override(tmp_path, digits):
    measures = digits_measures(digits.n_train)
    profile = write_profile(tmp_path / "p.h5", digits, measures)
    with pytest.raises(AdvqError, match="which way measure 'custom_score'.*--higher-is-worse or --higher-is-better"):
        curate(CurateConfig(profile=profile, rank="custom-score", keep=50, name="c"))
    curate(CurateConfig(profile=profile, rank="custom-score", higher_is_worse=False, keep=50, name="c"))
    kept, _ = stored(profile, "c")
    assert np.array_equal(kept, np.sort(np.argsort(measures["custom_score"])[-50:]))
    with pytest.raises(AdvqError, match="no measure 'nope'.*Stored: custom_score, instability, problem_rank, true_prob"):
        curate(CurateConfig(profile=profile, rank="nope", keep=50, name="d"))


def test_classes_by_name_or_label_restrict_the_pool(tmp_path, digits):
    profile = write_profile(tmp_path / "p.h5", digits)
    curate(CurateConfig(profile=profile, classes=["1", "7"], name="ones-sevens"))
    curate(CurateConfig(profile=profile, classes=["1", "7"], keep=40, balanced=True, name="top"))
    labels = digits.train_labels.numpy()
    everything, attrs = stored(profile, "ones-sevens")
    assert attrs["rule"] == "classes" and json.loads(attrs["params"])["classes"] == [1, 7]
    expected = np.flatnonzero(np.isin(labels, [1, 7]) & (np.arange(digits.n_train) >= N_UNPROFILED))
    assert np.array_equal(everything, expected)
    top, _ = stored(profile, "top")
    assert np.bincount(labels[top], minlength=10).tolist() == [0, 20, 0, 0, 0, 0, 0, 20, 0, 0]
    with pytest.raises(AdvqError, match="Unknown class 'cat' of dataset 'digits'"):
        curate(CurateConfig(profile=profile, classes=["cat"], name="x"))


def test_reusing_a_name_needs_overwrite(tmp_path, digits):
    profile = write_profile(tmp_path / "p.h5", digits)
    curate(CurateConfig(profile=profile, keep=100, name="s"))
    before = digest(profile)
    with pytest.raises(AdvqError, match="already holds s; add --overwrite"):
        curate(CurateConfig(profile=profile, keep=50, name="s"))
    assert digest(profile) == before
    curate(CurateConfig(profile=profile, keep=50, name="s", overwrite=True))
    assert stored(profile, "s")[0].size == 50


def test_a_profile_for_another_dataset_is_refused(tmp_path, digits):
    other = write_profile(tmp_path / "other.h5", digits, fingerprint="0123456789abcdef")
    with pytest.raises(FingerprintMismatchError, match="made for dataset 'digits'"):
        curate(CurateConfig(profile=other, keep=10, name="x"))
    profile = write_profile(tmp_path / "p.h5", digits)
    with pytest.raises(FingerprintMismatchError, match="made for dataset 'digits', not 'cifar10'"):
        curate(CurateConfig(profile=profile, dataset="cifar10", keep=10, name="x"))
    with pytest.raises(FingerprintMismatchError):  # the --out file belongs to another dataset
        curate(CurateConfig(profile=profile, keep=10, name="x", out=other))


def test_an_imported_rank_array_is_curated_into_the_out_file(tmp_path, digits):
    rank = np.random.default_rng(3).permutation(digits.n_train) / digits.n_train
    rank[[5, 50, 500]] = np.nan
    np.save(tmp_path / "ranks.npy", rank)
    curate(CurateConfig(from_npy=tmp_path / "ranks.npy", dataset="digits", out=tmp_path / "s.h5",
                        remove_lowest=0.1, name="paper"))
    kept, attrs = stored(tmp_path / "s.h5", "paper")
    ranked = digits.n_train - 3
    assert kept.size == ranked - int(np.floor(0.1 * ranked + 0.5)) and not np.isin([5, 50, 500], kept).any()
    removed = np.setdiff1d(np.flatnonzero(~np.isnan(rank)), kept)
    assert rank[kept].max() < rank[removed].min()
    assert attrs["source"] == str((tmp_path / "ranks.npy").resolve())


# -- exports -------------------------------------------------------------------------------


def test_imagefolder_export_of_a_balanced_set_round_trips_through_torchvision(tmp_path, digits):
    profile = write_profile(tmp_path / "p.h5", digits)
    result = curate(CurateConfig(profile=profile, keep=200, balanced=True, name="bal", export=["imagefolder"],
                                 export_dir=tmp_path / "ex"))
    indices, _ = stored(profile, "bal")
    assert tmp_path / "ex" / "bal" in result.exports
    loaded = ImageFolder(str(tmp_path / "ex" / "bal"))
    assert loaded.classes == [f"{d}-{d}" for d in range(10)]
    assert len(loaded) == 200 and np.bincount(loaded.targets).tolist() == [20] * 10
    seen = []
    for (image, target), (file, _) in zip(loaded, loaded.samples):
        index = int(Path(file).stem)
        seen.append(index)
        pixels = torch.from_numpy(np.array(image))  # ImageFolder loads RGB: grey repeated 3 times
        for channel in range(3):
            assert torch.equal(pixels[:, :, channel], digits.train_images[index, 0])
        assert target == int(digits.train_labels[index])
    assert seen == sorted(seen, key=lambda i: (int(digits.train_labels[i]), i))
    assert sorted(seen) == indices.tolist()
    manifest = json.loads((tmp_path / "ex" / "bal.manifest.json").read_text())
    assert manifest["size"] == 200 and manifest["rule"] == "keep" and manifest["params"]["balanced"] is True
    assert manifest["classes"] == list(digits.classes) and manifest["files"] == {"imagefolder": ["bal"]}
    assert manifest["dataset"] == "digits" and manifest["dataset_fingerprint"] == digits.fingerprint
    assert manifest["source"].endswith(":/quality/problem_rank")
    assert manifest["config"]["keep"] == 200 and manifest["config"]["export"] == ["imagefolder"]


class TinyColour:
    """A three-class RGB dataset plugin, to export colour images."""

    @hookimpl
    def advq_register_datasets(self, register):
        register("tiny-colour", self.load)

    @staticmethod
    def load(data_dir, download):
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (30, 3, 6, 5), dtype=torch.uint8, generator=g)
        labels = torch.arange(30) % 3
        return DatasetBundle("tiny-colour", images, labels, images[:3], labels[:3], ("red/ish", "green", "blue"),
                             (0.5,) * 3, (0.25,) * 3)


@pytest.fixture
def tiny_colour():
    name = register_plugin(TinyColour(), name="tiny-colour-plugin")
    yield get_dataset("tiny-colour")
    unregister_plugin(name)


def test_colour_images_export_as_rgb_png_and_class_names_become_safe_folders(tmp_path, tiny_colour):
    np.save(tmp_path / "r.npy", np.linspace(0, 0.99, 30))
    curate(CurateConfig(from_npy=tmp_path / "r.npy", dataset="tiny-colour", out=tmp_path / "s.h5", classes=["red/ish", "2"],
                        name="rb", export=["imagefolder", "hdf5"], export_dir=tmp_path / "ex"))
    loaded = ImageFolder(str(tmp_path / "ex" / "rb"))
    assert loaded.classes == ["0-red_ish", "2-blue"]  # the label prefix maps folders back to labels
    assert len(loaded) == 20
    for file, target in loaded.samples:
        index = int(Path(file).stem)
        image = torch.from_numpy(np.array(loaded.loader(file))).permute(2, 0, 1)
        assert torch.equal(image, tiny_colour.train_images[index])
        assert int(loaded.classes[target].split("-")[0]) == int(tiny_colour.train_labels[index])
    with h5py.File(tmp_path / "ex" / "rb.h5", "r") as handle:
        indices = handle["indices"][()]
        assert indices.tolist() == [i for i in range(30) if i % 3 != 1]
        assert torch.equal(torch.from_numpy(handle["images"][()]), tiny_colour.train_images[indices])
        assert handle["labels"][()].tolist() == (np.arange(30) % 3)[indices].tolist()
        assert handle["labels"].dtype == np.int64 and handle["images"].dtype == np.uint8
        assert list(handle.attrs["classes"]) == ["red/ish", "green", "blue"]


def test_npy_export_trains_with_advq_train_on_exactly_those_examples(tmp_path, digits):
    profile = write_profile(tmp_path / "p.h5", digits)
    curate(CurateConfig(profile=profile, remove_lowest=0.3, name="clean70", export=["npy"], export_dir=tmp_path / "ex"))
    exported = np.load(tmp_path / "ex" / "clean70.npy")
    assert exported.dtype == np.int64 and np.array_equal(exported, stored(profile, "clean70")[0])
    config = TrainConfig(dataset="digits", model="mlp", epochs=1, milestones=[], eps=0.1, steps=2, step_size=0.05,
                         subset=str(tmp_path / "ex" / "clean70.npy"), device="cpu", eval_examples=0, out=tmp_path / "run")
    assert np.array_equal(TrainingRun(config).train_indices, exported)
    ranked = digits.n_train - N_UNPROFILED
    assert exported.size == ranked - int(np.floor(0.3 * ranked + 0.5))
    result = train(config)
    assert len(result.history) == 1 and (tmp_path / "run" / "best.pt").is_file()


class Failing:
    """An exporter that dies half-way; another that writes where it must not."""

    @hookimpl
    def advq_register_exporters(self, register):
        register("half", self.half)
        register("stray", self.stray)

    @staticmethod
    def half(bundle, indices, folder, name, manifest):
        (folder / name).mkdir()
        (folder / name / "part.txt").write_text("half")
        raise RuntimeError("disk on fire")

    @staticmethod
    def stray(bundle, indices, folder, name, manifest):
        (folder / "elsewhere.txt").write_text("x")


@pytest.fixture
def failing_exporters():
    name = register_plugin(Failing(), name="failing-exporters")
    yield
    unregister_plugin(name)


def test_a_crashing_or_stray_exporter_leaves_no_half_export(tmp_path, digits, failing_exporters):
    profile = write_profile(tmp_path / "p.h5", digits)
    out = tmp_path / "ex"
    with pytest.raises(RuntimeError, match="disk on fire"):
        curate(CurateConfig(profile=profile, keep=10, name="a", export=["half"], export_dir=out))
    assert list(out.iterdir()) == []
    with pytest.raises(AdvqError, match="Exporter 'stray' .* wrote elsewhere.txt; it must write entries named 'b'"):
        curate(CurateConfig(profile=profile, keep=10, name="b", export=["stray"], export_dir=out))
    assert list(out.iterdir()) == []


def test_an_earlier_export_is_replaced_only_with_overwrite(tmp_path, digits):
    profile = write_profile(tmp_path / "p.h5", digits)
    out = tmp_path / "ex"
    curate(CurateConfig(profile=profile, keep=30, name="s", export=["npy", "imagefolder"], export_dir=out,
                        out=tmp_path / "a.h5"))
    with pytest.raises(AdvqError, match="already holds s, s.manifest.json, s.npy; add --overwrite"):
        curate(CurateConfig(profile=profile, keep=20, name="s", export=["npy"], export_dir=out, out=tmp_path / "b.h5"))
    assert not (tmp_path / "b.h5").exists(), "nothing stored when the export would be refused"
    curate(CurateConfig(profile=profile, keep=20, name="s", export=["npy", "imagefolder"], export_dir=out,
                        out=tmp_path / "b.h5", overwrite=True))
    assert np.load(out / "s.npy").size == 20
    assert sum(1 for _ in (out / "s").rglob("*.png")) == 20
    assert sorted(p.name for p in out.iterdir()) == ["s", "s.manifest.json", "s.npy"]

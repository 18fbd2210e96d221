"""The evaluation file: per-example results in HDF5, one atomic update per finished attack.

```
/                    attrs: format "advq-evaluation", dataset, dataset_fingerprint, eps,
                            step_size (the PGD step; NaN: each attack's default, ε/4),
                            random_start (whether PGD started at a random point, not at x),
                            n_examples (the first N test examples), checkpoint,
                            checkpoint_sha256, checkpoint_epoch, model (JSON), classes
                            (JSON), training_config (YAML), config (YAML),
                            overestimation_gap (when pgd-10 and autoattack both ran)
/labels              (N,) int64 test labels
/clean/correct       (N,) bool; attrs: accuracy
/attacks/<name>/correct  (N,) bool; attrs: accuracy, seconds, plugin, options (JSON, as given),
                            settings (JSON: what the attack was built with, such as
                            AutoAttack's version and attack list, PGD's steps and start)
/worst_case/correct  (N,) bool: correct under clean and every stored attack;
                            attrs: accuracy, attacks (JSON list)
```
Because every attack is saved as soon as it finishes, ``--resume`` skips what is stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from ..errors import AdvqError
from ..h5store import open_checked, stamp, updating
from .results import EvaluationResult, accuracy, overestimation_gap, worst_case

FORMAT = "advq-evaluation"


@dataclass(frozen=True)
class Identity:
    """What makes two evaluations comparable: a resumed file must match all of it."""

    dataset: str
    fingerprint: str
    checkpoint_sha256: str
    eps: float
    n_examples: int
    step_size: float | None = None
    random_start: bool = False


def create(path: Path, identity: Identity, description: Mapping[str, Any], labels: np.ndarray, clean: np.ndarray) -> None:
    """Write a new file (replacing any old one only once it is complete) holding the clean results."""
    with updating(path, new=True) as handle:
        stamp(
            handle, FORMAT, identity.dataset, identity.fingerprint,
            checkpoint_sha256=identity.checkpoint_sha256, eps=identity.eps, n_examples=identity.n_examples,
            step_size=math.nan if identity.step_size is None else identity.step_size,
            random_start=identity.random_start, **description,
        )
        handle.create_dataset("labels", data=labels.astype(np.int64))
        _write_correct(handle, "clean", clean, {})
        handle.create_group("attacks", track_order=True)  # iteration gives the run order
        _summarise(handle)


def stored_attacks(path: Path, identity: Identity) -> list[str]:
    """The attacks already in a file that ``--resume`` may continue; a clear error if it may not."""
    with open_checked(path, (FORMAT,), identity.fingerprint) as handle:
        eps = float(handle.attrs.get("eps", math.nan))
        n = int(handle.attrs.get("n_examples", -1))
        differences = []
        if handle.attrs.get("checkpoint_sha256") != identity.checkpoint_sha256:
            differences.append("another checkpoint")
        if not math.isclose(eps, identity.eps, rel_tol=0, abs_tol=1e-9):
            differences.append(f"ε {eps:.6g} (not {identity.eps:.6g})")
        if n != identity.n_examples:
            differences.append(f"{n} examples (not {identity.n_examples})")
        step = float(handle.attrs.get("step_size", math.nan))
        wanted_step = math.nan if identity.step_size is None else identity.step_size
        same_step = (math.isnan(step) and math.isnan(wanted_step)) or math.isclose(step, wanted_step, abs_tol=1e-9)
        if "step_size" in handle.attrs and not same_step:
            differences.append(f"PGD step {step:.6g} (not {wanted_step:.6g})")
        if "random_start" in handle.attrs and bool(handle.attrs["random_start"]) != identity.random_start:
            differences.append("another PGD start")
        if differences:
            raise AdvqError(
                f"Cannot resume {path}: it holds an evaluation of {' and '.join(differences)}; "
                "use another --out, or --overwrite to replace it."
            )
        return list(handle["attacks"])


def add_attack(path: Path, name: str, correct: np.ndarray, attrs: Mapping[str, Any]) -> None:
    """Store one attack's results and refresh the worst case, all or nothing."""
    with updating(path) as handle:
        _write_correct(handle, f"attacks/{name}", correct, attrs)
        _summarise(handle)


def read_result(path: Path, resumed: tuple[str, ...] = ()) -> EvaluationResult:
    with open_checked(path, (FORMAT,)) as handle:
        group = handle["attacks"]
        return EvaluationResult(
            out=path,
            dataset=str(handle.attrs["dataset"]),
            classes=tuple(json.loads(handle.attrs["classes"])),
            eps=float(handle.attrs["eps"]),
            labels=handle["labels"][()],
            clean=handle["clean/correct"][()],
            attacks={name: group[name]["correct"][()] for name in group},
            seconds={name: float(group[name].attrs.get("seconds", math.nan)) for name in group},
            resumed=resumed,
        )


def read_training_config(path: Path, fingerprint: str | None = None) -> dict[str, Any]:
    """The resolved configuration the evaluated checkpoint was trained with (empty when
    unreadable), refusing a file of another dataset (``fingerprint``)."""
    with open_checked(path, (FORMAT,), fingerprint) as handle:
        try:
            config = yaml.safe_load(str(handle.attrs.get("training_config", "")))
        except yaml.YAMLError:
            return {}
    return config if isinstance(config, dict) else {}


def _write_correct(handle: h5py.File, where: str, correct: np.ndarray, attrs: Mapping[str, Any]) -> None:
    if where in handle:
        del handle[where]
    group = handle.create_group(where)
    group.create_dataset("correct", data=np.asarray(correct, dtype=bool))
    group.attrs.update({"accuracy": accuracy(correct), **attrs})


def _summarise(handle: h5py.File) -> None:
    """The worst case over every stored attack and the overestimation gap, kept in step with them."""
    clean = handle["clean/correct"][()]
    attacks = {name: group["correct"][()] for name, group in handle["attacks"].items()}
    _write_correct(handle, "worst_case", worst_case(clean, attacks), {"attacks": json.dumps(sorted(attacks))})
    gap = overestimation_gap({name: accuracy(correct) for name, correct in attacks.items()})
    if gap is None:
        handle.attrs.pop("overestimation_gap", None)
    else:
        handle.attrs["overestimation_gap"] = gap

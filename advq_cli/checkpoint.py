"""Checkpoints: weights plus what is needed to rebuild the model, loaded with weights_only.

A checkpoint is a plain dict of tensors and primitives, so `torch.load(weights_only=True)`
reads it without running any pickled code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .atomic import atomic_path
from .datasets import DatasetBundle
from .errors import AdvqError, FingerprintMismatchError
from .models import NormalizedModel
from .lookups import build_model

FORMAT = "advq-checkpoint"
FORMAT_VERSION = 1


def model_spec(name: str, options: dict[str, Any], bundle: DatasetBundle) -> dict[str, Any]:
    """What `load_model` needs to rebuild a model without the dataset at hand."""
    return {
        "name": name,
        "options": {k: v for k, v in options.items() if v is not None},
        "num_classes": bundle.num_classes,
        "in_channels": bundle.in_channels,
        "image_size": bundle.image_size,
        "mean": list(bundle.mean),
        "std": list(bundle.std),
    }


def dataset_spec(bundle: DatasetBundle) -> dict[str, Any]:
    return {"name": bundle.name, "fingerprint": bundle.fingerprint, "classes": list(bundle.classes)}


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically write a checkpoint dict (format tags added)."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, **payload}, tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a checkpoint written by advq; a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise AdvqError(f"Checkpoint not found: {path}.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for foreign or corrupt files
        raise AdvqError(f"{path} is not an advq checkpoint (it could not be read as one).") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AdvqError(f"{path} is not an advq checkpoint.")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise AdvqError(f"{path} was written by a newer advq (format {payload['format_version']}); upgrade advq.")
    return payload


def model_from_checkpoint(payload: dict[str, Any], what: str | Path = "The checkpoint") -> NormalizedModel:
    """The model a checkpoint describes, with its weights; a malformed one is one clear error.

    ``what`` names the checkpoint in that error.
    """
    spec = payload.get("model")
    state = payload.get("state_dict")
    malformed = f"{what} carries advq's format tag but is malformed"
    if not isinstance(spec, dict) or not isinstance(state, dict):
        raise AdvqError(f"{malformed}: it lacks its model description or weights.")
    try:
        model = build_model(
            spec["name"], int(spec["num_classes"]), int(spec["in_channels"]), int(spec["image_size"]),
            spec["mean"], spec["std"], **spec.get("options", {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AdvqError(f"{malformed}: its model description is incomplete ({exc!r}).") from None
    except AdvqError as exc:
        raise AdvqError(f"{malformed}: {exc}") from None
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[-1].strip()
        raise AdvqError(f"{malformed}: its weights do not fit its model ({first}).") from None
    return model


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> NormalizedModel:
    """The trained model in eval mode; it takes [0, 1] images, normalisation inside."""
    model = model_from_checkpoint(read_checkpoint(checkpoint), checkpoint)
    return model.to(device).eval()


def check_fingerprint(payload: dict[str, Any], fingerprint: str, dataset: str | None, what: str | Path) -> None:
    """Refuse a checkpoint trained on other data than ``fingerprint``, saying how they differ.

    ``dataset`` names the data it is checked against (None when only the fingerprint is
    known); ``what`` names the checkpoint in the message.
    """
    trained = payload.get("dataset") if isinstance(payload.get("dataset"), dict) else {}
    if trained.get("fingerprint") == fingerprint:
        return
    name = trained.get("name")
    if name == dataset:
        raise FingerprintMismatchError(
            f"{what} was trained on other '{name}' data than the files found now (dataset fingerprints differ); "
            "pass the --data-dir it was trained with."
        )
    against = f"'{dataset}'" if dataset else "this dataset"
    raise FingerprintMismatchError(f"{what} was trained on '{name}', not on {against} (dataset fingerprints differ).")

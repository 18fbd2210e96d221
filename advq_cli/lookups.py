"""Every lookup by name: what plugins registered, made into the objects advq works with.

The one place above the plugin manager (as llm keeps ``get_model()`` above its own): the
plugin kinds' base classes and loaders never import it, so the import graph has no circle.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .attacks.base import Attack
from .datasets.bundle import DatasetBundle
from .datasets.spec import parse_dataset_name
from .errors import AdvqError
from .methods.base import Method
from .models.normalized import NormalizedModel, normalized_model
from .plugins import registry
from .registry import Entry
from .threat import Threat

_datasets: dict[tuple[str, str, bool], DatasetBundle] = {}


def accepted_options(factory: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options a plugin's factory accepts (all of them if it takes **kwargs)."""
    params = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return {k: v for k, v in options.items() if v is not None}
    names = {p.name for p in params}
    return {k: v for k, v in options.items() if k in names and v is not None}


def get_dataset(name: str, data_dir: str | Path | None = None, download: bool = False) -> DatasetBundle:
    """The named dataset, loaded once per process through its plugin.

    ``scheme:LOCATION?options`` names go to the loader registered as ``"<scheme>:"``,
    called with the parsed ``DatasetSpec`` first (see ``datasets/spec.py``).
    """
    spec = parse_dataset_name(name)
    entry = registry("datasets").entry(spec.registered_name)
    key = (spec.resolved(data_dir).text if spec.scheme else entry.name, str(data_dir or ""), bool(download))
    if key not in _datasets:
        folder = Path(data_dir) if data_dir else None
        bundle = entry.obj(spec, folder, download) if spec.scheme else entry.obj(folder, download)
        if not isinstance(bundle, DatasetBundle):
            raise AdvqError(f"Dataset plugin '{entry.plugin}' returned no DatasetBundle for '{entry.name}'.")
        _datasets[key] = bundle
    return _datasets[key]


def forget_loaded_datasets() -> None:
    """Drop the per-process cache, so the next lookup reads the files again (a notebook after they changed)."""
    _datasets.clear()


def load_dataset(
    name: str, train: bool = True, data_dir: str | Path | None = None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, C, H, W) uint8 and labels int64 of one split, in canonical order."""
    return get_dataset(name, data_dir, download).split(train)


def build_model(
    name: str, num_classes: int, in_channels: int, image_size: int, mean: Sequence[float], std: Sequence[float],
    **options: Any,
) -> NormalizedModel:
    """A registered model for a dataset's shape, normalisation inside."""
    factory = registry("models").get(name)
    kwargs = accepted_options(factory, options)
    return normalized_model(factory, name, num_classes, in_channels, image_size, mean, std, kwargs)


def build_attack(name: str, eps: float, **options: Any) -> Attack:
    """A registered attack with the options its class accepts."""
    cls = registry("attacks").get(name)
    return cls(eps=eps, **accepted_options(cls, options))


def build_method(name: str, threat: Threat, **options: Any) -> Method:
    """A registered method with the options its class accepts; options it refuses are one AdvqError."""
    cls = registry("methods").get(name)
    try:
        return cls(threat, **accepted_options(cls, options))
    except (ValueError, TypeError) as exc:
        raise AdvqError(f"Method '{name}' cannot be built with these options: {exc}.") from None


def measure_entries(names: list[str] | None = None) -> list[Entry]:
    """The registered measures (or those named), each with the plugin that gave it."""
    reg = registry("measures")
    return [reg.entry(name) for name in (names if names is not None else reg.names())]

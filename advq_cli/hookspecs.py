"""The hooks a plugin may implement.

Every ``advq_register_*`` hook receives a ``register(name, obj, description="")``
callback; advq builds its own registries from what plugins register, so it can validate
names and report clashes. ``advq_on_epoch_end`` is an event: every implementation sees
every epoch of ``advq train`` and ``advq profile``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pluggy

PROJECT = "advq"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class EpochEvent:
    """One finished epoch of one run, in plain values a logger can write anywhere."""

    command: str
    """``"train"``, ``"profile"`` or ``"explain finetune"`` (the sweep's and competing's sub-runs: ``"train"``)."""
    out: Path
    """The command's ``--out``: the run folder (train) or the profile's HDF5 file (profile)."""
    run_dir: Path
    """This run's folder: its checkpoints and ``history.csv`` (``<out>.runs/<run_id>`` for a profile)."""
    run_id: str
    """The run folder's name: ``seed-S`` within a profile."""
    seed: int
    epoch: int
    """1-based number of the epoch just finished."""
    epochs: int
    stats: Mapping[str, float]
    """The epoch's row of history.csv: epoch, lr, train_loss, train/test clean/robust accuracy, seconds."""
    history: tuple[Mapping[str, float], ...]
    """Every row so far, those restored by ``--resume`` included; the last one is ``stats``."""
    config: Mapping[str, Any]
    """The run's resolved training configuration (plain values, as in config.yaml)."""


class Register(Protocol):
    """The callback every ``advq_register_*`` hook receives: ``register(name, obj, description="…")``."""

    def __call__(self, name: str, obj: Callable[..., Any], description: str = "") -> None: ...


@hookspec
def advq_register_datasets(register: Register) -> None:
    """Register dataset loaders.

    ``register("my-data", load_my_data, description="…")`` where
    ``load_my_data(data_dir: Path | None, download: bool) -> advq_cli.datasets.DatasetBundle``
    returns uint8 train/test images (N, C, H, W) with labels in canonical order.

    A name ending in ``:`` registers a scheme: ``register("imagefolder:", load_folder)``
    makes ``--dataset imagefolder:PATH?key=value`` call
    ``load_folder(spec: advq_cli.datasets.DatasetSpec, data_dir, download)`` with the
    parsed ``spec.location`` and ``spec.options``; the bundle's ``name`` must be a
    canonical name that loads the same data again (later commands reload it by that name).
    """


@hookspec
def advq_register_models(register: Register) -> None:
    """Register model factories.

    ``register("my-net", make_my_net, description="…")`` where
    ``make_my_net(num_classes, in_channels, image_size, **options) -> nn.Module`` takes
    normalised inputs; advq wraps it with the dataset's mean/std.
    """


@hookspec
def advq_register_methods(register: Register) -> None:
    """Register adversarial training methods.

    ``register("my-method", MyMethod, description="…")`` where ``MyMethod(threat, **options)``
    is a ``advq_cli.methods.Method``: ``method(model, x, y)`` returns a ``MethodOutput`` with
    per-example losses and the adversarial logits used for profiling; ``method.start_epoch(epoch)``
    is called before each epoch, for a method with a schedule (GAIRAT's begin epoch).
    """


@hookspec
def advq_register_attacks(register: Register) -> None:
    """Register attacks.

    ``register("my-attack", MyAttack, description="…")`` where
    ``MyAttack(eps=…, **options)(model, x, y) -> x_adv`` stays within the L∞ ε-ball and [0, 1].
    """


@hookspec
def advq_register_measures(register: Register) -> None:
    """Register per-example quality measures.

    ``register("my-measure", compute, description="…")`` where
    ``compute(record: advq_cli.profiling.RunRecord) -> np.ndarray`` of shape (N,), N the
    size of the whole training set (values outside the run's subset are ignored). The
    record holds ``correct`` and ``true_prob`` (epochs, N) under the training attack,
    ``best_epoch``, the ``trained`` mask, and lazily the best checkpoint (``model()``) and
    the trained images (``images()``). The profile stores the result as
    ``/runs/<id>/measures/<name>`` and its mean over runs as ``/quality/<name>``, with
    dashes in the name turned into underscores.
    """


@hookspec
def advq_register_exporters(register: Register) -> None:
    """Register subset exporters.

    ``register("my-format", write, description="…")`` where
    ``write(bundle: DatasetBundle, indices: np.ndarray, folder: Path, name: str, manifest: dict) -> None``
    writes the training examples ``indices`` (sorted int64) as entries named ``<name>`` or
    ``<name>.<ext>`` in ``folder``, a fresh staging folder that advq moves into the export
    folder once ``write`` returns (so exports are atomic); ``manifest`` (JSON-ready: source,
    rule, params, dataset, classes, …) is written beside them as ``<name>.manifest.json``.
    """


@hookspec
def advq_on_epoch_end(event: EpochEvent) -> None:
    """See every finished training epoch (loggers, notifications, dashboards).

    Called once per epoch by ``advq train`` and by each run of ``advq profile``, after the
    epoch's checkpoint (and, for a profile, its record) is saved, so a failure here loses
    nothing: advq stops with an error naming the plugin and ``--resume`` continues. ``event``
    is an ``advq_cli.EpochEvent``: ``command`` ("train" or "profile"), ``out``,
    ``run_dir``, ``run_id``, ``seed``, ``epoch``, ``epochs``, ``stats`` (the epoch's row of
    history.csv as a dict), ``history`` (every row so far, resumed ones included) and
    ``config`` (the run's resolved configuration, plain values). Write to files or stderr,
    not stdout, which `--json` keeps for its document. Example::

        @hookimpl
        def advq_on_epoch_end(event):
            dashboard.log(event.run_id, step=event.epoch, **event.stats)
    """

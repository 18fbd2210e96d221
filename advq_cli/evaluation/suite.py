"""`advq evaluate`: clean accuracy and every attack of the suite on one checkpoint.

Everything the user can get wrong (the checkpoint, attack names and options, ε, the
dataset, the output file) is checked before any attack runs, and each attack's output is
checked before it counts: a plugin that leaves the ε-ball or [0, 1] is refused, since a
robustness number from it would mean nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from ..lookups import build_attack
from ..checkpoint import check_fingerprint, model_from_checkpoint, read_checkpoint
from ..config import to_yaml
from ..datasets import DatasetBundle
from ..lookups import get_dataset
from ..devices import resolve_device
from ..errors import AdvqError
from ..locking import exclusive
from ..plugins import registry
from ..progress import NullReporter, Reporter
from ..registry import Entry
from ..training.evaluation import AttackFn, correctness
from . import store
from .config import EvaluateConfig
from .results import EvaluationResult

# Slack for float rounding when checking an attack's output against the ε-ball and [0, 1].
TOLERANCE = 1e-6


def evaluate(config: EvaluateConfig, reporter: Reporter | None = None) -> EvaluationResult:
    """Run clean and each attack on the checkpoint's test set, saving each to ``config.output_path``."""
    reporter = reporter or NullReporter()
    with exclusive(config.output_path, wait=config.wait, reporter=reporter):
        return _evaluate_locked(config, reporter)


def _evaluate_locked(config: EvaluateConfig, reporter: Reporter) -> EvaluationResult:
    """``evaluate`` once this process alone writes ``config.output_path``."""
    payload = read_checkpoint(config.checkpoint)
    entries = [registry("attacks").entry(name) for name in config.attacks]
    bundle = checkpoint_dataset(payload, config)
    eps, step_size = evaluation_threat(payload, bundle, config)
    attacks = {entry.name: (entry, build(entry, eps, config, bundle.fingerprint, step_size)) for entry in entries}
    device = resolve_device(config.device)

    n = len(bundle.test_labels) if config.n_examples is None else min(config.n_examples, len(bundle.test_labels))
    images, labels = bundle.test_images[:n], bundle.test_labels[:n]
    identity = store.Identity(
        bundle.name, bundle.fingerprint, file_sha256(config.checkpoint), eps, n, step_size, config.random_start
    )
    out = config.output_path
    stored = prepare_output(out, identity, config)
    done = set(stored or ())

    model = model_from_checkpoint(payload, config.checkpoint).to(device).eval()
    if stored is None:
        clean = run(model, images, labels, None, "clean", config.batch_size, reporter)
        description = describe(payload, dataclasses.replace(config, eps=eps, step_size=step_size), bundle.classes)
        store.create(out, identity, description, labels.numpy(), clean)
    for name, (entry, attack) in attacks.items():
        if name in done:
            reporter.info(f"{name}: already in {out}, skipped.")
            continue
        torch.manual_seed(attack_seed(config.seed, name))
        started = time.perf_counter()
        checked = inside_threat_model(attack, f"'{name}' (plugin {entry.plugin})", eps)
        correct = run(model, images, labels, checked, name, config.batch_size, reporter)
        store.add_attack(out, name, correct, {
            "seconds": time.perf_counter() - started,
            "plugin": entry.plugin,
            "options": json.dumps(config.options_for(name), default=str, sort_keys=True),
            "settings": attack_settings(attack),
        })
    return store.read_result(out, resumed=tuple(name for name in attacks if name in done))


def checkpoint_dataset(payload: dict[str, Any], config: EvaluateConfig) -> DatasetBundle:
    """The dataset the checkpoint was trained on, refused when the files found now hold other data."""
    data_dir = config.data_dir or payload.get("config", {}).get("data_dir")
    bundle = get_dataset(payload["dataset"]["name"], data_dir)
    check_fingerprint(payload, bundle.fingerprint, bundle.name, config.checkpoint)
    return bundle


def evaluation_threat(payload: dict[str, Any], bundle: DatasetBundle, config: EvaluateConfig) -> tuple[float, float | None]:
    """The radius and PGD step to evaluate at (None: each attack's own default step, ε/4 for PGD).

    ``--eps`` given: that, stepping ``--step-size`` or ε/4. Otherwise the evaluation threat the
    checkpoint's training early-stopped with (recorded in its configuration), else, for a
    checkpoint older than that record, the dataset's declared one (8/255 and 2/255 on the
    paper's datasets), else the training ε.
    """
    if config.eps is not None:
        return config.eps, config.step_size
    stored = payload.get("config", {})
    if isinstance(stored.get("eval_eps"), (int, float)):
        recorded = stored.get("eval_step_size")
        step = recorded if isinstance(recorded, (int, float)) else None
        return float(stored["eval_eps"]), config.step_size if config.step_size is not None else step
    if bundle.eval_eps is not None:
        return bundle.eval_eps, config.step_size if config.step_size is not None else bundle.eval_step_size
    eps = stored.get("eps")
    if not isinstance(eps, (int, float)):
        raise AdvqError(f"{config.checkpoint} does not record the ε it was trained with; pass --eps.")
    return float(eps), config.step_size


def build(entry: Entry, eps: float, config: EvaluateConfig, fingerprint: str, step_size: float | None = None) -> Any:
    """Instantiate one attack with its configured options (unknown ones refused) and the shared ones
    (the threat's step size and start reach the attacks that take them: PGD, transfer)."""
    own = config.options_for(entry.name)
    params = inspect.signature(entry.obj).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = [p for p in params if p != "eps"]
        unknown = sorted(set(own) - set(allowed))
        if unknown:
            raise AdvqError(
                f"Attack '{entry.name}' has no option {', '.join(unknown)} (it takes: {', '.join(allowed) or 'none'})."
            )
    shared = {
        "surrogate": config.surrogate, "seed": config.seed, "dataset_fingerprint": fingerprint,
        "random_start": config.random_start, **({} if step_size is None else {"step_size": step_size}),
    }
    try:
        return build_attack(entry.name, eps, **{**shared, **own})
    except (ValueError, TypeError) as exc:
        raise AdvqError(f"Attack '{entry.name}' cannot be built with these options: {exc}") from None


def prepare_output(out: Path, identity: store.Identity, config: EvaluateConfig) -> list[str] | None:
    """The attacks already stored when resuming, None for a new file; never touches a file unasked."""
    if out.is_dir():
        raise AdvqError(f"--out {out} is a folder; give a file name such as {out / 'evaluation.h5'}.")
    if not out.exists() or config.overwrite:
        return None
    if not config.resume:
        raise AdvqError(f"{out} already exists: pass --resume to add the missing attacks or --overwrite to replace it.")
    return store.stored_attacks(out, identity)


def run(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    attack: AttackFn | None,
    name: str,
    batch_size: int,
    reporter: Reporter,
) -> np.ndarray:
    """Per-example correctness, reporting progress and the running accuracy after each batch."""
    reporter.start(name, name, len(labels))
    parts, hits = [], 0
    for start in range(0, len(labels), batch_size):
        part = correctness(model, images[start : start + batch_size], labels[start : start + batch_size], attack, batch_size)
        parts.append(part.cpu())
        hits += int(part.sum())
        done = start + len(part)
        reporter.advance(name, len(part), accuracy=hits / done)
    reporter.finish(name)
    return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=bool)


def inside_threat_model(attack: AttackFn, who: str, eps: float) -> AttackFn:
    """The attack, its every output checked to lie in the ε-ball around the input and in [0, 1]."""

    def checked(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x_adv = attack(model, x, y)
        if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
            shape = tuple(x_adv.shape) if isinstance(x_adv, torch.Tensor) else type(x_adv).__name__
            raise AdvqError(f"Attack {who} returned {shape} for inputs of shape {tuple(x.shape)}; refusing it.")
        x_adv = x_adv.detach().to(x.dtype)
        if not bool(torch.isfinite(x_adv).all()):
            raise AdvqError(f"Attack {who} returned non-finite inputs; refusing its results.")
        low, high = x_adv.min().item(), x_adv.max().item()
        if low < -TOLERANCE or high > 1 + TOLERANCE:
            raise AdvqError(f"Attack {who} returned inputs outside [0, 1] ({low:.4g} to {high:.4g}); refusing its results.")
        distance = (x_adv - x).abs().max().item()
        if distance > eps + TOLERANCE:
            raise AdvqError(f"Attack {who} left the ε-ball: ‖δ‖∞ = {distance:.6g} > ε = {eps:.6g}; refusing its results.")
        return x_adv

    return checked


def attack_seed(seed: int, name: str) -> int:
    """Each attack's own reproducible seed, so a resumed suite gives what a whole one would."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**31


def attack_settings(attack: Any) -> str:
    """What an attack was built with (its public settings: iterations, step size, start, AutoAttack's
    version and attack list, …) as JSON, so a stored number says how it was measured."""
    values = {k: v for k, v in vars(attack).items() if not k.startswith("_")}
    plain = {k: v for k, v in values.items() if isinstance(v, (bool, int, float, str, list, tuple, dict, Path, type(None)))}
    return json.dumps(plain, default=str, sort_keys=True)


def describe(payload: dict[str, Any], config: EvaluateConfig, classes: tuple[str, ...]) -> dict[str, Any]:
    """The checkpoint's description and the resolved configuration, stored with the results."""
    return {
        "checkpoint": str(Path(config.checkpoint).resolve()),
        "checkpoint_epoch": int(payload.get("epoch", -1)),
        "model": json.dumps(payload.get("model", {}), sort_keys=True),
        "training_config": yaml.safe_dump(payload.get("config", {}), sort_keys=False),
        "classes": json.dumps(list(classes)),
        "config": to_yaml(config),
    }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

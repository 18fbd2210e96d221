"""AutoAttack (Croce & Hein 2020, arXiv:2003.01690) through its reference implementation.

The paper measures robustness overestimation as PGD-10 minus AutoAttack accuracy, so
the number must come from the reference code, not a re-implementation. It is the
``pyautoattack`` package on PyPI; an installed upstream ``autoattack`` module (the
authors' GitHub repository) is used instead when present. Neither downloads anything.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import AdvqError
from .base import Attack

Runner = Callable[[nn.Module, torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]


def _run_upstream(module: Any) -> Runner:
    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: dict[str, Any]) -> torch.Tensor:
        adversary = module.AutoAttack(
            model, norm="Linf", eps=settings["eps"], version=settings["version"],
            attacks_to_run=settings["attacks"] or [], seed=settings["seed"], device=x.device, verbose=False,
        )
        return adversary.run_standard_evaluation(x, y, bs=len(x))

    return run


def _run_packaged(module: Any) -> Runner:
    def run(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: dict[str, Any]) -> torch.Tensor:
        adversary = module.AutoAttack(
            model, norm="Linf", eps=settings["eps"], version=settings["version"],
            attacks=settings["attacks"] or None, seed=settings["seed"], device=x.device,
        )
        x_adv, _ = adversary.run_standard_evaluation(x, y, batch_size=len(x))
        return x_adv

    return run


VERSION_ATTACKS = {
    "standard": ["apgd-ce", "apgd-t", "fab-t", "square"],
    "plus": ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"],
    "rand": ["apgd-ce", "apgd-dlr"],
}
"""The attacks each AutoAttack version runs, as its reference code lists them."""

APGD_CE_T = ["apgd-ce", "apgd-t"]
"""What the paper's authors ran (their ``mode='fast'``): AutoAttack's version 'custom' with these two."""

BACKENDS: dict[str, Callable[[Any], Runner]] = {"autoattack": _run_upstream, "pyautoattack": _run_packaged}


def find_backend() -> tuple[str, Runner]:
    """The upstream module when installed, else the PyPI package; a clear error when neither is."""
    for name, adapter in BACKENDS.items():
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "AutoAttack"):
            return name, adapter(module)
    raise AdvqError("The autoattack attack needs AutoAttack's reference implementation: pip install pyautoattack")


class AutoAttack(Attack):
    """L∞ AutoAttack, by default the ensemble of APGD-CE, APGD-T, FAB-T and Square ("standard").

    Paper: Croce, Hein, "Reliable evaluation of adversarial robustness with an ensemble
    of diverse parameter-free attacks", ICML 2020, https://arxiv.org/abs/2003.01690.
    Threat model: L∞ ball of radius ``eps`` intersected with [0, 1]; white-box.

    Args: eps (radius in pixel units), version ("standard", the default and the paper's;
    "plus", "rand", or "custom" with ``attacks``), attacks (names such as ["apgd-ce",
    "apgd-t"], only with version "custom"), seed (default 0, for reproducible restarts).
    Shapes: x (B, C, H, W) in [0, 1], y (B,) → x_adv like x. ``backend`` names the
    implementation in use ("autoattack" or "pyautoattack").
    Example: ``AutoAttack(eps=8/255)(model, x, y)``.
    """

    def __init__(self, eps: float, version: str = "standard", attacks: list[str] | None = None, seed: int = 0) -> None:
        super().__init__(eps)
        if version not in ("standard", "plus", "rand", "custom"):
            raise ValueError(f"unknown AutoAttack version {version!r}: use standard, plus, rand or custom")
        if (version == "custom") != bool(attacks):
            raise ValueError("AutoAttack takes a list of attacks with version 'custom', and only then")
        self.settings = {"eps": self.eps, "version": version, "attacks": list(attacks or []), "seed": int(seed)}
        self.attacks_run = VERSION_ATTACKS.get(version, list(attacks or []))
        """The attacks this evaluation runs, in order (stored with every result)."""
        self.backend, self._run = find_backend()

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.eps == 0:
            return x.clone()
        return self._run(model, x, y, self.settings)


def autoattack_apgd_ce_t(eps: float, seed: int = 0) -> AutoAttack:
    """AutoAttack's APGD-CE and APGD-T only (version 'custom'): the preset the paper's authors ran
    (shwinshaker/RobustDataProfiling, ``mode='fast'``), cheaper than the standard four attacks and
    at most as strong. Args: eps, seed (default 0)."""
    return AutoAttack(eps, version="custom", attacks=APGD_CE_T, seed=seed)

"""What a training method is: a callable giving per-example losses for one batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..attacks.pgd import cross_entropy_sum, pgd_perturb
from ..threat import Threat


@dataclass
class MethodOutput:
    """One batch's result.

    ``losses`` (B,) are differentiable per-example losses (weights already applied), the
    training loop averages them. ``adv_logits`` (B, K) are the logits under the training
    attack that profiling records (detached). ``clean_logits`` may be given when the method
    computed them anyway; otherwise the loop computes clean accuracy itself.
    """

    losses: torch.Tensor
    adv_logits: torch.Tensor
    clean_logits: torch.Tensor | None = None


class Method:
    """Base class. Subclasses implement ``__call__(model, x, y) -> MethodOutput``.

    The model arrives in train mode. Adversarial examples are generated with the model in
    eval mode (batch-norm statistics are not moved by attack iterations), then the
    training forward runs in train mode.
    """

    tracks_training_attack: bool = True
    """Whether ``adv_logits`` come from cross-entropy PGD with the training threat model.
    When False, profiling runs a separate cross-entropy PGD with the training threat model
    to record the per-example result, as the paper did."""

    stackable: bool = True
    """Whether runs trained together (their batches stacked into one, ``training.together``)
    stay independent: False when an example's loss depends on other examples of the batch,
    unless such a statistic is taken per run (``random_streams.runs_in_batch``, as GAIRAT
    normalises its weights)."""

    def __init__(self, threat: Threat) -> None:
        self.threat = threat

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        raise NotImplementedError

    def start_epoch(self, epoch: int) -> None:
        """Told by the training loop before each epoch (1-based), for methods with a schedule (GAIRAT)."""

    def perturb(
        self,
        model: nn.Module,
        x: torch.Tensor,
        target: torch.Tensor,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cross_entropy_sum,
        on_step: Callable[[int, torch.Tensor], None] | None = None,
        start: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The inner maximisation with the training threat model, in eval mode."""
        t = self.threat
        model.eval()
        try:
            return pgd_perturb(
                model, x, target, t.eps, t.steps, t.step_size, t.random_start, loss_fn, on_step=on_step, start=start
            )
        finally:
            model.train()

"""GAIRAT (Zhang et al. 2021, ICLR, arXiv:2010.01736): geometry-aware instance-reweighted AT.

PGD-AT whose per-example cross-entropy is weighted by how far the example is from the
decision boundary, measured by κ, the number of PGD iterations at whose start the example
is still classified correctly. Examples far from the boundary (large κ) get small weights,
so the training emphasises the ones near it (the paper's appendix A.1 and F, with λ = 0).

As in the reference code (zjfheart/Geometry-aware-Instance-reweighted-Adversarial-Training,
``GAIRAT.py``), training is plain PGD-AT until ``begin_epoch`` (60 of its 120 epochs) and
weighted from then on, with λ following ``lambda_schedule``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..random_streams import runs_in_batch
from ..threat import Threat
from .base import Method, MethodOutput

LAMBDA_SCHEDULES = ("fixed", "piecewise")
KAPPA_COUNTS = ("all", "leading")


def gairat_weights(kappa: torch.Tensor, steps: int, lambda_: float = 0.0) -> torch.Tensor:
    """w = (1 + tanh(λ + 5·(1 − 2κ/K)))/2, normalised to mean 1 over the batch; (B,).

    Computed as B·softmax(log σ(2a)), since (1 + tanh a)/2 = σ(2a): the normalisation stays
    finite even when every raw weight underflows (large negative λ). With K = 0 there is
    no attack to count, every κ/K is taken as 1 and all weights are 1.
    """
    kappa = kappa.float()
    fraction = kappa / steps if steps > 0 else torch.ones_like(kappa)
    log_weights = F.logsigmoid(2 * (lambda_ + 5 * (1 - 2 * fraction)))
    return len(kappa) * log_weights.softmax(0)


def gairat_begin_epoch(epochs: int, begin_epoch: int | None = None) -> int:
    """The first weighted epoch (1-based): the reference's 60 of 120 scaled to ``epochs``, unless given."""
    return max(1, epochs // 2) if begin_epoch is None else begin_epoch


def gairat_lambda(epoch: int, epochs: int, lambda_: float, schedule: str = "fixed") -> float:
    """λ in a weighted epoch (1-based). ``fixed``: λ throughout, the reference's default.
    ``piecewise``: λ, then λ − 1 from 3/4 of the epochs and λ − 1.5 from 11/12 of them (the
    reference's Wide-ResNet steps at 90 and 110 of 120; its code tests the epoch ranges in an
    order that never reaches them, so there piecewise acts as fixed)."""
    if schedule == "piecewise":
        if epoch >= round(epochs * 11 / 12):
            return lambda_ - 1.5
        if epoch >= round(epochs * 3 / 4):
            return lambda_ - 1.0
    return lambda_


class Gairat(Method):
    """CE(f(x'), y)·w(κ), x' from cross-entropy PGD, κ counted in that same PGD run.

    ``kappa="all"`` (the default, as the reference code counts): κ is the number of the
    iterates x_0..x_{K−1} (x_0 the start) classified correctly, so an example fooled and
    then classified correctly again counts on. ``kappa="leading"``: only the iterates before
    the first fooling one count, the least fooling iteration the paper defines in words.
    The check of the final x_K is not made in either.

    Before ``begin_epoch`` (default: half of ``epochs``; 1 weights from the start, as advq
    did before it followed the reference) the loss is plain cross-entropy. Until the
    training loop calls ``start_epoch``, the weights apply with λ, so the loss can be
    used on its own.
    """

    def __init__(
        self,
        threat: Threat,
        lambda_: float = 0.0,
        begin_epoch: int | None = None,
        lambda_schedule: str = "fixed",
        epochs: int = 120,
        kappa: str = "all",
    ) -> None:
        super().__init__(threat)
        if lambda_schedule not in LAMBDA_SCHEDULES:
            raise ValueError(f"unknown GAIRAT λ schedule {lambda_schedule!r}: use {' or '.join(LAMBDA_SCHEDULES)}")
        if kappa not in KAPPA_COUNTS:
            raise ValueError(f"unknown GAIRAT κ count {kappa!r}: use {' or '.join(KAPPA_COUNTS)}")
        self.lambda_ = float(lambda_)
        self.epochs = int(epochs)
        self.begin_epoch = gairat_begin_epoch(self.epochs, begin_epoch)
        if self.begin_epoch < 1:
            raise ValueError(f"the GAIRAT begin epoch must be 1 or later, got {self.begin_epoch}")
        self.lambda_schedule = lambda_schedule
        self.kappa = kappa
        self.current_lambda: float | None = self.lambda_
        """λ of the weights in this epoch; None while the loss is plain cross-entropy."""

    def start_epoch(self, epoch: int) -> None:
        weighted = epoch >= self.begin_epoch
        self.current_lambda = gairat_lambda(epoch, self.epochs, self.lambda_, self.lambda_schedule) if weighted else None

    def attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x' and κ (int64, (B,)) from one cross-entropy PGD run with the training threat."""
        counting = torch.ones_like(y, dtype=torch.bool)
        kappa = torch.zeros_like(y, dtype=torch.int64)
        leading = self.kappa == "leading"

        def count(step: int, logits: torch.Tensor) -> None:
            correct = logits.argmax(1) == y
            kappa.add_(counting.logical_and_(correct) if leading else correct)

        return self.perturb(model, x, y, on_step=count), kappa

    def loss(self, model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor, kappa: torch.Tensor) -> MethodOutput:
        logits = model(x_adv)
        losses = F.cross_entropy(logits, y, reduction="none")
        if self.current_lambda is not None:
            # normalised per run: runs trained together stack their batches into one (random_streams)
            weights = [gairat_weights(k, self.threat.steps, self.current_lambda) for k in kappa.chunk(runs_in_batch())]
            losses = torch.cat(weights) * losses
        return MethodOutput(losses, logits.detach())

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> MethodOutput:
        x_adv, kappa = self.attack(model, x, y)
        return self.loss(model, x_adv, y, kappa)

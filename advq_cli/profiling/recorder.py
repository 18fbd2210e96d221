"""What profiling records during training, filled on the device batch by batch.

``EpochRecorder`` is the ``BatchObserver`` handed to ``TrainingRun.run_epoch``: for every
batch it scatters, by global training index, whether the logits under the training attack
classify the example correctly and the softmax probability of its true class. Nothing
leaves the device until ``take`` copies both rows once at the end of the epoch.
"""

from __future__ import annotations

import numpy as np
import torch

NOT_TRAINED = -1
"""``correct`` for an example outside the training subset (and for epochs not run yet)."""


class EpochRecorder:
    """One epoch's row of ``correct`` (int8) and ``true_prob`` (float16) for all N examples."""

    def __init__(self, n_examples: int, device: torch.device | str = "cpu") -> None:
        self.n_examples = int(n_examples)
        self.correct = torch.full((self.n_examples,), NOT_TRAINED, dtype=torch.int8, device=device)
        self.true_prob = torch.full((self.n_examples,), float("nan"), dtype=torch.float16, device=device)

    def _reset(self) -> None:
        """Forget the previous epoch: every example back to not-trained / NaN."""
        self.correct.fill_(NOT_TRAINED)
        self.true_prob.fill_(float("nan"))

    @torch.no_grad()
    def observe(self, indices: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Record one batch: ``indices`` (B,) global training indices, ``logits`` (B, K), ``labels`` (B,)."""
        logits = logits.detach().float()
        self.correct[indices] = (logits.argmax(1) == labels).to(torch.int8)
        true_prob = logits.softmax(1).gather(1, labels.view(-1, 1)).view(-1)
        self.true_prob[indices] = true_prob.to(torch.float16)

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's rows as numpy arrays (one device-to-host copy each), forgotten here for the next epoch."""
        rows = self.correct.to("cpu", copy=True).numpy(), self.true_prob.to("cpu", copy=True).numpy()
        self._reset()
        return rows

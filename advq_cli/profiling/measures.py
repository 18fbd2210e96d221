"""Per-example quality measures: the run record they read and the built-in functions.

A measure is a plugin (hook ``advq_register_measures``): ``compute(record: RunRecord)``
returns an array of shape (N,) over the whole training set, N = ``record.n_examples``.
Values outside the run's training subset are ignored (stored as NaN). Measures computed
from the record alone are cheap numpy on the host; those needing the best checkpoint
(``true_prob``, ``min_perturbation``) run batched on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..attacks.base import project_linf
from ..errors import AdvqError
from ..lookups import measure_entries
from .ranks import normalised_rank


@dataclass
class RunRecord:
    """One run of a profile, as measures see it.

    ``correct`` (E, N) int8: 1 correct under the training attack, 0 wrong, -1 not trained.
    ``true_prob`` (E, N) float16: true-class probability under that attack, NaN when not
    trained. ``best_epoch`` is 1-based (the epoch of the best robust checkpoint).
    ``trained`` (N,) bool marks the run's training subset; ``labels`` (N,) int64 are the
    labels of all N training examples. ``model()`` gives the best checkpoint's model in
    eval mode on ``device`` and ``images()`` the uint8 images (n, C, H, W) of the trained
    examples in ascending index order (``indices``), both loaded lazily and once.
    ``options`` holds the measures' options (``min_perturbation_max``, …).
    """

    correct: np.ndarray
    true_prob: np.ndarray
    best_epoch: int
    trained: np.ndarray
    labels: np.ndarray | None = None
    run_id: str = ""
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    device: torch.device | str = "cpu"
    batch_size: int = 512
    model_loader: Callable[[], nn.Module] | None = None
    images_loader: Callable[[], torch.Tensor] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.correct = np.asarray(self.correct, dtype=np.int8)
        self.true_prob = np.asarray(self.true_prob)
        self.trained = np.asarray(self.trained, dtype=bool)
        if self.correct.ndim != 2 or self.correct.shape != self.true_prob.shape:
            raise ValueError("correct and true_prob must both be (epochs, N)")
        if self.trained.shape != (self.correct.shape[1],):
            raise ValueError("trained must be (N,)")

    @property
    def epochs(self) -> int:
        return int(self.correct.shape[0])

    @property
    def n_examples(self) -> int:
        return int(self.correct.shape[1])

    @property
    def indices(self) -> np.ndarray:
        """The trained examples' indices, ascending."""
        return np.flatnonzero(self.trained)

    def expand(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        """Values of the trained examples (in ``indices`` order) → float64 (N,), NaN elsewhere."""
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        full = np.full(self.n_examples, np.nan)
        full[self.indices] = values
        return full

    def model(self) -> nn.Module:
        if "model" not in self._cache:
            if self.model_loader is None:
                raise AdvqError(f"Run {self.run_id or '?'}: this measure needs the best checkpoint, which is not available.")
            self._cache["model"] = self.model_loader().to(self.device).eval()
        return self._cache["model"]

    def images(self) -> torch.Tensor:
        if "images" not in self._cache:
            if self.images_loader is None:
                raise AdvqError(f"Run {self.run_id or '?'}: this measure needs the training images, which are not available.")
            images = self.images_loader()
            if len(images) != len(self.indices):
                raise ValueError("images_loader must give one image per trained example")
            self._cache["images"] = images.to(self.device)
        return self._cache["images"]

    def trained_labels(self) -> torch.Tensor:
        if self.labels is None:
            raise AdvqError(f"Run {self.run_id or '?'}: this measure needs the labels, which are not available.")
        return torch.as_tensor(np.asarray(self.labels)[self.indices], dtype=torch.int64, device=self.device)


# -- measures from the record ---------------------------------------------------------------


def instability(record: RunRecord) -> np.ndarray:
    """Learning instability: the number of epochs misclassified under the training attack."""
    return record.expand((record.correct[:, record.indices] == 0).sum(0))


def problem_rank(record: RunRecord) -> np.ndarray:
    """This run's instability rank / n in [0, 1), ties broken by example index (see ``ranks``)."""
    return normalised_rank(np.nan_to_num(instability(record)), record.trained)


def first_learned_epoch(record: RunRecord) -> np.ndarray:
    """The first epoch (1-based) correct under attack; ``epochs + 1`` when never."""
    learned = record.correct[:, record.indices] == 1
    first = np.where(learned.any(0), learned.argmax(0) + 1, record.epochs + 1)
    return record.expand(first)


def forgetting_events(record: RunRecord) -> np.ndarray:
    """Correct → wrong transitions between consecutive epochs (Toneva et al. 2019, under attack)."""
    c = record.correct[:, record.indices]
    return record.expand(((c[:-1] == 1) & (c[1:] == 0)).sum(0))


def confidence(record: RunRecord) -> np.ndarray:
    """Data-map confidence (Swayamdipta et al. 2020): mean over epochs of the true-class
    probability under the training attack."""
    return record.expand(record.true_prob[:, record.indices].astype(np.float64).mean(0))


def variability(record: RunRecord) -> np.ndarray:
    """Data-map variability: the standard deviation (ddof 0) over epochs of that probability."""
    return record.expand(record.true_prob[:, record.indices].astype(np.float64).std(0))


# -- measures from the best checkpoint --------------------------------------------------------


def true_prob(record: RunRecord) -> np.ndarray:
    """Prediction probability: the true class's softmax probability on the clean input, at the
    best robust checkpoint (the paper's appendix D.1)."""
    model, images, labels = record.model(), record.images(), record.trained_labels()
    out = torch.empty(len(labels), dtype=torch.float64, device=record.device)
    with torch.no_grad():
        for start in range(0, len(labels), record.batch_size):
            x = images[start : start + record.batch_size].float().div_(255)
            y = labels[start : start + record.batch_size]
            probs = model(x).float().softmax(1)
            out[start : start + len(y)] = probs.gather(1, y.view(-1, 1)).view(-1).double()
    return record.expand(out)


def minimal_linf_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, step: float, max_steps: int) -> torch.Tensor:
    """Untargeted I-FGSM with step ``step``: per example, the smallest k with the k-th iterate
    misclassified (0: already misclassified; ``max_steps`` also when never flipped).

    k signed-gradient steps of size ``step`` from x cannot leave the L∞ ball of radius
    k·step, so the k-th iterate of one trajectory is exactly I-FGSM at radius k·step with
    k steps: the sweep over radii 1..max_steps costs ``max_steps`` gradient steps. Examples
    leave the batch once flipped. The model should be in eval mode; x (B, C, H, W) in [0, 1].
    """
    steps = torch.full((len(y),), max_steps, dtype=torch.int64, device=x.device)
    active = torch.arange(len(y), device=x.device)
    x_adv = x.detach().clone()
    for k in range(max_steps + 1):
        if active.numel() == 0:
            break
        xa = x_adv[active].requires_grad_(k < max_steps)
        with torch.set_grad_enabled(k < max_steps):
            logits = model(xa)
        flipped = logits.argmax(1) != y[active]
        steps[active[flipped]] = k
        if k == max_steps:
            break
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y[active], reduction="sum"), xa)
        moved = project_linf(xa.detach() + step * grad.sign(), x[active], (k + 1) * step)
        keep = ~flipped
        active = active[keep]
        x_adv[active] = moved[keep]
    return steps


def min_perturbation(record: RunRecord) -> np.ndarray:
    """Minimum perturbation (appendix D.2): the smallest L∞ radius, in [0, 1] pixel units, at
    which untargeted I-FGSM with step 1/255 flips the best checkpoint's prediction; 0 when
    the clean input is already misclassified; the bound (``--min-perturbation-max``, 32/255
    by default) for an example never flipped.

    This differs from ART's minimal FGM, whose implementation the paper cites: that takes one
    gradient sign at x and grows the radius along it by 1/255, while advq re-takes the gradient
    at every 1/255 step (I-FGSM, as the paper's text names it: Kurakin et al. 2017). Following
    the loss as it bends gives a tighter upper bound of the true minimum, for one gradient per
    step instead of one in all: on a PGD-trained digits MLP (all 1,437 training images, bound
    32/255) it was smaller than minimal FGM's for 17.6% of the images, equal for 82.0%, larger
    for 0.4%."""
    step = float(record.options.get("min_perturbation_step", 1 / 255))
    max_steps = int(record.options.get("min_perturbation_steps", 32))
    model, images, labels = record.model(), record.images(), record.trained_labels()
    out = torch.empty(len(labels), dtype=torch.int64, device=record.device)
    for start in range(0, len(labels), record.batch_size):
        x = images[start : start + record.batch_size].float().div_(255)
        y = labels[start : start + record.batch_size]
        out[start : start + len(y)] = minimal_linf_steps(model, x, y, step, max_steps)
    return record.expand(out.double() * step)


BUILT_IN: dict[str, tuple[Callable[[RunRecord], np.ndarray], str]] = {
    "instability": (instability, "Epochs misclassified under the training attack (the paper's learning instability)"),
    "first_learned_epoch": (first_learned_epoch, "First epoch (1-based) correct under attack; epochs + 1 when never"),
    "forgetting_events": (forgetting_events, "Correct → wrong transitions between consecutive epochs, under attack"),
    "true_prob": (true_prob, "True-class probability on the clean input at the best robust checkpoint"),
    "min_perturbation": (
        min_perturbation,
        "Smallest L∞ radius flipping the best checkpoint (I-FGSM, step 1/255: a gradient per step, unlike ART's "
        "minimal FGM's one sign at x); the bound when never",
    ),
    "confidence": (confidence, "Data-map confidence: mean over epochs of the true-class probability under attack"),
    "variability": (variability, "Data-map variability: std over epochs of the true-class probability under attack"),
}


def storage_name(name: str) -> str:
    """A measure's name in the HDF5 file: registry names use dashes, datasets underscores
    (``min-perturbation`` → ``/quality/min_perturbation``), like ``problem_rank``."""
    return name.strip().lower().replace("-", "_")


def compute_measures(record: RunRecord, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every registered measure (or those named) of one run, keyed by ``storage_name``, as
    float64 (N,) with NaN outside the training subset. A measure returning another shape
    is refused, naming its plugin."""
    results: dict[str, np.ndarray] = {}
    for entry in measure_entries(names):
        if storage_name(entry.name) == "problem_rank":
            raise AdvqError(
                f"Plugin '{entry.plugin}' registers the measure '{entry.name}', a name advq reserves for the "
                f"averaged rank of instability; choose another name."
            )
        values = np.asarray(entry.obj(record), dtype=np.float64)
        if values.shape != (record.n_examples,):
            raise AdvqError(
                f"Measure '{entry.name}' from plugin '{entry.plugin}' returned shape {values.shape}, "
                f"expected ({record.n_examples},)."
            )
        values = values.copy()
        values[~record.trained] = np.nan
        results[storage_name(entry.name)] = values
    return results

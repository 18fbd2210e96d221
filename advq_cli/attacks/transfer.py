"""Transfer attack: PGD on a separately trained surrogate, applied to the target.

The paper (appendix F) uses it as a check free of the target's gradients: if the
target only masks its gradients, examples crafted on another robust model still fool it.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Attack
from .pgd import PGD


class Transfer(Attack):
    """Untargeted L∞ transfer attack: PGD on a surrogate model, applied to the target.

    Paper: the transfer setting of Papernot et al., "Practical black-box attacks against
    machine learning", 2017, https://arxiv.org/abs/1602.02697, as used in appendix F of
    Dong et al., https://arxiv.org/abs/2102.07437 (surrogate: the best PGD-AT checkpoint).
    Threat model: L∞ ball of radius ``eps`` intersected with [0, 1]; the target is only
    queried for its final prediction by the caller.

    Args: eps (radius in pixel units), surrogate (a model on [0, 1] images, such as
    ``advq_cli.load_model(checkpoint)``), steps (PGD iterations on the surrogate, default
    10), step_size (default eps/4), random_start (default True). The registered
    ``transfer`` attack loads the surrogate from the checkpoint `--surrogate` names.
    Shapes: x (B, C, H, W) in [0, 1], y (B,) → x_adv like x.
    Example: ``Transfer(eps=8/255, surrogate=load_model("runs/wrn/best.pt"))(model, x, y)``.
    """

    def __init__(
        self, eps: float, surrogate: nn.Module, steps: int = 10, step_size: float | None = None,
        random_start: bool = True,
    ) -> None:
        super().__init__(eps)
        self.surrogate = surrogate.eval()
        self.pgd = PGD(eps, steps=steps, step_size=step_size, random_start=random_start)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.pgd(self.surrogate.to(x.device), x, y)

"""The training threat model: L∞ radius, PGD iterations and step size."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Threat:
    eps: float = 8 / 255
    steps: int = 10
    step_size: float = 2 / 255
    random_start: bool = True
    norm: str = "linf"

    def __post_init__(self) -> None:
        if self.norm != "linf":
            raise ValueError(f"only the L∞ threat model is supported, not {self.norm!r}")
        if self.eps < 0 or self.steps < 0 or self.step_size < 0:
            raise ValueError("eps, steps and step size must be non-negative")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

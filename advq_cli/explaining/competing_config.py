"""The options of `advq explain competing`, apart from the work, so that `--help` reads them cheaply."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import parse_fraction, parse_int_list, parse_name_list, parse_optional_eps
from ..evaluation.config import DEFAULT_ATTACKS, parse_attack_names

TRAINING_OPTIONS = (
    "model", "method", "epochs", "milestones", "lr", "batch_size", "eps", "steps", "step_size", "eval_eps",
    "eval_step_size", "eval_steps", "eval_random_start", "eval_examples", "seed", "device", "data_dir",
)
"""`advq train`'s options a sub-run takes from the user; any not given is the profile's own."""


def _names(value: Any, what: str) -> list[str]:
    return parse_name_list(value)


def _ints_or_none(value: Any, what: str) -> list[int] | None:
    return None if value is None else parse_int_list(value, what)


@dataclass
class CompetingConfig:
    """The profile, one or two classes whose examples are added, the subsets' sizes, the
    two attacks of the gap, and the training options.

    ``core_fraction`` of the ranked examples form the class-balanced high-quality core;
    ``added_fraction`` of each chosen class is added. With ``controls`` the same numbers
    of the chosen classes' best examples outside the core are added too, as separate
    runs. Training options None keep the profile's own; ``n_examples`` None means the
    whole test set; ``out_dir`` None means ``<profile stem>-competing/`` beside it.
    ``attack_options`` (config file only) maps an attack to its plugin options.
    """

    profile: Path
    classes: list[str] | None = field(default=None, metadata={"parse": _names})
    out_dir: Path | None = None
    core_fraction: float = field(default=0.2, metadata={"parse": parse_fraction})
    added_fraction: float = field(default=0.1, metadata={"parse": parse_fraction})
    controls: bool = True
    attacks: list[str] = field(default_factory=lambda: list(DEFAULT_ATTACKS))
    n_examples: int | None = None
    attack_options: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    method: str | None = None
    epochs: int | None = None
    milestones: list[int] | None = field(default=None, metadata={"parse": _ints_or_none})
    lr: float | None = None
    batch_size: int | None = None
    eps: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    steps: int | None = None
    step_size: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    eval_eps: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    eval_step_size: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    eval_steps: int | None = None
    eval_random_start: bool | None = None
    eval_examples: int | None = None
    seed: int | None = None
    device: str | None = None
    data_dir: str | None = None
    wait: bool = False

    def __post_init__(self) -> None:
        if not self.classes:
            raise ValueError("--classes is needed: one or two classes whose examples are added, such as airplane,ship.")
        if len(self.classes) > 2:
            raise ValueError("--classes takes one or two classes (names or labels), such as airplane,ship.")
        self.attacks = parse_attack_names(self.attacks)
        if len(self.attacks) != 2:
            raise ValueError("--attacks takes two attacks, A,B: the gap is A's robust accuracy minus B's (pgd-10,autoattack).")
        self.profile = Path(self.profile)
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)
        if self.n_examples is not None and self.n_examples < 1:
            raise ValueError(f"--n-examples must be positive, got {self.n_examples}.")

    def training_options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in TRAINING_OPTIONS}

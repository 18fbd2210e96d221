"""The options of `advq explain sweep`, apart from the work, so that `--help` reads them cheaply."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import normalise_key, option_name, parse_fraction, parse_name_list, resolve
from ..errors import AdvqError
from ..evaluation.config import DEFAULT_ATTACKS, parse_attack_names
from ..training.config import TrainConfig

SET_BY_SWEEP = ("subset", "out", "overwrite")
"""Training options each sub-run gets from the sweep, never from the user."""


def _fractions(value: Any, what: str) -> list[float]:
    """`0.1,0.2,0.3` or a YAML list → distinct ascending fractions in (0, 1)."""
    fractions = [parse_fraction(v, what) for v in parse_name_list(value)]
    if not fractions:
        raise AdvqError(f"{what} needs at least one fraction, such as 0.1,0.2,0.3.")
    if len(set(fractions)) != len(fractions):
        raise AdvqError(f"{what} names a fraction more than once: '{value}'.")
    return sorted(fractions)


@dataclass
class SweepConfig:
    """The profile whose problem rank is removed from, the fractions, the seeds
    (``seed`` .. ``seed + repeats - 1``) and how every sub-run is evaluated.

    ``train`` holds the training options given (`advq train`'s long names, without
    --subset, --out and --overwrite, which the sweep sets per sub-run); any option not
    given is the profile's own. ``n_examples`` None means the whole test set; ``out_dir``
    None means ``<profile stem>-sweep/`` beside the profile.
    """

    profile: Path
    out_dir: Path | None = None
    fractions: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3], metadata={"parse": _fractions})
    repeats: int = 3
    seed: int = 0
    attacks: list[str] = field(default_factory=lambda: list(DEFAULT_ATTACKS), metadata={"parse": parse_attack_names})
    n_examples: int | None = None
    attack_options: dict[str, Any] = field(default_factory=dict)
    resume: bool = False
    train: dict[str, Any] = field(default_factory=dict)
    wait: bool = False

    def __post_init__(self) -> None:
        self.profile = Path(self.profile)
        self.out_dir = None if self.out_dir is None else Path(self.out_dir)
        if self.repeats < 1 or self.seed < 0:
            raise ValueError("--repeats must be positive and --seed non-negative.")
        if self.n_examples is not None and self.n_examples < 1:
            raise ValueError(f"--n-examples must be positive, got {self.n_examples}.")
        self.train = {normalise_key(k): v for k, v in self.train.items()}
        fixed = sorted(k for k in self.train if k in SET_BY_SWEEP)
        if fixed:
            raise ValueError(f"{', '.join(map(option_name, fixed))}: the sweep sets this for every sub-run itself.")
        resolve(TrainConfig, self.train, {})  # unknown or malformed training options fail here, before any work

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.repeats))


def resolve_sweep_config(file_values: dict[str, Any], cli_values: dict[str, Any]) -> SweepConfig:
    """Defaults < file < command line, where every key that is not the sweep's own is a training option."""
    own = {f.name for f in dataclasses.fields(SweepConfig)} - {"train"}

    def split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        keyed = {normalise_key(k): v for k, v in values.items()}
        return {k: v for k, v in keyed.items() if k in own}, {k: v for k, v in keyed.items() if k not in own}

    (file_own, file_train), (cli_own, cli_train) = split(file_values), split(cli_values)
    return resolve(SweepConfig, file_own, {**cli_own, "train": {**file_train, **cli_train}})

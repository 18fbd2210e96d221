"""The options of `advq evaluate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import normalise_key, parse_name_list, parse_optional_eps
from ..errors import AdvqError
from ..registry import normalise_name
from ..training.config import check_seed

# The two attacks the overestimation gap needs; the paper's full suite is
# pgd-10,pgd-1000,autoattack,square,rays,transfer (appendix F).
DEFAULT_ATTACKS = ("pgd-10", "autoattack")


def parse_attack_names(value: Any, what: str = "--attacks") -> list[str]:
    """`pgd-10,autoattack` or a YAML list → distinct normalised names (checked against the registry later)."""
    names = [normalise_name(n) for n in parse_name_list(value)]
    if not names:
        raise AdvqError(f"{what} needs at least one attack name, such as pgd-10,autoattack.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise AdvqError(f"{what} names {', '.join(repeated)} more than once.")
    return names


@dataclass
class EvaluateConfig:
    """Which checkpoint, which attacks at which ε, on how many test examples, and where results go.

    ``eps`` None means the checkpoint's evaluation threat (``evaluation_threat`` in the suite:
    the radius and step its early stopping used, 8/255 and 2/255 on the paper's datasets);
    ``step_size`` None means that threat's step, or ε/4 with a given ``eps``; the test PGD
    starts at x unless ``random_start`` (as the authors' code); ``n_examples`` None means
    the whole test set (its first N examples otherwise); ``out`` None means
    ``<checkpoint stem>-evaluation.h5`` beside the checkpoint; ``data_dir`` None means the
    folder the checkpoint was trained from. ``attack_options`` maps an attack name to
    the options its plugin takes (config file only, e.g. ``square: {n_queries: 1000}``).
    """

    checkpoint: Path
    attacks: list[str] = field(default_factory=lambda: list(DEFAULT_ATTACKS))
    eps: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    step_size: float | None = field(default=None, metadata={"parse": parse_optional_eps})
    random_start: bool = False
    n_examples: int | None = None
    batch_size: int = 256
    per_class: bool = False
    out: Path | None = None
    device: str | None = None
    resume: bool = False
    overwrite: bool = False
    wait: bool = False
    seed: int = 0
    surrogate: Path | None = None
    data_dir: str | None = None
    attack_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.checkpoint = Path(self.checkpoint)
        self.out = None if self.out is None else Path(self.out)
        self.surrogate = None if self.surrogate is None else Path(self.surrogate)
        self.attacks = parse_attack_names(self.attacks)
        if self.n_examples is not None and self.n_examples < 1:
            raise ValueError(f"--n-examples must be positive, got {self.n_examples}.")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be positive, got {self.batch_size}.")
        if self.resume and self.overwrite:
            raise ValueError("--resume and --overwrite exclude each other.")
        check_seed(self.seed)
        options: dict[str, dict[str, Any]] = {}
        for name, values in self.attack_options.items():
            if not isinstance(values, dict):
                raise ValueError(f"attack_options for '{name}' must be a mapping of option names to values.")
            options[normalise_name(name)] = {normalise_key(k): v for k, v in values.items()}
        self.attack_options = options

    @property
    def output_path(self) -> Path:
        return self.out if self.out is not None else self.checkpoint.with_name(f"{self.checkpoint.stem}-evaluation.h5")

    def options_for(self, name: str) -> dict[str, Any]:
        """The options given in the configuration for one attack."""
        return dict(self.attack_options.get(normalise_name(name), {}))

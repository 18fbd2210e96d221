"""The options of `advq curate`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..config import parse_fraction, parse_name_list
from ..errors import AdvqError
from .sources import PROBLEM_RANK
from .store import check_name


def _names(value: Any, what: str) -> list[str]:
    return parse_name_list(value)


def _existing(kind: str) -> Callable[[Any, str], Path]:
    """A source file checked as it is parsed, so that a missing one is the first complaint, not the rule or the name."""

    def parse(value: Any, what: str) -> Path:
        path = Path(value)
        if not path.is_file():
            raise AdvqError(f"{kind} not found: {path}.")
        return path

    return parse


@dataclass
class CurateConfig:
    """One source of ranks (a profile or an imported .npy), at most one rule, a name.

    Without --remove-lowest/--keep/--quantiles the set is every ranked example of
    ``classes``. Sets go to ``out``, or into the profile when ``out`` is not given.
    """

    profile: Path | None = field(default=None, metadata={"parse": _existing("File")})
    from_npy: Path | None = field(default=None, metadata={"parse": _existing("Rank file")})
    dataset: str | None = None
    data_dir: str | None = None
    rank: str = PROBLEM_RANK
    higher_is_worse: bool | None = None
    remove_lowest: float | None = field(default=None, metadata={"parse": parse_fraction})
    keep: int | None = None
    quantiles: int | None = None
    balanced: bool = False
    classes: list[str] | None = field(default=None, metadata={"parse": _names})
    baseline: str | None = None
    name: str | None = None
    seed: int = 0
    out: Path | None = None
    overwrite: bool = False
    wait: bool = False
    export: list[str] = field(default_factory=list, metadata={"parse": _names})
    export_dir: Path | None = None

    def __post_init__(self) -> None:
        if (self.profile is None) == (self.from_npy is None):
            raise ValueError("Give one source of ranks: PROFILE.h5, or --from-npy RANKS.npy --dataset NAME.")
        if self.from_npy is not None:
            if self.dataset is None or self.out is None:
                raise ValueError("--from-npy needs --dataset NAME and --out FILE.h5 for the sets.")
            if self.rank != PROBLEM_RANK or self.higher_is_worse is not None:
                raise ValueError("--rank and --higher-is-worse/--higher-is-better pick a measure of a PROFILE; "
                                 "--from-npy imports a problem rank.")
        if self.remove_lowest is not None:
            self.remove_lowest = parse_fraction(self.remove_lowest, "--remove-lowest")
        rules = [opt for opt, value in (("--remove-lowest", self.remove_lowest), ("--keep", self.keep),
                                        ("--quantiles", self.quantiles)) if value is not None]
        if len(rules) > 1:
            raise ValueError(f"Give one rule, not {' and '.join(rules)}.")
        if not rules and not self.classes:
            raise ValueError("Give a rule: --remove-lowest F, --keep N, --quantiles K, or --classes LIST.")
        if self.keep is not None and self.keep < 1:
            raise ValueError(f"--keep must be a positive number of examples, got {self.keep}.")
        if self.quantiles is not None and self.quantiles < 2:
            raise ValueError(f"--quantiles must be 2 or more, got {self.quantiles}.")
        if self.baseline not in (None, "random"):
            raise ValueError(f"Unknown --baseline '{self.baseline}': the only baseline is 'random'.")
        if self.seed < 0:
            raise ValueError(f"--seed must be non-negative, got {self.seed}.")
        if self.name is None:
            raise ValueError("Name the set with --name NAME.")
        check_name(self.name)
        if bool(self.export) != (self.export_dir is not None):
            raise ValueError("--export FORMAT and --export-dir DIR go together.")

    @property
    def target(self) -> Path:
        """Where the sets are stored: --out, else the profile itself."""
        return self.out if self.out is not None else self.profile  # type: ignore[return-value]

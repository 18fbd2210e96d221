"""The options of `advq profile`: the training options, plus repeats, the output file and
the measures' own options."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import parse_eps
from ..training.config import RESUMABLE_DIFFERENCES, TrainConfig, check_seed

PIXEL = 1 / 255
"""One grey level: the step of the minimum-perturbation search."""

SEQUENTIAL, PARALLEL, RAY = "sequential", "parallel", "ray"
EXECUTORS = (SEQUENTIAL, PARALLEL, RAY)
"""Where runs execute (``executors``); the choice never changes a result."""
DEFAULT_PARALLEL = 2
"""Runs at once with ``--executor parallel`` and no ``--parallel K``."""

# Options that may differ between an interrupted profile and its resumption. ``repeats``
# may grow: a larger --repeats with --resume adds runs to the file. How runs are executed
# changes nothing in them.
PROFILE_RESUMABLE_DIFFERENCES = RESUMABLE_DIFFERENCES | {
    "repeats", "executor", "parallel", "ray_address", "runs_together",
}


@dataclass
class ProfileConfig(TrainConfig):
    """``TrainConfig``'s fields (the paper's settings by default) and what profiling adds.

    Run k (k = 0..repeats-1) trains with seed ``seed + k``. ``out`` is the profile's HDF5
    file; the runs' checkpoints go to the folder ``<out>.runs`` beside it.

    ``executor`` (sequential, parallel or ray) says where runs execute; unset, it is
    parallel when ``parallel`` (runs at once) is above 1, else sequential.
    ``runs_together`` runs train in one pass as a stacked ensemble (``training.together``),
    groups of them going to the executor; 1 (each run alone, as before) by default.
    """

    out: Path = Path("runs/profile.h5")
    repeats: int = 10
    min_perturbation_max: float = field(default=32 / 255, metadata={"parse": parse_eps})
    executor: str | None = None
    parallel: int | None = None
    ray_address: str | None = None
    runs_together: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {self.repeats}.")
        check_seed(self.seed, self.seed + self.repeats - 1)
        if not self.min_perturbation_max > 0:
            raise ValueError("--min-perturbation-max must be positive (e.g. 32/255).")
        self._check_executor()

    def _check_executor(self) -> None:
        if self.runs_together < 1:
            raise ValueError(f"--runs-together must be at least 1, got {self.runs_together}.")
        if self.parallel is not None and self.parallel < 1:
            raise ValueError(f"--parallel must be at least 1, got {self.parallel}.")
        at_once = self.parallel or 1
        if self.executor is None:
            self.executor = PARALLEL if at_once > 1 else SEQUENTIAL
        if self.executor not in EXECUTORS:
            raise ValueError(f"Unknown --executor '{self.executor}': use {', '.join(EXECUTORS)}.")
        if self.executor == SEQUENTIAL and at_once > 1:
            raise ValueError(f"--parallel {at_once} runs several runs at once: use it with --executor parallel or ray.")
        if self.ray_address and self.executor != RAY:
            raise ValueError("--ray-address needs --executor ray.")

    @property
    def min_perturbation_steps(self) -> int:
        """The search's bound in whole 1/255 steps (rounded up, at least one)."""
        return max(1, math.ceil(self.min_perturbation_max * 255 - 1e-6))

    def seeds(self) -> list[int]:
        return [self.seed + k for k in range(self.repeats)]

    def run_config(self, seed: int, run_dir: Path) -> TrainConfig:
        """The training configuration of the run with this seed, checkpointing to ``run_dir``."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig)}
        values.update(seed=seed, out=run_dir, resume=False, overwrite=False)
        return TrainConfig(**values)

    def measure_options(self) -> dict[str, Any]:
        """What measures may read from ``RunRecord.options``."""
        return {
            "min_perturbation_max": self.min_perturbation_steps * PIXEL,
            "min_perturbation_steps": self.min_perturbation_steps,
            "min_perturbation_step": PIXEL,
        }

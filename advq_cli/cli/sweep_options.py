"""The options of `advq explain sweep`: its own and `advq train`'s shared training options,
less those the sweep sets for every sub-run itself (--subset, --overwrite)."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Annotated, Any, get_args

import typer

from ..config import load_config_file
from ..explaining.sweep_config import SET_BY_SWEEP, SweepConfig, resolve_sweep_config
from .configs import explicit_options
from .options import SHARED, with_training_options


def sweep_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``with_training_options`` without the options a sub-run never takes from the user, and
    without `advq train`'s defaults in the help: an option not given takes the profile's value."""
    wrapped = with_training_options(func)
    signature = inspect.signature(wrapped)
    kept = [
        _profile_default(p) if p.name in SHARED and p.name != "wait" else p  # --wait is the sweep's own
        for p in signature.parameters.values() if p.name not in SET_BY_SWEEP
    ]
    wrapped.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    wrapped.__annotations__ = {p.name: p.annotation for p in kept}
    return wrapped


def _profile_default(parameter: inspect.Parameter) -> inspect.Parameter:
    """The training option with its help saying where its default comes from (a copy: `advq train` keeps its own)."""
    hint, option = get_args(parameter.annotation)
    option = copy.copy(option)
    option.show_default = "the profile's"
    return parameter.replace(annotation=Annotated[hint, option])


def resolved_sweep_config(ctx: typer.Context) -> SweepConfig:
    """Defaults < the profile's training options < `--config FILE.yaml` < options typed on the command line."""
    return resolve_sweep_config(load_config_file(ctx.params.get("config")), explicit_options(ctx))

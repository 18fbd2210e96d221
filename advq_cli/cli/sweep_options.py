"""The options of `advq explain sweep`: its own and `advq train`'s shared training options,
less those the sweep sets for every sub-run itself (--subset, --overwrite)."""

from __future__ import annotations

import typer

from ..config import load_config_file
from ..explaining.sweep_config import SET_BY_SWEEP, SweepConfig, resolve_sweep_config
from .configs import explicit_options
from .options import SHARED, inherited, with_options

sweep_options = with_options({
    **inherited([name for name in SHARED if name not in SET_BY_SWEEP and name != "wait"], "the profile's"),
    "wait": SHARED["wait"],  # the sweep's own, not a sub-run's
})
"""The training options a sub-run takes from the user, an option not given taking the profile's value."""


def resolved_sweep_config(ctx: typer.Context) -> SweepConfig:
    """Defaults < the profile's training options < `--config FILE.yaml` < options typed on the command line."""
    return resolve_sweep_config(load_config_file(ctx.params.get("config")), explicit_options(ctx))

"""Shared figure chores: an off-screen figure of at least 1000×700 pixels, an atomic PNG
write, and reading back what the artists hold.

matplotlib is imported inside the functions so that `advq train` and the rest of the
command line do not pay for it. Figures are built on ``matplotlib.figure.Figure`` with the
Agg canvas directly rather than through pyplot: no display is needed, no global backend
is switched under a notebook's feet, and no figure lingers in pyplot's registry.

Each drawing function returns what its axes actually hold (read back from the artists),
so tests can check that a figure was drawn from the stored numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.collections import PathCollection
    from matplotlib.container import ErrorbarContainer
    from matplotlib.figure import Figure

DPI = 100
MIN_WIDTH_IN, MIN_HEIGHT_IN = 10.0, 7.0
"""At ``DPI``, the smallest figure is 1000×700 pixels."""

Drawn = dict[str, Any]
"""Arrays read back from a figure's artists, by what they show."""


def new_figure(width_in: float = 12.0, height_in: float = 8.0, **subplots: Any) -> tuple["Figure", Any]:
    """An Agg-backed figure (never smaller than 1000×700 px) and its subplots (``Figure.subplots`` arguments)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(width_in, MIN_WIDTH_IN), max(height_in, MIN_HEIGHT_IN)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(**subplots)


def save(figure: "Figure", path: Path) -> Path:
    """Write the PNG atomically (a reader never sees half a file); the size is the figure's, untrimmed."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI)
    return path


def points_of(collection: "PathCollection") -> np.ndarray:
    """(k, 2) x, y of a scatter's points as drawn."""
    return np.asarray(collection.get_offsets(), dtype=np.float64).reshape(-1, 2)


def errorbars_of(container: "ErrorbarContainer") -> Drawn:
    """x, y and the lower and upper end of each vertical error bar of an ``Axes.errorbar`` call."""
    line, _, bar_collections = container.lines
    segments = bar_collections[0].get_segments() if bar_collections else []
    return {
        "x": np.asarray(line.get_xdata(), dtype=np.float64),
        "y": np.asarray(line.get_ydata(), dtype=np.float64),
        "low": np.array([s[0][1] for s in segments], dtype=np.float64),
        "high": np.array([s[1][1] for s in segments], dtype=np.float64),
    }

"""advq: find the training examples that hurt adversarial training, and prove it.

The public Python API; the `advq` command line is a thin layer over it. Names that need
PyTorch are imported on first use (see ``lazy``), so importing advq is cheap.
"""

from __future__ import annotations

from .errors import AdvqError
from .hookspecs import Register, hookimpl
from .lazy import lazy_exports
from .version import __version__

# The public surface: the Python API, and what a plugin needs to implement every hook.
__getattr__, __dir__, _lazy_names = lazy_exports(__name__, {
    "load_model": ".checkpoint",
    "DatasetBundle": ".datasets",
    "get_dataset": ".lookups",
    "load_dataset": ".lookups",
    "Attack": ".attacks",
    "Method": ".methods",
    "MethodOutput": ".methods",
    "RunRecord": ".profiling",
    "EpochEvent": ".hookspecs",
    "Threat": ".threat",
})
__all__ = ["AdvqError", "Register", "__version__", "hookimpl", *_lazy_names]

"""advq: find the training examples that hurt adversarial training, and prove it.

The public Python API; the `advq` command line is a thin layer over it. Names that need
PyTorch are imported on first use (see ``lazy``), so importing advq is cheap.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import AdvqError
from .hookspecs import Register, hookimpl
from .lazy import lazy_exports

try:
    __version__ = version("advq")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

# The public surface: the Python API, and what a plugin needs to implement every hook.
__getattr__, __dir__, _lazy_names = lazy_exports(__name__, {
    "load_model": ".checkpoint",
    "DatasetBundle": ".datasets",
    "get_dataset": ".datasets",
    "load_dataset": ".datasets",
    "Attack": ".attacks",
    "Method": ".methods",
    "MethodOutput": ".methods",
    "RunRecord": ".profiling",
    "EpochEvent": ".events",
    "Threat": ".threat",
})
__all__ = ["AdvqError", "Register", "__version__", "hookimpl", *_lazy_names]

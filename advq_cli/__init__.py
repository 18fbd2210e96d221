"""advq: find the training examples that hurt adversarial training, and prove it.

The public Python API; the `advq` command line is a thin layer over it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .checkpoint import load_model
from .datasets import DatasetBundle, get_dataset, load_dataset
from .errors import AdvqError
from .hookspecs import hookimpl

try:
    __version__ = version("advq")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

__all__ = ["AdvqError", "DatasetBundle", "__version__", "get_dataset", "hookimpl", "load_dataset", "load_model"]

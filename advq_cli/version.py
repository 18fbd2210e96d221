"""advq's version, readable by any module without importing the package's public surface."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("advq")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

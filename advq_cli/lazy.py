"""Package namespaces that import their modules on first use.

`advq --help`, `--version` and shell completion must answer without importing PyTorch
(a second or more), so the packages the command line touches at start re-export their
public names lazily: ``advq_cli.training.train`` still works, and imports
``advq_cli.training.loop`` (and with it torch) only when first looked up.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``, whose public ``name`` lives in module ``exports[name]``.

    Module names are relative to the package (``".loop"``). A name once looked up is
    stored in the package, so later lookups cost nothing.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__, sorted(exports)

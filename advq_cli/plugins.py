"""The plugin manager: built-ins and third-party plugins travel the same road.

Environment variables:
- ``ADVQ_LOAD_PLUGINS``: comma-separated entry-point names to load (empty: none);
  unset loads every installed plugin.
- ``ADVQ_TRACE_PLUGINS``: when set, print every hook call (pluggy's tracing).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from functools import partial
from typing import Any
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from .registry import Registry

DEFAULT_PLUGINS = (
    "advq_cli.default_plugins.datasets",
    "advq_cli.default_plugins.models",
    "advq_cli.default_plugins.attacks",
    "advq_cli.default_plugins.methods",
    "advq_cli.default_plugins.measures",
    "advq_cli.default_plugins.exporters",
    "advq_cli.default_plugins.loggers",
)

KINDS = {
    "datasets": "dataset",
    "models": "model",
    "methods": "method",
    "attacks": "attack",
    "measures": "measure",
    "exporters": "exporter",
}

pm = pluggy.PluginManager(hookspecs.PROJECT)
pm.add_hookspecs(hookspecs)

_loaded = False
_registries: dict[str, Registry] = {}


def load_plugins() -> None:
    """Load installed entry-point plugins once, then the built-ins."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    if os.environ.get("ADVQ_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda message: sys.stderr.write(message))
        pm.enable_tracing()
    wanted = os.environ.get("ADVQ_LOAD_PLUGINS")
    if wanted is None:
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    else:
        allowed = {name.strip() for name in wanted.split(",") if name.strip()}
        for ep in entry_points(group=hookspecs.PROJECT):
            if ep.name in allowed and pm.get_plugin(ep.name) is None:
                pm.register(ep.load(), name=ep.name)
    for module_name in DEFAULT_PLUGINS:
        if pm.get_plugin(module_name) is None:
            pm.register(importlib.import_module(module_name), name=module_name)
    pm.check_pending()


def registry(kind: str) -> Registry:
    """The registry of one kind ('models', 'attacks', …), built on first use."""
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind {kind!r}")
    if kind not in _registries:
        load_plugins()
        reg: Registry = Registry(KINDS[kind])
        for plugin_name, call in callers_by_plugin(f"advq_register_{kind}"):
            call(register=partial(_register, reg, plugin_name))
        _registries[kind] = reg
    return _registries[kind]


def callers_by_plugin(hook_name: str) -> list[tuple[str, Callable[..., Any]]]:
    """(plugin name, a caller of ``hook_name`` for that plugin alone) for each implementation, in pluggy's order.

    Each call goes through pluggy (its tracing and monitoring see it), one plugin at a time,
    so that what a plugin registers is credited to it and one plugin's failure does not
    silence the others.
    """
    load_plugins()
    impls = list(reversed(getattr(pm.hook, hook_name).get_hookimpls()))
    everyone = {impl.plugin for impl in impls}
    return [
        (impl.plugin_name, pm.subset_hook_caller(hook_name, remove_plugins=everyone - {impl.plugin}))
        for impl in impls
    ]


def _register(reg: Registry, plugin: str, name: str, obj: object, description: str = "") -> None:
    reg.add(name, obj, plugin=plugin, description=description)


def register_plugin(plugin: object, name: str | None = None) -> str:
    """Register a plugin object at run time (tests, notebooks); registries are rebuilt."""
    load_plugins()
    registered = pm.register(plugin, name=name)
    _registries.clear()
    return registered


def unregister_plugin(name: str) -> None:
    pm.unregister(name=name)
    _registries.clear()


def plugin_names() -> list[str]:
    load_plugins()
    return sorted(name for name, _ in pm.list_name_plugin())

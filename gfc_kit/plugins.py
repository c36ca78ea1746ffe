"""Plugin loading: built-ins and installed entry points, registered through one pluggy manager.

Loading is lazy (the first ``create`` or listing builds the registry, never ``import gfc_kit``)
and restrictable, as in ``llm``:

- ``GFC_KIT_DISABLE_PLUGINS=1`` loads the built-ins only (the test suite sets it);
- ``GFC_KIT_PLUGINS=a,b`` loads only the entry points named ``a`` and ``b``.

We import entry points ourselves rather than with ``pm.load_setuptools_entrypoints`` so that a
plugin that fails to import is reported by its entry-point name, and we call each
``gfc_register`` implementation ourselves so that every component records which plugin added it.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from gfc_kit import hookspecs
from gfc_kit.errors import PluginLoadError, RegistrationError
from gfc_kit.registry import Registry

BUILTIN_PLUGINS = (
    "gfc_kit.components.datasets.synthetic_faces",
    "gfc_kit.components.datasets.celeba",
    "gfc_kit.components.datasets.image_folder",
    "gfc_kit.components.datasets.parsing_folder",
    "gfc_kit.components.masks.boxes",
    "gfc_kit.components.masks.free_form",
    "gfc_kit.components.masks.mask_folder",
    "gfc_kit.components.networks.generator",
    "gfc_kit.components.networks.discriminators",
    "gfc_kit.components.networks.parsers",
    "gfc_kit.components.losses",
    "gfc_kit.components.completers",
    "gfc_kit.components.metrics",
)
"""Modules whose ``gfc_register`` adds the built-in components (the same hook plugins use)."""

_sources: dict[str, str] = {}
"""Plugin name → where it came from (``built-in`` or ``distribution version``)."""


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager with built-ins and the allowed entry points registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for module in BUILTIN_PLUGINS:
        _register(pm, importlib.import_module(module), module, "built-in")
    _load_entry_points(pm, os.environ)
    _check_pending(pm)
    return pm


@functools.cache
def registry() -> Registry:
    """The registry every built-in and loaded plugin filled through ``gfc_register``."""
    pm = plugin_manager()
    reg = Registry()
    for impl in reversed(pm.hook.gfc_register.get_hookimpls()):  # pluggy's own call order
        source = _sources.get(impl.plugin_name, impl.plugin_name)
        try:
            with reg.adding_as(source):
                impl.function(*(reg for _ in impl.argnames))
        except RegistrationError:
            raise
        except Exception as exc:
            raise PluginLoadError(
                f"plugin {source!r} failed in gfc_register: {type(exc).__name__}: {exc}") from exc
    return reg


def register(plugin: Any, name: str) -> None:
    """Register a plugin object or module at run time (tests, notebooks); the registry is rebuilt."""
    pm = plugin_manager()
    _register(pm, plugin, name, name)
    try:
        _check_pending(pm)
    except RegistrationError:
        unregister(name)
        raise
    registry.cache_clear()


def unregister(name: str) -> None:
    """Remove a plugin registered with :func:`register`; the registry is rebuilt."""
    plugin_manager().unregister(name=name)
    _sources.pop(name, None)
    registry.cache_clear()


def reset() -> None:
    """Forget the plugin manager and registry, so the next use reloads them (e.g. after an env change)."""
    registry.cache_clear()
    plugin_manager.cache_clear()
    _sources.clear()


def _check_pending(pm: pluggy.PluginManager) -> None:
    """pluggy accepts an implementation with no spec, so a misspelt hook would be ignored: refuse it."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise RegistrationError(f"plugin {pm.get_name(exc.plugin)!r}: {exc}") from None


def _register(pm: pluggy.PluginManager, plugin: Any, name: str, source: str) -> None:
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise RegistrationError(f"plugin {name!r}: {exc}") from None
    _sources[name] = source


def _load_entry_points(pm: pluggy.PluginManager, env: Mapping[str, str]) -> None:
    if env.get("GFC_KIT_DISABLE_PLUGINS", "").strip() in ("1", "true", "yes"):
        return
    wanted = {n.strip() for n in env.get("GFC_KIT_PLUGINS", "").split(",") if n.strip()}
    found = list(entry_points(group=hookspecs.PROJECT))
    missing = wanted - {ep.name for ep in found}
    if missing:
        raise PluginLoadError(
            f"GFC_KIT_PLUGINS names {', '.join(sorted(missing))} but no installed plugin has that "
            f"entry point; installed: {', '.join(sorted(ep.name for ep in found)) or 'none'}")
    for ep in found:
        if (not wanted or ep.name in wanted) and pm.get_plugin(ep.name) is None:
            _register(pm, _import(ep), ep.name, _distribution(ep))


def _import(ep: EntryPoint) -> Any:
    try:
        return ep.load()
    except Exception as exc:
        raise PluginLoadError(
            f"plugin {ep.name!r} ({_distribution(ep)}, entry point {ep.value!r}) failed to import: "
            f"{type(exc).__name__}: {exc}; uninstall it, or set GFC_KIT_PLUGINS to the plugins you want"
        ) from exc


def _distribution(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else ep.name

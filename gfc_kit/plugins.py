"""Plugin loading: built-ins and installed entry points, registered through one pluggy manager.

Loading is lazy (the first ``create`` or listing builds the registry, never ``import gfc_kit``)
and restrictable, as in ``llm``:

- ``GFC_KIT_DISABLE_PLUGINS=1`` loads the built-ins only (the test suite sets it);
- ``GFC_KIT_PLUGINS=a,b`` loads only the entry points named ``a`` and ``b``;
- ``GFC_KIT_BLOCK=a,b`` blocks the plugins (entry points) and callbacks named ``a`` and ``b``
  (e.g. ``progress``, to replace the progress display with a plugin's).

A plugin that fails to import or to register, and a name two plugins register, are problems of
that plugin or name only: they are reported (a warning, ``gfc-kit plugins``, and the error when
the name is used), and every other component keeps working.

We import entry points ourselves rather than with ``pm.load_setuptools_entrypoints`` so that a
plugin that fails to import is reported by its entry-point name, and we call each
``gfc_register`` implementation ourselves so that every component records which plugin added it.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
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
    "gfc_kit.components.masks.mixture",
    "gfc_kit.components.networks.generator",
    "gfc_kit.components.networks.backbones",
    "gfc_kit.components.networks.discriminators",
    "gfc_kit.components.views",
    "gfc_kit.components.networks.parsers",
    "gfc_kit.components.losses",
    "gfc_kit.components.completers",
    "gfc_kit.components.refiners",
    "gfc_kit.components.blenders",
    "gfc_kit.components.metrics",
    "gfc_kit.models",
    "gfc_kit.training.stages",
    "gfc_kit.training.callbacks",
    "gfc_kit.commands.builtin",
)
"""Modules whose ``gfc_register`` adds the built-in components (the same hook plugins use)."""

log = logging.getLogger("gfc_kit.plugins")

_sources: dict[str, str] = {}
"""Plugin name → where it came from (``built-in`` or ``distribution version``)."""

_problems: list[str] = []
"""Plugins that failed to import or to register, one line each."""
_warned: set[str] = set()
"""Problems already logged: each is a warning once per process."""
commands_of: dict[str, list[str]] = {}
"""Plugin name → the subcommands its ``gfc_register_commands`` added (filled by the CLI)."""


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager with built-ins and the allowed entry points registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked(os.environ):
        pm.set_blocked(name)
    for module in BUILTIN_PLUGINS:
        _register(pm, importlib.import_module(module), module, "built-in")
    _load_entry_points(pm, os.environ)
    return pm


def hooks() -> pluggy.HookRelay:
    """The hook caller: ``hooks().gfc_row_logged(run=..., row=...)``."""
    return plugin_manager().hook


@functools.cache
def registry() -> Registry:
    """The registry every built-in and loaded plugin filled through ``gfc_register``."""
    pm = plugin_manager()
    reg = Registry()
    for impl in reversed(pm.hook.gfc_register.get_hookimpls()):  # pluggy's own call order
        source = _sources.get(impl.plugin_name, impl.plugin_name)
        try:
            with reg.all_or_nothing(), reg.adding_as(source, impl.plugin_name):
                impl.function(**call_arguments(impl, registry=reg))
        except Exception as exc:
            if _sources.get(impl.plugin_name) == "built-in":
                raise  # a bug in gfc-kit itself
            what = str(exc) if isinstance(exc, RegistrationError) else f"{type(exc).__name__}: {exc}"
            _problem(f"plugin {source!r} failed in gfc_register: {what}")
    for line in reg.refused:
        _problem(line)
    reg.problems = [*_problems, *reg.clashes()]
    for line in reg.problems:  # once per process: gfc-kit prints them as "warning: ..." lines
        if line not in _warned:
            _warned.add(line)
            log.warning("%s", line)
    return reg


def call_arguments(impl: pluggy.HookImpl, **available: Any) -> dict[str, Any]:
    """The keyword arguments a hook implementation takes, out of those a spec offers: pluggy's
    rule (an implementation may take fewer), for hooks gfc-kit calls one implementation at a time."""
    return {name: available[name] for name in impl.argnames}


def problems() -> list[str]:
    """Every plugin problem found so far: failed imports and registrations, clashing names."""
    return registry().problems


def _problem(line: str) -> None:
    """Record a plugin problem; :func:`registry` warns of each once."""
    if line not in _problems:
        _problems.append(line)


@dataclass
class PluginSummary:
    """What one plugin brings, for ``gfc-kit plugins``."""

    name: str
    """Its entry-point name (what ``GFC_KIT_PLUGINS`` and ``GFC_KIT_BLOCK`` take)."""
    source: str
    components: list[str]
    callbacks: list[str]
    """Its callbacks (kind ``callback``), which a recipe configures or turns off."""
    hooks: list[str]
    """The lifecycle hooks its module implements itself (on whenever the plugin is)."""
    commands: list[str]
    models: list[str]


def plugin_summaries() -> list[PluginSummary]:
    """Every registered plugin, built-ins first, with its components (``kind:name``), its
    callbacks, the lifecycle hooks its module implements, its subcommands and its models."""
    pm, reg = plugin_manager(), registry()
    summaries = []
    for name, plugin in pm.list_name_plugin():
        hooks_of = sorted(c.name for c in pm.get_hookcallers(plugin) or []
                          if c.name not in ("gfc_register", "gfc_register_commands"))
        components = [e for e in reg if reg.plugin_of(e.kind, e.name) == name]
        summaries.append(PluginSummary(
            name, _sources.get(name, name), [f"{e.kind}:{e.name}" for e in components],
            [e.name for e in components if e.kind == "callback"], hooks_of, commands_of.get(name, []), [m.name for m in reg.models() if reg.plugin_of("model", m.name) == name]))
    return sorted(summaries, key=lambda s: (s.source != "built-in", s.name))


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
    _problems.clear()
    _warned.clear()


def plugins_disabled(env: Mapping[str, str] = os.environ) -> bool:
    """Whether ``GFC_KIT_DISABLE_PLUGINS`` turns installed plugins off (``1``, ``true``, ``yes``,
    ``on``, any case) or not (unset, empty, ``0``, ``false``, ``no``, ``off``); any other value is
    an error, never silently read as "enabled"."""
    value = env.get("GFC_KIT_DISABLE_PLUGINS", "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise PluginLoadError(f"GFC_KIT_DISABLE_PLUGINS={env['GFC_KIT_DISABLE_PLUGINS']!r}: use 1 to load only the "
                          "built-ins, or 0 (or leave it unset) to load installed plugins")


def installed_entry_points(env: Mapping[str, str] = os.environ) -> list[EntryPoint]:
    """The ``gfc_kit`` entry points that would be loaded (none with ``GFC_KIT_DISABLE_PLUGINS=1``)."""
    if plugins_disabled(env):
        return []
    return list(entry_points(group=hookspecs.PROJECT))


def blocked(env: Mapping[str, str] = os.environ) -> list[str]:
    """The names ``GFC_KIT_BLOCK`` blocks: plugins' entry points, and callbacks."""
    return [n.strip() for n in env.get("GFC_KIT_BLOCK", "").split(",") if n.strip()]


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
    if plugins_disabled(env):
        return
    wanted = {n.strip() for n in env.get("GFC_KIT_PLUGINS", "").split(",") if n.strip()}
    found = list(entry_points(group=hookspecs.PROJECT))
    missing = wanted - {ep.name for ep in found}
    if missing:
        raise PluginLoadError(
            f"GFC_KIT_PLUGINS names {', '.join(sorted(missing))} but no installed plugin has that "
            f"entry point; installed: {', '.join(sorted(ep.name for ep in found)) or 'none'}")
    for ep in found:
        if (not wanted or ep.name in wanted) and pm.get_plugin(ep.name) is None and not pm.is_blocked(ep.name):
            plugin = _import(ep)
            if plugin is None:
                continue
            try:
                _register(pm, plugin, ep.name, _distribution(ep))
                _check_pending(pm)
            except RegistrationError as exc:
                pm.unregister(name=ep.name)
                _problem(str(exc))


def _import(ep: EntryPoint) -> Any:
    """The entry point's module, or ``None`` (and a reported problem) when it fails to import."""
    try:
        return ep.load()
    except (Exception, SystemExit) as exc:  # a plugin's sys.exit on import must not end every command
        _problem(f"plugin {ep.name!r} ({_distribution(ep)}, entry point {ep.value!r}) failed to import: "
                 f"{type(exc).__name__}: {exc}; uninstall it, or set GFC_KIT_PLUGINS to the plugins you want")
        return None


def _distribution(ep: EntryPoint) -> str:
    dist = ep.dist
    return f"{dist.name} {dist.version}" if dist is not None else ep.name

"""Hook specifications: the only places where gfc-kit calls into plugins.

Built-in components register through the same hooks as third-party ones. A plugin module
implements a hook by defining a function of the same name marked with :data:`hookimpl`; an
implementation may take fewer arguments than its spec, so specs can grow without breaking it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from gfc_kit.registry import Registry

PROJECT = "gfc_kit"
"""The pluggy project name, which is also the entry-point group plugins publish under."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gfc_register(registry: Registry) -> None:
    """Add this plugin's components with ``registry.add(kind, name, factory)``.

    Called once per process, the first time a component is created or listed; every
    implementation runs, each with the same registry, and their order does not matter because
    a ``(kind, name)`` can be registered only once (a clash is an error naming both plugins).

    :param registry: the :class:`gfc_kit.registry.Registry` to add to. ``kind`` is one of
        ``Registry.KINDS``; ``name`` is lower snake_case; ``factory`` is a class or function whose
        keyword parameters are all type-annotated: they are the component's recipe keys.
    :return: nothing.
    """

"""Build components by name: ``create`` for Python users, ``build`` for recipes (timm's factory)."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from gfc_kit.errors import GfcError, RecipeError
from gfc_kit.plugins import registry
from gfc_kit.registry import Entry, built_class, missing_methods, params_model, protocol, validate_params


def create(kind: str, name: str, **params: Any) -> Any:
    """Build the ``kind`` component registered as ``name``, its params validated as in a recipe.

    >>> sampler = create("mask_sampler", "random_square", size=32)
    """
    entry = registry().get(kind, name)
    return _checked(entry, entry.factory(**validate_params(entry.factory, params, (name,))), name)


def list_components(kind: str | None = None, pattern: str = "*") -> list[str]:
    """``kind:name`` of every registered component, optionally filtered by kind and a wildcard."""
    return [f"{e.kind}:{e.name}" for e in registry() if kind in (None, e.kind) and fnmatch(e.name, pattern)]


def build(kind: str, spec: dict[str, Any], path: tuple = (), **context: Any) -> Any:
    """Build a component from a recipe entry ``{type: name, ...}`` found at recipe ``path``.

    ``context`` holds recipe-wide values (e.g. ``image_size``) given to factories that take a
    parameter of that name when the entry does not set it.
    """
    entry = registry().get(kind, spec["type"], ".".join(map(str, (*path, "type"))))
    params = {k: v for k, v in spec.items() if k != "type"}
    checked = validate_params(entry.factory, fill_context(entry.factory, params, context), path)
    try:
        built = entry.factory(**checked)
    except RecipeError:
        raise
    except (GfcError, ValueError) as exc:  # bad input found by the component itself: name where it came from
        raise GfcError(f"{_culprit(path, params, str(exc))}: {exc}") from None
    return _checked(entry, built, ".".join(map(str, path)))


def _checked(entry: Entry, built: Any, where: str) -> Any:
    """``built``, once it has the methods of its kind's protocol. The registry checked a class
    factory, or one whose return annotation names a class; for any other function factory this
    is the first moment the object is known, and a missing method fails here, naming ``where``
    (the recipe path), not with a traceback at first use."""
    if built_class(entry.factory) is None:
        missing = missing_methods(protocol(entry.kind, entry.factory), type(built))
        if missing:
            raise GfcError(f"{where}: {entry.kind} {entry.name!r} (from {entry.source}) built a "
                           f"{type(built).__name__} without {' and '.join(missing)} (see gfc_kit.interfaces)")
    return built


def _culprit(path: tuple, params: dict[str, Any], message: str) -> str:
    """The recipe path to blame: ``data.train.root`` when the message names that key's value."""
    matches = [(len(str(v)), key) for key, value in params.items()
               for v in (value if isinstance(value, list) else [value])
               if isinstance(v, (str, Path)) and str(v) and str(v) in message]
    if matches:  # the longest: a file inside the root folder is named by its own key
        return ".".join(map(str, (*path, max(matches)[1])))
    return ".".join(map(str, path))


def fill_context(factory: Any, params: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """``params`` plus the ``context`` values that ``factory`` accepts and ``params`` leaves unset."""

    fields = params_model(factory).model_fields
    return {**{k: v for k, v in context.items() if k in fields and k not in params}, **params}

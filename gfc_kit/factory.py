"""Build components by name: ``create`` for Python users, ``build`` for recipes (timm's factory)."""

from __future__ import annotations

import inspect

from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from gfc_kit.errors import GfcError, RecipeError
from gfc_kit.plugins import registry
from gfc_kit.registry import params_model, validate_params


def create(kind: str, name: str, **params: Any) -> Any:
    """Build the ``kind`` component registered as ``name``, its params validated as in a recipe.

    >>> sampler = create("mask_sampler", "random_square", size=32)
    """
    entry = registry().get(kind, name)
    return entry.factory(**validate_params(entry.factory, params, (name,)))


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
        return entry.factory(**checked)
    except RecipeError:
        raise
    except (GfcError, ValueError) as exc:  # bad input found by the component itself: name where it came from
        raise GfcError(f"{_culprit(path, params, str(exc))}: {exc}") from None


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


def _top_level_split(text: str) -> list[str]:
    """``text`` split at the commas outside brackets, so ``a=1,b=[2, 3]`` is two pairs."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def parse_spec(text: str, where: str, kind: str | None = None) -> dict[str, Any]:
    """A component spec written on the command line, as a recipe entry ``{type: name, ...}``:
    ``name``, ``name:key=value,key=value`` (values read as YAML), ``name:PATH`` (= ``root=PATH``)
    or a YAML flow mapping ``{type: name, key: value}``. ``where`` names the option in errors;
    with ``kind``, a ``name:PATH`` for a component that takes no ``root`` is refused here, as the
    malformed ``key=value`` it most likely is."""
    import yaml

    text = text.strip()
    if text.startswith("{"):
        try:
            spec = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise GfcError(f"{where}: {text!r} is not a YAML mapping ({str(exc).splitlines()[0]})") from None
        if not isinstance(spec, dict) or "type" not in spec:
            raise GfcError(f"{where}: {text!r} needs a 'type' key")
        return spec
    name, colon, rest = text.partition(":")
    if not name.strip():
        raise GfcError(f"{where}: {text!r} needs a component name before the ':'" if colon else
                       f"{where}: give a component name")
    if not rest:
        return {"type": name}
    if "=" not in rest:
        if kind is not None and not _takes_root(kind, name):
            raise GfcError(f"{where}: {rest!r} in {text!r} is not key=value ({name} takes no path; "
                           f"write {name}:KEY=VALUE,...)")
        return {"type": name, "root": rest}
    spec: dict[str, Any] = {"type": name}
    for pair in _top_level_split(rest):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise GfcError(f"{where}: {pair!r} in {text!r} is not key=value")
        if not value.strip():
            raise GfcError(f"{where}: {pair!r} in {text!r} has no value after '='")
        spec[key.strip()] = yaml.safe_load(value)
    return spec


def _takes_root(kind: str, name: str) -> bool:
    """Whether the ``kind`` component ``name`` has a ``root`` parameter (unknown names pass: their
    own error, listing the known ones, comes when they are built)."""
    try:
        factory = registry().get(kind, name).factory
    except GfcError:
        return True
    return "root" in inspect.signature(factory).parameters

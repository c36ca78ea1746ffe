"""Reading a recipe: the file (or a built-in recipe by name), its ``base:`` chain deep-merged
under it, ``--set`` overrides, gfc-kit 0.1 keys upgraded; then :func:`validate` checks it, and the
relative paths each file wrote are anchored to that file's folder."""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, get_args

import yaml
from pydantic import BaseModel

from gfc_kit.errors import GfcError
from gfc_kit.plugins import registry
from gfc_kit.recipe.checking import validate
from gfc_kit.recipe.schema import Recipe, Spec
from gfc_kit.registry import params_model

log = logging.getLogger("gfc_kit.recipe")

PACKAGED_RECIPES = Path(__file__).parents[1] / "recipes"
"""The built-in recipes inside an installed wheel."""
SOURCE_RECIPES = Path(__file__).parents[2] / "recipes"
"""The built-in recipes of a source checkout (an editable install)."""


def load(recipe: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read, merge, override and validate a recipe file (or the name of a built-in recipe).

    A relative path a recipe file writes (any parameter or key typed as a path) resolves against
    that file's folder, a base's against the base's, so a recipe means the same from any working
    folder. Relative to the working folder, as on any command line: ``--set`` values, defaults,
    ``output``, and the built-in recipes' paths (they live inside gfc-kit, nowhere near your data).
    """
    path = find(recipe)
    data = _read(path)
    for override in overrides:
        apply_override(data, override)
    plain, folders = _untag(data)
    loaded = validate(plain, source=str(path))
    _anchor_paths(loaded, folders, ())
    return loaded


def find(recipe: str | Path) -> Path:
    """A recipe path as given, or a built-in recipe by name (``quickstart``, ``gfc_cvpr17.yaml``)."""
    path = Path(recipe)
    if path.is_file():
        return path
    if path.is_dir():
        raise GfcError(f"{recipe}: is a folder, not a recipe file; give a .yaml file")
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    for folder in (PACKAGED_RECIPES, SOURCE_RECIPES):
        if len(path.parts) == 1 and (folder / name).is_file():
            return folder / name
    known = ", ".join(builtin_recipes()) or "none"
    raise GfcError(f"{recipe}: no such recipe file (built-in recipes: {known})")


def builtin_recipes() -> list[str]:
    """Names of the recipes that ship with gfc-kit."""
    for folder in (PACKAGED_RECIPES, SOURCE_RECIPES):
        if folder.is_dir():
            return sorted(p.stem for p in folder.glob("*.yaml"))
    return []


def read(path: Path) -> dict[str, Any]:
    """The recipe at ``path`` as a plain dict, with its ``base:`` (and the base's base…) merged in."""
    return _untag(_read(path))[0]


@dataclass(frozen=True)
class _Written:
    """A string a recipe file wrote, with the folder its relative paths resolve against (so a value
    keeps its file's folder through ``base:`` merging and ``--set``)."""

    text: str
    folder: Path


def _read(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """:func:`read`, each string a user's file wrote kept as a :class:`_Written` (the built-in
    recipes' stay plain: relative to the working folder)."""
    data = upgrade(_read_yaml(path), path)
    base = data.pop("base", None)
    if not _is_builtin(path):
        data = _tag(data, path.parent.resolve())
    if base is None:
        return data
    base_path = (path.parent / str(base)).resolve()
    if not base_path.is_file() and len(Path(str(base)).parts) == 1 and str(base) in builtin_recipes() + [
            f"{name}.yaml" for name in builtin_recipes()]:
        base_path = find(str(base)).resolve()  # a built-in recipe by name (how a plugin's recipe builds on ours)
    if not base_path.is_file():
        raise GfcError(f"{path}: base: {base} not found (looked for {base_path}; built-in recipes: "
                       f"{', '.join(builtin_recipes())})")
    seen = (*_seen, path.resolve())
    if base_path in seen:
        raise GfcError(f"{path}: base: {base} makes a cycle ({' -> '.join(p.name for p in (*seen, base_path))})")
    return merge(_read(base_path, seen), data)


def _is_builtin(path: Path) -> bool:
    """Whether ``path`` is one of gfc-kit's own recipes (however it was named)."""
    return any(path.resolve().is_relative_to(folder.resolve()) for folder in (PACKAGED_RECIPES, SOURCE_RECIPES))


def _tag(value: Any, folder: Path) -> Any:
    """``value`` with each string, except a component's ``type``, as written in ``folder``."""
    if isinstance(value, dict):
        return {k: v if k == "type" else _tag(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag(v, folder) for v in value]
    return _Written(value, folder) if isinstance(value, str) else value


def _untag(value: Any, where: tuple = ()) -> tuple[Any, dict[tuple, Path]]:
    """``value`` as plain data, and the folder of each string a file wrote, by its recipe path."""
    if isinstance(value, _Written):
        return value.text, {where: value.folder}
    folders: dict[tuple, Path] = {}
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
    if items is None:
        return value, folders
    plain = {} if isinstance(value, dict) else []
    for key, item in items:
        item, inner = _untag(item, (*where, key))
        folders |= inner
        if isinstance(plain, dict):
            plain[key] = item
        else:
            plain.append(item)
    return plain, folders


def _anchor_paths(model: Any, folders: dict[tuple, Path], where: tuple) -> None:
    """Make each relative path in the validated recipe ``model`` that a file wrote (``folders``:
    recipe path → that file's folder) absolute against that folder, in place; ``output`` and
    the rest stay as given. Which values are paths: a component's by its factory's signature,
    a section's by the schema."""
    if isinstance(model, Spec):
        entry = registry().get(model.kind, model.type)
        model.__pydantic_extra__ = _resolve_params(entry.factory, model.params, folders, where)
    if isinstance(model, BaseModel):
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            if where + (name,) != ("output",) and _is_path_type(field.annotation):
                setattr(model, name, _anchored(value, folders, (*where, name)))
            else:
                _anchor_paths(value, folders, (*where, name))
    elif isinstance(model, dict):
        for key, value in model.items():
            _anchor_paths(value, folders, (*where, key))
    elif isinstance(model, list):
        for index, value in enumerate(model):
            _anchor_paths(value, folders, (*where, index))


def _resolve_params(factory: Any, params: dict[str, Any], folders: dict[tuple, Path], where: tuple) -> dict[str, Any]:
    """``params`` of ``factory`` at ``where``, path-typed ones anchored, and the entries nested in
    them (a ``mixture``'s ``samplers``, declared in ``component_params``) likewise."""
    fields = params_model(factory).model_fields
    resolved = {name: _anchored(value, folders, (*where, name)) if name in fields and _is_path_type(fields[name].annotation)
                else value for name, value in params.items()}
    for name, kind in getattr(factory, "component_params", {}).items():
        value = resolved.get(name)
        items = enumerate(value) if isinstance(value, list) else [(None, value)] if isinstance(value, dict) else []
        for index, item in items:
            inner = (*where, name) if index is None else (*where, name, index)
            if isinstance(item, dict) and "type" in item:
                nested = registry().get(kind, item["type"]).factory
                item.update(_resolve_params(nested, {k: v for k, v in item.items() if k != "type"}, folders, inner))
    return resolved


def _is_path_type(annotation: Any) -> bool:
    """Whether ``annotation`` is a path or holds one (``Path | None``, ``list[Path]``, ``Annotated[Path, …]``)."""
    if isinstance(annotation, type):
        return issubclass(annotation, PurePath)
    return any(_is_path_type(arg) for arg in get_args(annotation))


def _anchored(value: Any, folders: dict[tuple, Path], where: tuple) -> Any:
    """``value`` (a path, a string or a list of them) with each relative one written by a file made
    absolute against that file's folder."""
    if isinstance(value, list):
        return [_anchored(v, folders, (*where, i)) for i, v in enumerate(value)]
    if isinstance(value, (str, PurePath)) and where in folders and not Path(value).is_absolute():
        return type(value)(folders[where] / value) if isinstance(value, PurePath) else str(folders[where] / value)
    return value


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GfcError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise GfcError(f"{path}: not a text file (byte {exc.start} is not UTF-8); a recipe is YAML text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise GfcError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        raise GfcError(f"{path}: the recipe is empty; it needs at least name, data and masks (see docs/recipes.md)")
    if not isinstance(data, dict):
        raise GfcError(f"{path}: a recipe must be a mapping of keys, got {type(data).__name__}")
    return data


_LEGACY_DISCRIMINATORS = {"local_discriminator": ("local", "hole"), "global_discriminator": ("global", "image")}


def upgrade(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """A gfc-kit 0.1 recipe in today's shape, with a warning: ``model.local_discriminator`` and
    ``model.global_discriminator`` become ``model.discriminators.local`` (view ``hole``) and
    ``.global`` (view ``image``), ``train.global_input`` their ``fake`` and ``gradient``, and the
    ``local_adversarial`` and ``global_adversarial`` losses name their discriminator."""
    model, train = data.get("model"), data.get("train")
    legacy = [k for k in _LEGACY_DISCRIMINATORS if isinstance(model, dict) and k in model]
    global_input = train.pop("global_input", None) if isinstance(train, dict) else None
    if global_input is None and "global_discriminator" in legacy:
        global_input = "output"  # 0.1's default
    if not legacy and global_input is None:
        return data
    log.warning("%s: gfc-kit 0.1 keys (%s) read as model.discriminators; see docs/recipes.md", path,
                ", ".join([*(f"model.{k}" for k in legacy), *(["train.global_input"] if global_input else [])]))
    discriminators = model.setdefault("discriminators", {}) if isinstance(model, dict) else {}
    if global_input is not None:
        data.setdefault("model", {}).setdefault("discriminators", discriminators)
    for key in legacy:
        name, view = _LEGACY_DISCRIMINATORS[key]
        entry = model.pop(key)
        if entry is not None:
            discriminators[name] = {**entry, "view": view} if "type" in entry else entry
    if global_input is not None:
        discriminators.setdefault("global", {}).update(
            {"fake": "output", "gradient": "all"} if global_input == "output" else {"fake": "composite", "gradient": "hole"})
    for role, name in (("local_adversarial", "local"), ("global_adversarial", "global")):
        loss = data.get("losses", {}).get(role)
        if isinstance(loss, dict) and "type" in loss:
            loss.setdefault("discriminator", name)
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` deep-merged onto ``base``: mappings merge, everything else is replaced, and a
    component entry whose ``type`` changes is replaced whole (another component's keys would not fit)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and not _retyped(merged[key], value):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _retyped(base: dict[str, Any], override: dict[str, Any]) -> bool:
    return "type" in override and base.get("type") != override["type"]


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply ``a.b.0.c=value`` to ``data`` in place; the value is parsed as YAML. Setting a
    component's ``type`` to another name clears that entry's other keys, as ``base:`` does."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise GfcError(f"--set {override}: expected KEY=VALUE, e.g. --set stages.0.steps=10")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        raise GfcError(f"--set {override}: the value is not valid YAML: {problem}; quote it as a string") from None
    parts = key.strip().split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise GfcError(f"--set {key}: {where}: no item {part} in a list of {len(node)}")
            index = int(part)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last and part == "type" and node.get("type", value) != value:
                node.clear()  # another component: the old one's keys would not fit it
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise GfcError(f"--set {key}: {'.'.join(parts[:depth])} is a value, not a mapping or list")


def dump(recipe: Recipe) -> str:
    """The resolved recipe as YAML (every parameter, defaults included)."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

"""The one component registry, keyed by ``(kind, name)`` (timm's name → factory table, by kind).

Plugins fill it through the ``gfc_register`` hook; :mod:`gfc_kit.plugins` builds it once per
process. Each factory's keyword parameters are its recipe keys: a pydantic model derived from the
signature validates them, so a recipe, ``gfc_kit.create`` and ``gfc-kit plugins`` all agree.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from gfc_kit.errors import RecipeError, RegistrationError, UnknownComponent

KINDS = (
    "generator",
    "discriminator",
    "view",
    "parser",
    "mask_sampler",
    "loss",
    "dataset",
    "aligner",
    "refiner",
    "blender",
    "metric",
    "completer",
    "stage",
    "callback",
)
"""Every kind of component; a plugin adds to these, it does not invent new ones."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Param:
    """One recipe key of a component, for listings and docs."""

    name: str
    type: str
    default: Any
    required: bool


@dataclass(frozen=True)
class ModelEntry:
    """A model folder (``model.json`` + weights) that ``--model NAME`` and ``ModelCompleter.pretrained`` find."""

    name: str
    folder: Path
    source: str


@dataclass(frozen=True)
class Entry:
    """A registered component: what builds it and which plugin added it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    source: str
    """``built-in``, or the distribution (``name version``) or plugin that registered it."""

    @property
    def params(self) -> list[Param]:
        model = params_model(self.factory)
        return [
            Param(key, _type_name(field.annotation, field.metadata), field.default, field.is_required())
            for key, field in model.model_fields.items()
        ]

    @property
    def summary(self) -> str:
        """The first line of the factory's docstring."""
        return (inspect.getdoc(self.factory) or "").split("\n", 1)[0]


BUILT_IN = "built-in"
"""The source of gfc-kit's own components: a plugin cannot register their names."""


class Registry:
    """Name → factory, per kind, and name → model folder. Nothing is ever silently replaced: a name
    registered twice is a clash, reported naming both plugins when that name is used (and by
    ``gfc-kit plugins``), while every other component keeps working."""

    KINDS = KINDS

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}
        self._models: dict[str, ModelEntry] = {}
        self._clashes: dict[tuple[str, str], list[str]] = {}
        self._source = "unknown"
        self._plugin: str | None = None
        self._plugins: dict[tuple[str, str], str | None] = {}
        """The entry-point name of the plugin that added each component, for GFC_KIT_BLOCK hints."""
        self.refused: list[str] = []
        """Registrations refused because they would take a built-in's name (one line each)."""
        self.problems: list[str] = []
        """Plugin problems found while this registry was filled (set by :mod:`gfc_kit.plugins`)."""

    def add(self, kind: str, name: str, factory: Callable[..., Any]) -> None:
        """Register ``factory`` as ``name`` for ``kind``; its annotated keyword parameters are the
        recipe keys. Raises :class:`RegistrationError` naming the plugin on any problem."""
        where = f"plugin {self._source!r} registering {kind} {name!r}"
        if kind not in KINDS:
            raise RegistrationError(f"{where}: unknown kind; kinds are {', '.join(KINDS)}")
        if not _NAME.match(name):
            raise RegistrationError(f"{where}: names are lower snake_case")
        if not callable(factory):
            raise RegistrationError(f"{where}: the factory is not callable")
        try:
            params_model(factory)
        except TypeError as exc:
            raise RegistrationError(f"{where}: {exc}") from None
        if kind == "loss":
            _check_loss(factory, where)
        _check_protocol(kind, factory, where)
        if not self._clash(kind, name, self._entries):
            self._entries[kind, name] = Entry(kind, name, factory, self._source)
            self._plugins[kind, name] = self._plugin

    def add_model(self, name: str, folder: str | Path) -> None:
        """Register the model folder ``folder`` (``model.json`` + ``*.safetensors``, as ``gfc-kit
        export`` writes) as ``name``, for ``--model NAME`` and ``ModelCompleter.pretrained(NAME)``.
        The folder may not exist yet (a plugin registering the model its own recipe will train):
        ``gfc-kit models`` lists it as missing, and using it says where it is expected."""
        folder = Path(folder)
        where = f"plugin {self._source!r} registering model {name!r}"
        if not _NAME.match(name):
            raise RegistrationError(f"{where}: names are lower snake_case")
        if not self._clash("model", name, self._models):
            self._models[name] = ModelEntry(name, folder, self._source)
            self._plugins["model", name] = self._plugin

    def _clash(self, kind: str, name: str, table: dict) -> bool:
        """Record a second registration of ``name`` as a clash (the name then works for neither)."""
        key = (kind, name)
        if key in self._clashes:
            self._clashes[key].append(self._source)
            return True
        existing = table.get(name if kind == "model" else key)
        if existing is None:
            return False
        if BUILT_IN in (existing.source, self._source) and existing.source != self._source:
            # the built-in keeps its name, whichever registered first
            plugin, source = ((self._plugin, self._source) if existing.source == BUILT_IN
                              else (self._plugins.get(key), existing.source))
            block = f", or leave the plugin out with GFC_KIT_BLOCK={plugin}" if plugin else ""
            self.refused.append(f"{kind} {name!r} is a built-in name: plugin {source!r} may not take it; the "
                                f"built-in keeps it and the plugin's is left out (rename it in the plugin{block})")
            if existing.source == BUILT_IN:
                return True
            del table[name if kind == "model" else key]
            return False
        self._clashes[key] = [existing.source, self._source]
        del table[name if kind == "model" else key]
        return True

    def clashes(self) -> list[str]:
        """One line per name that two plugins registered."""
        return [f"{kind} {name!r} is registered twice: by {' and by '.join(repr(s) for s in sorted(sources))}; "
                "uninstall one of them" for (kind, name), sources in sorted(self._clashes.items())]

    def _raise_if_clashed(self, kind: str, name: str, where: str) -> None:
        if (kind, name) in self._clashes:
            prefix = f"{where}: " if where else ""
            raise RegistrationError(prefix + self.clashes()[sorted(self._clashes).index((kind, name))])

    def model(self, name: str, where: str = "") -> ModelEntry:
        """The model folder registered as ``name``; an unknown one raises with close matches."""
        self._raise_if_clashed("model", name, where)
        try:
            return self._models[name]
        except KeyError:
            raise UnknownComponent("model", name, self._models, where) from None

    def models(self) -> list[ModelEntry]:
        return [self._models[n] for n in sorted(self._models)]

    def plugin_of(self, kind: str, name: str) -> str | None:
        """The entry-point name of the plugin that registered ``(kind, name)`` (``kind`` ``model``
        for models), or ``None`` when unknown."""
        return self._plugins.get((kind, name))

    @contextlib.contextmanager
    def all_or_nothing(self) -> Iterator[Registry]:
        """What a plugin's ``gfc_register`` adds within the block stays only if the block completes:
        a plugin that fails halfway leaves nothing of itself behind."""
        saved = (dict(self._entries), dict(self._models), {k: list(v) for k, v in self._clashes.items()},
                 list(self.refused), dict(self._plugins))
        try:
            yield self
        except BaseException:
            self._entries, self._models, self._clashes, self.refused, self._plugins = saved
            raise

    @contextlib.contextmanager
    def adding_as(self, source: str, plugin: str | None = None) -> Iterator[Registry]:
        """Within the block, :meth:`add` records ``source`` as the plugin that added a component
        (``plugin``: its entry-point name, which ``GFC_KIT_BLOCK`` takes)."""
        previous = self._source, self._plugin
        self._source, self._plugin = source, plugin
        try:
            yield self
        finally:
            self._source, self._plugin = previous

    def get(self, kind: str, name: str, where: str = "") -> Entry:
        """The entry for ``(kind, name)``; an unknown one raises with close matches."""
        if kind not in KINDS:
            raise UnknownComponent("kind", kind, KINDS, where)
        self._raise_if_clashed(kind, name, where)
        try:
            return self._entries[kind, name]
        except KeyError:
            error = UnknownComponent(kind, name, self.names(kind), where)
            if self.problems:  # the name may belong to a plugin that failed to load
                error.args = (f"{error.args[0]} ({len(self.problems)} plugin problem(s): see gfc-kit plugins)",)
            raise error from None

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self._entries if k == kind)

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: (KINDS.index(e.kind), e.name)))

    def __len__(self) -> int:
        return len(self._entries)


LOSS_INPUTS = ("pixels", "adversarial", "parsing", "step")
"""What a loss may consume: :data:`gfc_kit.interfaces.LossInputs` (kept here so the registry needs no torch)."""


PROTOCOLS: dict[str, tuple[str, ...]] = {
    "generator": ("forward",),
    "discriminator": ("forward",),
    "parser": ("forward",),
    "view": ("__call__",),
    "mask_sampler": ("__call__",),
    "dataset": ("__getitem__", "__len__"),
    "aligner": ("__call__",),
    "refiner": ("context", "__call__"),
    "blender": ("margin", "__call__"),
    "metric": ("__call__",),
    "completer": ("__call__",),
    "stage": ("trains", "data", "enter", "step", "validate"),
}
"""The methods a component of each kind must have (the Protocols of :mod:`gfc_kit.interfaces`):
checked when it is registered, so a blender without ``margin`` is refused naming its plugin
rather than failing with a traceback at first use. A loss's depend on what it consumes:
:data:`LOSS_PROTOCOLS`."""

LOSS_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "pixels": ("__call__",),
    "adversarial": ("generator", "discriminator"),
    "parsing": ("__call__",),
    "step": ("__call__",),
}
"""The methods of a loss, by its ``inputs`` (see :mod:`gfc_kit.components.losses`)."""


def built_class(factory: Callable[..., Any]) -> type | None:
    """The class ``factory`` builds: itself when it is a class, else the class its return
    annotation names; ``None`` when that is unknown (then only the built object tells)."""
    if isinstance(factory, type):
        return factory
    try:
        returned = inspect.signature(factory, eval_str=True).return_annotation
    except (NameError, TypeError, ValueError):
        return None
    return returned if isinstance(returned, type) and returned is not inspect.Signature.empty else None


def protocol(kind: str, factory: Callable[..., Any]) -> tuple[str, ...]:
    """The methods that what ``factory`` builds must have, as a ``kind`` component."""
    return LOSS_PROTOCOLS.get(loss_inputs(factory), ()) if kind == "loss" else PROTOCOLS.get(kind, ())


def missing_methods(methods: tuple[str, ...], cls: type) -> list[str]:
    """Those of ``methods`` that instances of ``cls`` lack. Looked up on the class and its bases,
    not with ``hasattr``: every class object is callable, its instances need not be."""
    return [name for name in methods if not any(name in vars(base) for base in cls.__mro__)]


def _check_protocol(kind: str, factory: Callable[..., Any], where: str) -> None:
    """Refuse a factory whose class (or annotated return class) lacks a method of its kind; an
    unannotated function factory is checked when it first builds (:func:`gfc_kit.factory.build`)."""
    cls = built_class(factory)
    missing = missing_methods(protocol(kind, factory), cls) if cls is not None else []
    if missing:
        raise RegistrationError(f"{where}: a {kind} needs {' and '.join(missing)}, which {cls.__name__} does not "
                                "define (see gfc_kit.interfaces)")
    if kind == "callback" and cls is not None and not hook_methods(cls):
        raise RegistrationError(f"{where}: a callback implements lifecycle hooks, but {cls.__name__} has no method "
                                "marked with gfc_kit.hookimpl (e.g. gfc_row_logged)")


HOOK_MARK = "gfc_kit_impl"
"""The attribute pluggy's ``hookimpl`` marker sets on a hook implementation of project ``gfc_kit``."""


def hook_methods(cls: type) -> list[str]:
    """The names of ``cls``'s methods marked as hook implementations."""
    return sorted({name for base in cls.__mro__ for name, value in vars(base).items() if hasattr(value, HOOK_MARK)})


def loss_inputs(factory: Callable[..., Any]) -> str | None:
    """What a loss factory's losses consume: its ``inputs`` attribute, or that of the class its
    return annotation names (for a function factory)."""
    inputs = getattr(factory, "inputs", None)
    return getattr(built_class(factory), "inputs", None) if inputs is None else inputs


def _check_loss(factory: Callable[..., Any], where: str) -> None:
    inputs = loss_inputs(factory)
    if inputs not in LOSS_INPUTS:
        raise RegistrationError(f"{where}: a loss must declare what it consumes, as a class attribute "
                                f"inputs = one of {', '.join(map(repr, LOSS_INPUTS))} (found {inputs!r})")
    if inputs == "adversarial" and "discriminator" not in params_model(factory).model_fields:
        raise RegistrationError(f"{where}: an adversarial loss needs a 'discriminator: str' parameter "
                                "naming the discriminator it reads")


@functools.cache
def params_model(factory: Callable[..., Any]) -> type[BaseModel]:
    """A pydantic model of ``factory``'s keyword parameters (its recipe keys).

    Built from the signature without calling the factory, so checking a recipe never builds a
    network. Parameters must be keyword-usable and annotated; ``type`` is reserved for the name.
    """
    try:
        signature = inspect.signature(factory, eval_str=True)
    except (NameError, TypeError, ValueError) as exc:
        raise TypeError(f"cannot read the signature of {factory!r}: {exc}") from None
    fields: dict[str, Any] = {}
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"parameter {p.name!r}: *args and **kwargs cannot be recipe keys")
        if p.kind is p.POSITIONAL_ONLY:
            raise TypeError(f"parameter {p.name!r} is positional-only")
        if p.name == "type":
            raise TypeError("a parameter may not be called 'type' (it names the component)")
        if p.annotation is p.empty:
            raise TypeError(f"parameter {p.name!r} has no type annotation")
        fields[p.name] = (p.annotation, ... if p.default is p.empty else p.default)
    config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=False)
    try:
        return create_model(f"{getattr(factory, '__name__', 'factory')}Params", __config__=config, **fields)
    except Exception as exc:  # pydantic's schema errors vary by type; report them as one
        raise TypeError(f"its parameters cannot be validated: {exc}") from None


def validate_params(factory: Callable[..., Any], params: dict[str, Any], path: tuple = ()) -> dict[str, Any]:
    """``params`` checked and coerced against ``factory``'s signature.

    Errors are raised together as one :class:`RecipeError`, one ``a.b.c: problem`` line each, the
    path being ``path`` followed by pydantic's location inside the entry.
    """
    try:
        checked = params_model(factory).model_validate(params)
    except ValidationError as exc:
        raise RecipeError(error_lines(path, exc)) from None
    return {name: getattr(checked, name) for name in type(checked).model_fields}


def error_lines(path: tuple, exc: ValidationError) -> list[str]:
    """One ``a.b.0.c: message`` line per problem below ``path``.

    pydantic reports a value that fits no member of a union (``int | float``) once per member,
    each under a location ending in the member's tag; those become one line at the value's own
    location, so a user reads ``size: …`` rather than ``size.int: …`` and ``size.float: …``.
    """
    errors = exc.errors()
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for error in errors:
        if error["loc"] and _is_union_tag(error["loc"][-1]):
            groups.setdefault(error["loc"][:-1], []).append(error)
    lines = []
    for error in errors:
        loc = error["loc"]
        siblings = groups.get(loc[:-1], []) if loc and _is_union_tag(loc[-1]) else []
        if len(siblings) > 1 and all(s["input"] is error["input"] for s in siblings):
            if error is siblings[0]:
                lines.append(_line(path, error["loc"][:-1], _union_message(siblings)))
            continue
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        message = message.removeprefix("Value error, ")  # a validator's own sentence says enough
        lines.append(_line(path, error["loc"], message))
    return lines


_TYPE_TAGS = {"int", "float", "str", "bool", "bytes", "none", "dict", "list", "tuple"}


def _is_union_tag(part: Any) -> bool:
    """Whether a location part names a union member (``int``, ``list[int]``, ``Augmentation``)
    rather than a key: keys are lower snake_case, tags are type names."""
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part or part[:1].isupper())


def _union_message(errors: list[dict[str, Any]]) -> str:
    literal = [e for e in errors if e["type"] == "literal_error"]
    if literal:  # a misspelt choice is the likely mistake; its message lists the choices
        return literal[0]["msg"]
    tags = " | ".join(str(e["loc"][-1]) for e in errors)
    return f"{errors[0]['input']!r} is not a valid {tags}"


def _line(path: tuple, loc: tuple, message: str) -> str:
    where = ".".join(str(p) for p in (*path, *loc))
    return f"{where}: {message}" if where else message


_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "multiple_of": "multiple of ", "min_length": "len>=",
           "max_length": "len<="}


def _type_name(annotation: Any, metadata: list[Any] = ()) -> str:
    """A short, readable type for listings: ``int >0``, ``Literal['a', 'b']``, ``Path | None``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        text = _type_name(args[0], list(args[1:]))
    elif origin in (Union, types.UnionType):
        text = " | ".join(_type_name(a) for a in args)
    elif origin is Literal:
        text = f"Literal[{', '.join(map(repr, args))}]"
    elif origin is not None:
        text = f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in args)}]"
    elif annotation is type(None):
        text = "None"
    else:
        text = getattr(annotation, "__name__", repr(annotation))
    return " ".join([text, *_bounds(metadata)])


def _bounds(metadata: list[Any]) -> list[str]:
    """``>0``, ``<=1`` … from annotated-types constraints, also when wrapped in a pydantic Field."""
    flat = [m for item in metadata for m in getattr(item, "metadata", [item])]
    return [f"{symbol}{getattr(m, key)}" for m in flat for key, symbol in _BOUNDS.items()
            if getattr(m, key, None) is not None]

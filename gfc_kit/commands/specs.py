"""Component specs written on the command line (``--blend poisson``, ``--masks center:size=32,O1``,
``--data celeba:PATH``) read into recipe entries, so every command reads them alike."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from gfc_kit.errors import GfcError
from gfc_kit.factory import create
from gfc_kit.plugins import registry

REGIONS = ("O1", "O2", "O3", "O4", "O5", "O6")
"""The paper's face-region holes, which ``--masks`` takes by name."""


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
        try:
            spec[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise GfcError(f"{where}: {pair!r} in {text!r}: the value is not valid YAML "
                           f"({str(exc).splitlines()[0]})") from None
    return spec


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


def _takes_root(kind: str, name: str) -> bool:
    """Whether the ``kind`` component ``name`` has a ``root`` parameter (unknown names pass: their
    own error, listing the known ones, comes when they are built)."""
    try:
        factory = registry().get(kind, name).factory
    except GfcError:
        return True
    return "root" in inspect.signature(factory).parameters


def option_component(kind: str, text: str, option: str) -> Any:
    """The ``kind`` component an option names (``name`` or ``name:key=value,...``), built."""
    spec = parse_spec(text, option, kind)
    name = spec.pop("type")
    try:
        return create(kind, name, **spec)
    except GfcError as exc:
        hint = ("; aligners come from plugins, e.g. pip install plugins/gfc-align for dlib"
                if kind == "aligner" and "unknown aligner" in str(exc) else "")
        raise GfcError(f"{option} {text}: {exc}{hint}") from None


def split_specs(values: tuple[str, ...]) -> list[str]:
    """Command-line spec lists: comma-separated specs, where a ``key=value`` piece without a name
    continues the spec before it (``center:size=32,psnr`` is two specs) and ``{…}`` is one spec."""
    specs: list[str] = []
    for value in values:
        if value.strip().startswith("{"):
            specs.append(value)
            continue
        for piece in (p.strip() for p in value.split(",") if p.strip()):
            if specs and "=" in piece and ":" not in piece.split("=", 1)[0] and ":" in specs[-1]:
                specs[-1] += "," + piece
            else:
                specs.append(piece)
    return specs


def mask_spec(text: str) -> tuple[str, dict[str, Any]]:
    """A ``--masks`` entry as (report name, sampler spec); ``O1``…``O6`` are the paper's regions."""
    if text in REGIONS:
        return text, {"type": "regions", "region": text}
    spec = parse_spec(text, "--masks", "mask_sampler")
    name = spec["type"] if text.partition(":")[0] == text or "root" in spec else text
    return name, spec


def data_spec(text: str) -> dict[str, Any]:
    """A ``--data`` value: a folder of images, or a dataset spec (``celeba:PATH``, ``{type: …}``)."""
    if Path(text).is_dir():
        return {"type": "image_folder", "root": text}
    name = text.partition(":")[0]
    if not text.lstrip().startswith("{") and ("/" in name or "\\" in name or name.startswith((".", "~"))):
        raise GfcError(f"--data {text}: no such folder")  # a path, not a dataset's name
    if not text.lstrip().startswith("{") and ":" not in text and text not in registry().names("dataset"):
        raise GfcError(f"--data {text}: no such folder, and no dataset type of that name "
                       f"({', '.join(registry().names('dataset'))})")
    return parse_spec(text, "--data", "dataset")

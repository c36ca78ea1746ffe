"""The registry: what it accepts, what it refuses, and how it describes components."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import Field

from gfc_kit.errors import RecipeError, RegistrationError, UnknownComponent
from gfc_kit.registry import Registry, validate_params


class Square:
    """A square of a given size."""

    def __init__(self, size: Annotated[int, Field(gt=0)] = 64, where: Literal["any", "centre"] = "any",
                 root: Path | None = None) -> None:
        self.size, self.where, self.root = size, where, root


def make(source: str = "built-in") -> Registry:
    registry = Registry()
    with registry.adding_as(source):
        registry.add("mask_sampler", "square", Square)
    return registry


def test_get_returns_what_was_added_with_its_source():
    entry = make("my-plugin 1.0").get("mask_sampler", "square")
    assert entry.factory is Square and entry.source == "my-plugin 1.0"
    assert entry.summary == "A square of a given size."


def test_a_duplicate_names_both_sources_when_used():
    registry = make("gfc-squares 0.1")
    with registry.adding_as("gfc-rings 0.2"):
        registry.add("mask_sampler", "square", Square)
    with pytest.raises(RegistrationError, match=r"registered twice: by 'gfc-rings 0.2' and by 'gfc-squares 0.1'"):
        registry.get("mask_sampler", "square")
    assert registry.clashes() == ["mask_sampler 'square' is registered twice: by 'gfc-rings 0.2' and by "
                                  "'gfc-squares 0.1'; uninstall one of them"]


def test_a_plugin_cannot_take_a_built_in_name():
    class Ring:
        pass

    registry = make("built-in")
    with registry.adding_as("gfc-rings 0.2", "gfc_rings"):
        registry.add("mask_sampler", "square", Ring)
    assert registry.get("mask_sampler", "square").factory is Square  # the built-in keeps its name
    assert registry.clashes() == []
    assert registry.refused == ["mask_sampler 'square' is a built-in name: plugin 'gfc-rings 0.2' may not take it; "
                                "the built-in keeps it and the plugin's is left out (rename it in the plugin, or "
                                "leave the plugin out with GFC_KIT_BLOCK=gfc_rings)"]
    first = Registry()  # a plugin that registered first loses the name all the same
    with first.adding_as("gfc-rings 0.2", "gfc_rings"):
        first.add("mask_sampler", "square", Ring)
    with first.adding_as("built-in"):
        first.add("mask_sampler", "square", Square)
    assert first.get("mask_sampler", "square").factory is Square and first.refused == registry.refused


@pytest.mark.parametrize(
    ("kind", "name", "factory", "problem"),
    [
        ("mask", "square", Square, "unknown kind"),
        ("mask_sampler", "Square", Square, "snake_case"),
        ("mask_sampler", "s", lambda size: size, "no type annotation"),
        ("mask_sampler", "s", lambda **kw: kw, r"\*\*kwargs"),
        ("mask_sampler", "s", lambda type="x": type, "may not be called 'type'"),
        ("mask_sampler", "s", 3, "not callable"),
    ],
)
def test_bad_registrations_are_refused_with_the_reason(kind, name, factory, problem):
    with pytest.raises(RegistrationError, match=problem):
        Registry().add(kind, name, factory)


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownComponent, match=r"unknown mask_sampler 'sqaure'; did you mean 'square'\?"):
        make().get("mask_sampler", "sqaure")
    with pytest.raises(UnknownComponent, match="none is registered"):
        make().get("dataset", "celeba")


def test_params_describe_types_bounds_and_defaults():
    params = {p.name: p for p in make().get("mask_sampler", "square").params}
    assert params["size"].type == "int >0" and params["size"].default == 64
    assert params["where"].type == "Literal['any', 'centre']"
    assert params["root"].type == "Path | None" and not params["root"].required


def test_validate_params_coerces_and_reports_every_problem_with_its_path():
    assert validate_params(Square, {"size": "32", "root": "x"})["root"] == Path("x")
    with pytest.raises(RecipeError) as caught:
        validate_params(Square, {"size": 0, "wher": "any"}, ("masks", "train"))
    assert caught.value.errors == [
        "masks.train.size: Input should be greater than 0",
        "masks.train.wher: unknown key",
    ]

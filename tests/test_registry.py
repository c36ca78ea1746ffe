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

    def __call__(self, batch, generator=None):
        return batch


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
        def __call__(self, batch, generator=None):
            return batch

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


class Blend:
    """A blender that forgot ``margin``."""

    def __call__(self, photo, fill, hole):
        return fill


class Refine:
    """A refiner that forgot ``context``."""

    def __call__(self, photo, fill, hole, scale):
        return fill


class Faces:
    """A dataset without ``__len__``."""

    def __getitem__(self, index: int) -> dict:
        return {}


class Holes:
    """A mask sampler that is not callable."""


class Judge:
    """An adversarial loss without its ``generator`` side."""

    inputs = "adversarial"

    def __init__(self, discriminator: str) -> None:
        self.discriminator_name = discriminator

    def discriminator(self, real, fake):
        return real - fake


def blend() -> Blend:
    return Blend()


@pytest.mark.parametrize(
    ("kind", "factory", "missing"),
    [("blender", Blend, "margin"), ("refiner", Refine, "context"), ("dataset", Faces, "__len__"),
     ("mask_sampler", Holes, "__call__"), ("loss", Judge, "generator"),
     ("blender", blend, "margin")],  # a function factory, by the class its return annotation names
)
def test_a_component_without_its_kinds_method_is_refused_naming_plugin_kind_name_and_method(kind, factory, missing):
    registry = Registry()
    with registry.adding_as("gfc-broken 0.1"), pytest.raises(RegistrationError) as caught:
        registry.add(kind, "broken", factory)
    assert str(caught.value).startswith(f"plugin 'gfc-broken 0.1' registering {kind} 'broken': a {kind} needs {missing}")
    assert registry.names(kind) == []


def test_every_kind_but_the_run_hooks_has_a_protocol():
    """A kind added without an entry would pass unchecked; stage and callback are defined elsewhere."""
    from gfc_kit.registry import KINDS, PROTOCOLS

    assert set(KINDS) - set(PROTOCOLS) <= {"loss", "stage", "callback"}


def test_a_complete_component_and_an_unannotated_function_factory_are_accepted():
    class Margin(Blend):
        def margin(self, hole):
            return 0

    registry = Registry()
    registry.add("blender", "margin", Margin)
    registry.add("blender", "later", lambda: Blend())  # what it builds is checked when it is built
    assert registry.names("blender") == ["later", "margin"]


def test_what_an_unannotated_function_factory_builds_is_checked_when_built(fresh_plugins):
    import gfc_kit
    from gfc_kit.errors import GfcError
    from gfc_kit.factory import build

    class Later:
        @gfc_kit.hookimpl
        def gfc_register(self, registry):
            registry.add("blender", "later", lambda: Blend())
            registry.add("completer", "fine", lambda: (lambda image, mask: image))

    fresh_plugins.register(Later(), "later")
    with pytest.raises(GfcError, match=r"^completing\.blender: blender 'later' \(from later\) built a Blend without margin"):
        build("blender", {"type": "later"}, ("completing", "blender"))
    with pytest.raises(GfcError, match="^later: blender 'later' .* without margin"):
        gfc_kit.create("blender", "later")
    assert gfc_kit.create("completer", "fine")(1, 0) == 1


def test_stages_and_callbacks_are_checked_when_registered():
    """A stage lacking ``step`` and a callback implementing no hook are refused, naming them."""
    from gfc_kit.training.stages import GeneratorStage

    class NoStep:
        trains, data = "generator", "train"

        def enter(self, parts, stage): ...

        def validate(self, run): ...

    class Quiet:
        def gfc_row_logged(self, run, row): ...  # not marked: pluggy would never call it

    registry = Registry()
    registry.add("stage", "subclass", GeneratorStage)
    with pytest.raises(RegistrationError, match=r"registering stage 'no_step': a stage needs step, which NoStep"):
        registry.add("stage", "no_step", NoStep)
    with pytest.raises(RegistrationError, match=r"registering callback 'quiet': .* Quiet has no method marked"):
        registry.add("callback", "quiet", Quiet)

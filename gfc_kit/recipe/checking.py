"""Checking a recipe's contents against what is registered: every component entry against its
factory's signature (so checking never builds a network), and what the stages use against what
the recipe defines (each loss's declared inputs, the parser stage's parser and data)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, create_model

from gfc_kit.errors import GfcError, RecipeError
from gfc_kit.factory import fill_context
from gfc_kit.plugins import registry
from gfc_kit.recipe.schema import Recipe, Spec
from gfc_kit.registry import error_lines, loss_inputs, params_model, validate_params


def validate(data: dict[str, Any], source: str = "") -> Recipe:
    """The validated :class:`Recipe`; every problem of shape and components is raised at once."""
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(error_lines((), exc), source) from None
    errors = [*_component_errors(recipe), *_stage_errors(recipe)]
    if not errors:
        errors = _need_errors(recipe)
    if errors:
        raise RecipeError(errors, source)
    return recipe


def specs(model: Any, path: tuple = ()) -> Iterator[tuple[tuple, Spec]]:
    """Every component entry in a recipe, with its path (``("masks", "eval", 2)``)."""
    if isinstance(model, Spec):
        yield path, model
        for name in type(model).model_fields:  # entries inside an entry (a discriminator's view)
            if isinstance(getattr(model, name), Spec):
                yield from specs(getattr(model, name), (*path, name))
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            yield from specs(getattr(model, name), (*path, name))
    elif isinstance(model, dict):
        for key, value in model.items():
            yield from specs(value, (*path, key))
    elif isinstance(model, list):
        for index, value in enumerate(model):
            yield from specs(value, (*path, index))


def _component_errors(recipe: Recipe) -> list[str]:
    """Check each entry against its factory and store the full, coerced parameters back."""
    errors: list[str] = []
    components = registry()  # a broken plugin fails here, once, not once per entry
    for path, spec in specs(recipe):
        context = {"image_size": stage_size(recipe, path[1]) if path[0] == "stages" else recipe.image_size}
        try:
            entry = components.get(spec.kind, spec.type, ".".join(map(str, (*path, "type"))))
            params = fill_context(entry.factory, spec.params, context)
            checked = validate_params(entry.factory, params, path)
        except RecipeError as exc:
            errors.extend(exc.errors)
            continue
        except GfcError as exc:
            errors.append(str(exc))
            continue
        spec.__pydantic_extra__ = dict(checked)
        errors += _nested_errors(entry.factory, checked, path, context)
    return errors


def _nested_errors(factory: Any, params: dict[str, Any], path: tuple, context: dict[str, Any]) -> list[str]:
    """Entries inside an entry's parameters (a ``mixture``'s ``samplers``), checked as entries at
    their own path, when the factory declares them in ``component_params`` (name → kind)."""
    errors: list[str] = []
    for name, kind in getattr(factory, "component_params", {}).items():
        value = params.get(name)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)] if isinstance(value, dict) else []
        for index, item in items:
            where = (*path, name) if index is None else (*path, name, index)
            if not isinstance(item, dict) or "type" not in item:
                errors.append(f"{'.'.join(map(str, where))}: needs a 'type' (a {kind}'s name)")
                continue
            try:
                entry = registry().get(kind, item["type"], ".".join(map(str, (*where, "type"))))
                nested = fill_context(entry.factory, {k: v for k, v in item.items() if k != "type"}, context)
                errors += _nested_errors(entry.factory, validate_params(entry.factory, nested, where), where, context)
            except RecipeError as exc:
                errors.extend(exc.errors)
            except GfcError as exc:
                errors.append(str(exc))
    return errors


def _stage_errors(recipe: Recipe) -> list[str]:
    return [
        f"stages.{i}.losses.{j}: unknown loss {name!r}; the recipe's losses are "
        f"{', '.join(recipe.losses) or 'none'}"
        for i, stage in enumerate(recipe.stages)
        for j, name in enumerate(stage.losses)
        if name not in recipe.losses
    ]


def _need_errors(recipe: Recipe) -> list[str]:
    """What the stages use must be in the recipe: each loss's declared inputs (a discriminator, the
    parser), the parser stage's parser and labelled data, and the generator stages' data."""
    errors = []
    model = recipe.model
    used = {name for stage in recipe.stages for name in stage.losses}
    for name in sorted(used):
        spec = recipe.losses[name]
        inputs = loss_inputs(registry().get("loss", spec.type).factory)
        if inputs == "adversarial":
            wanted = spec.params.get("discriminator")
            if wanted not in model.discriminators:
                have = ", ".join(model.discriminators) or "none"
                errors.append(f"losses.{name}.discriminator: no discriminator {wanted!r} in model.discriminators "
                              f"(the recipe has: {have})")
        elif inputs == "parsing" and model.parser is None:
            errors.append(f"losses.{name}: a parsing loss needs model.parser")
    for key, spec in model.discriminators.items():
        if spec.fake == "output" and spec.gradient == "hole":
            errors.append(f"model.discriminators.{key}.gradient: 'hole' needs fake: composite "
                          "(the raw output's gradient reaches every pixel; say gradient: all)")
    for i, stage in enumerate(recipe.stages):
        role = stage_role(stage.train.type)
        if role is None:
            continue  # an unknown stage type, already reported
        trains, data = role
        if trains == "parser" and model.parser is None:
            errors.append(f"stages.{i}: a {stage.train.type} stage trains the parser: it needs model.parser")
        elif trains == "generator" and model.generator is None:
            errors.append(f"stages.{i}: a {stage.train.type} stage needs model.generator")
        if data == "parsing":
            if recipe.data.parsing is None:
                errors.append(f"stages.{i}: a {stage.train.type} stage needs data.parsing "
                              "(labelled faces, e.g. synthetic_faces)")
            if stage.image_size is not None or stage.data is not None:
                errors.append(f"stages.{i}: a {stage.train.type} stage reads data.parsing at the recipe's image_size; "
                              "image_size and data are for stages that read data.train")
        if stage_size(recipe, i) != recipe.image_size:
            for name in stage.losses:
                inputs = loss_inputs(registry().get("loss", recipe.losses[name].type).factory)
                if inputs in ("adversarial", "parsing"):
                    errors.append(f"stages.{i}.image_size: {stage.image_size} is not the recipe's "
                                  f"{recipe.image_size}, but loss {name!r} reads {inputs} networks built for "
                                  f"{recipe.image_size}; give such stages the recipe's size")
    return errors


def stage_role(name: str) -> tuple[str, str] | None:
    """What the stage type ``name`` trains and reads (its ``trains`` and ``data``), or ``None``
    when no such stage is registered."""
    try:
        factory = registry().get("stage", name).factory
    except GfcError:
        return None
    return getattr(factory, "trains", "generator"), getattr(factory, "data", "train")


def stage_size(recipe: Recipe, index: int) -> int:
    """The image side that stage ``index`` trains at: its own ``image_size``, else the recipe's."""
    return recipe.stages[index].image_size or recipe.image_size


def json_schema() -> dict[str, Any]:
    """The recipe's JSON schema, each component entry a ``oneOf`` over the registered components
    of its kind with their parameters (for editor completion and docs)."""
    schema = Recipe.model_json_schema()
    defs = schema.setdefault("$defs", {})
    entries: dict[str, dict[str, Any]] = {}  # set last: a variant's own $defs must not overwrite them
    for spec_cls in Spec.__subclasses__():
        variants = []
        for entry in registry():
            if entry.kind != spec_cls.kind:
                continue
            extra = {name: (field.annotation, field.default) for name, field in spec_cls.model_fields.items()
                     if name != "type"}  # keys the trainer reads: a loss's weight, a discriminator's view
            model = create_model(
                f"{entry.kind}.{entry.name}",
                __base__=params_model(entry.factory),
                type=(Literal[entry.name], ...),  # type: ignore[valid-type]
                **extra,
            )
            variant = model.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(variant.pop("$defs", {}))
            variant["description"] = entry.summary
            variants.append(variant)
        names = [entry.name for entry in registry() if entry.kind == spec_cls.kind]
        if spec_cls.by_name and names:  # written as the name alone, e.g. ``train: parser``
            variants.append({"type": "string", "enum": names})
        if spec_cls.__name__ in defs and variants:
            entries[spec_cls.__name__] = {"oneOf": variants}
    defs.update(entries)
    return schema

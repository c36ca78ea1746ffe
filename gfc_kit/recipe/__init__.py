"""Recipes: YAML files that say which components to build and how to train them.

A recipe is read in four steps, each reporting problems as ``recipe.path: problem`` lines:

1. YAML is loaded; ``base: other.yaml`` (relative to the file; bases may have bases) is deep-merged
   under it: mappings merge key by key, anything else (lists included) is replaced;
2. ``--set a.b.0.c=value`` overrides are applied (values parsed as YAML);
3. the shape is validated by the pydantic models of :mod:`~gfc_kit.recipe.schema` (unknown keys
   are errors);
4. every component entry ``{type: name, ...}`` is validated against its factory's signature, and
   what the stages use against what the recipe defines (:mod:`~gfc_kit.recipe.checking`), so
   checking a recipe never builds a network.

:mod:`~gfc_kit.recipe.loading` does steps 1 and 2 and calls the others.
"""

from __future__ import annotations

from gfc_kit.recipe.checking import json_schema, specs, validate
from gfc_kit.recipe.loading import (
    PACKAGED_RECIPES,
    SOURCE_RECIPES,
    apply_override,
    builtin_recipes,
    dump,
    find,
    load,
    merge,
    read,
    upgrade,
)
from gfc_kit.recipe.schema import (
    CallbackSpec,
    Data,
    DatasetSpec,
    DiscriminatorSpec,
    GeneratorSpec,
    LossSpec,
    Masks,
    MaskSamplerSpec,
    Model,
    Optim,
    Optimizer,
    ParserSpec,
    Recipe,
    Section,
    Spec,
    Stage,
    StageSpec,
    Train,
    ViewSpec,
)

__all__ = [
    "CallbackSpec", "Data", "DatasetSpec", "DiscriminatorSpec", "GeneratorSpec", "LossSpec", "MaskSamplerSpec", "Masks", "Model",
    "Optim", "Optimizer", "PACKAGED_RECIPES", "ParserSpec", "Recipe", "SOURCE_RECIPES", "Section", "Spec", "Stage",
    "StageSpec", "Train", "ViewSpec", "apply_override", "builtin_recipes", "dump", "find", "json_schema", "load", "merge", "read",
    "specs", "upgrade", "validate",
]

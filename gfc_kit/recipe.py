"""Recipes: YAML files that say which components to build and how to train them.

A recipe is read in four steps, each reporting problems as ``recipe.path: problem`` lines:

1. YAML is loaded; ``base: other.yaml`` (relative to the file; bases may have bases) is deep-merged
   under it: mappings merge key by key, anything else (lists included) is replaced;
2. ``--set a.b.0.c=value`` overrides are applied (values parsed as YAML);
3. the shape is validated by the pydantic models below (unknown keys are errors);
4. every component entry ``{type: name, ...}`` is validated against its factory's signature,
   so checking a recipe never builds a network.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from gfc_kit.errors import GfcError, RecipeError
from gfc_kit.factory import fill_context
from gfc_kit.plugins import registry
from gfc_kit.registry import error_lines, loss_inputs, params_model, validate_params

log = logging.getLogger("gfc_kit.recipe")

PACKAGED_RECIPES = Path(__file__).parent / "recipes"
SOURCE_RECIPES = Path(__file__).parents[1] / "recipes"


class Section(BaseModel):
    """A fixed part of a recipe: unknown keys are errors (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid")


class Spec(BaseModel):
    """A component entry: ``type`` names a registered component, the other keys are its parameters."""

    model_config = ConfigDict(extra="allow")
    kind: ClassVar[str]
    type: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class DatasetSpec(Spec):
    kind: ClassVar[str] = "dataset"


class MaskSamplerSpec(Spec):
    kind: ClassVar[str] = "mask_sampler"


class GeneratorSpec(Spec):
    kind: ClassVar[str] = "generator"


class ViewSpec(Spec):
    """What part of the image a discriminator judges (``hole``, ``image``, ``box``, or a plugin's)."""

    kind: ClassVar[str] = "view"


class DiscriminatorSpec(Spec):
    """A discriminator; ``view``, ``fake`` and ``gradient`` say how the trainer uses it and are not
    factory keys."""

    kind: ClassVar[str] = "discriminator"
    view: ViewSpec = ViewSpec(type="image")
    """What it judges, written as a name (``view: hole``) or an entry (``view: {type: box, box: [...]}``)."""
    fake: Literal["composite", "output"] = "composite"
    """What stands for "fake": the composite (the generated hole in the real image: the released
    code, ``GFC_Gen_input_of_D1.m``) or the raw generator output (an earlier gfc-kit variant)."""
    gradient: Literal["hole", "all"] = "hole"
    """Where its gradient reaches the generator's output: inside the ``hole`` only (the composite's
    own gradient), or ``all`` pixels, passing the composite's gradient straight through to the whole
    output as the released ``gradstack.m`` does for the global discriminator."""

    @field_validator("view", mode="before")
    @classmethod
    def _view_by_name(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


class ParserSpec(Spec):
    kind: ClassVar[str] = "parser"


class LossSpec(Spec):
    """A loss term; ``weight`` scales it in the generator's objective and is not a factory key."""

    kind: ClassVar[str] = "loss"
    weight: Annotated[float, Field(ge=0)] = 1.0


class Data(Section):
    train: DatasetSpec
    val: DatasetSpec | None = None
    parsing: DatasetSpec | None = None
    """Labelled faces for the parser stage (images with ``labels``)."""


class Masks(Section):
    train: MaskSamplerSpec
    eval: list[MaskSamplerSpec] = []


class Model(Section):
    generator: GeneratorSpec | None = None
    discriminators: dict[str, DiscriminatorSpec] = {}
    """Discriminators by name; adversarial losses name the one they read (the paper: ``local``
    on the hole, ``global`` on the whole image)."""
    parser: ParserSpec | None = None
    parser_weights: Path | None = None
    """Start the parser from these weights (a run's ``parser.safetensors``) instead of training it."""


class Stage(Section):
    name: str
    steps: Annotated[int, Field(ge=0)]
    train: Literal["generator", "parser"] = "generator"
    """What the stage trains: the generator (with its discriminators), or the parser on labelled faces."""
    losses: list[str] = []
    """Keys of the recipe's ``losses`` that this stage optimises (generator stages)."""
    lr: Annotated[float, Field(gt=0)] | None = None
    """The learning rate of what this stage trains (the generator, or the parser), instead of
    ``optim``'s for this stage only: e.g. a last, slower stage to settle a long run."""


class Optimizer(Section):
    lr: Annotated[float, Field(gt=0)]
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: Annotated[float, Field(ge=0)] = 0.0


class Optim(Section):
    """Adam settings; the defaults are the paper's released code (DESIGN.md section 7)."""

    generator: Optimizer = Optimizer(lr=1e-4, betas=(0.9, 0.999))
    discriminator: Optimizer = Optimizer(lr=2e-4, betas=(0.5, 0.999))
    parser: Optimizer = Optimizer(lr=1e-3, betas=(0.9, 0.999))


class Train(Section):
    batch_size: Annotated[int, Field(ge=1)] = 64
    device: str = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    channels_last: bool = True
    """Keep conv activations in NHWC: 1.5x faster training steps on a 2-core CPU (gfc-kit bench)."""
    num_workers: Annotated[int, Field(ge=0)] = 2
    hole_fill: Literal["noise", "zero", "mean"] = "noise"
    """What the generator sees in the hole: the paper fills it with uniform noise in [-1, 1]."""
    report_images: Annotated[int, Field(ge=0)] = 200
    """Validation images of the end-of-run report (``report.md`` on data.val under masks.eval); 0 = none."""
    log_every: Annotated[int, Field(ge=1)] = 50
    sample_every: Annotated[int, Field(ge=1)] = 500
    checkpoint_every: Annotated[int, Field(ge=1)] = 1000


class Recipe(Section):
    """A whole recipe (DESIGN.md section 6)."""

    name: str
    seed: int = 0
    image_size: Annotated[int, Field(ge=16)] = 128
    data: Data
    masks: Masks
    model: Model = Model()
    losses: dict[str, LossSpec] = {}
    stages: list[Stage] = []
    optim: Optim = Optim()
    train: Train = Train()
    output: Path | None = None
    """The run folder; ``runs/<name>`` when unset."""

    @property
    def output_dir(self) -> Path:
        return self.output or Path("runs") / self.name


def load(recipe: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read, merge, override and validate a recipe file (or the name of a built-in recipe)."""
    path = find(recipe)
    data = read(path)
    for override in overrides:
        apply_override(data, override)
    return validate(data, source=str(path))


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


def read(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The recipe at ``path`` as a plain dict, with its ``base:`` (and the base's base…) merged in."""
    data = upgrade(_read_yaml(path), path)
    base = data.pop("base", None)
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
    return merge(read(base_path, seen), data)


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
    context = {"image_size": recipe.image_size}
    components = registry()  # a broken plugin fails here, once, not once per entry
    for path, spec in specs(recipe):
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
        if stage.train == "parser":
            if model.parser is None:
                errors.append(f"stages.{i}: a parser stage needs model.parser")
            if recipe.data.parsing is None:
                errors.append(f"stages.{i}: a parser stage needs data.parsing (labelled faces, e.g. synthetic_faces)")
        elif model.generator is None:
            errors.append(f"stages.{i}: a generator stage needs model.generator")
    return errors


def dump(recipe: Recipe) -> str:
    """The resolved recipe as YAML (every parameter, defaults included)."""
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def json_schema() -> dict[str, Any]:
    """The recipe's JSON schema, each component entry a ``oneOf`` over the registered components
    of its kind with their parameters (for editor completion and docs)."""
    schema = Recipe.model_json_schema()
    defs = schema.setdefault("$defs", {})
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
        if spec_cls.__name__ in defs:
            defs[spec_cls.__name__] = {"oneOf": variants} if variants else defs[spec_cls.__name__]
    return schema

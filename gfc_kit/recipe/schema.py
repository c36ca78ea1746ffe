"""The shape of a recipe: pydantic models of its sections and component entries (DESIGN.md section 6).

Unknown keys are errors everywhere, so a typo never passes silently. A component entry
(:class:`Spec`) is ``{type: name, ...}``: its other keys are the component's parameters, checked
against the factory's signature by :mod:`gfc_kit.recipe.checking`, not here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer


class Section(BaseModel):
    """A fixed part of a recipe: unknown keys are errors (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid")


class Spec(BaseModel):
    """A component entry: ``type`` names a registered component, the other keys are its parameters."""

    model_config = ConfigDict(extra="allow")
    kind: ClassVar[str]
    by_name: ClassVar[bool] = False
    """Whether the entry may be written as the component's name alone (``view: hole``)."""
    type: str

    @property
    def params(self) -> dict[str, Any]:
        """The component's parameters: every key but ``type`` and the trainer's own keys."""
        return dict(self.model_extra or {})

    @property
    def entry(self) -> dict[str, Any]:
        """``{type: name, **params}``, what :func:`gfc_kit.factory.build` takes."""
        return {"type": self.type, **self.params}


class DatasetSpec(Spec):
    kind: ClassVar[str] = "dataset"


class MaskSamplerSpec(Spec):
    kind: ClassVar[str] = "mask_sampler"


class GeneratorSpec(Spec):
    kind: ClassVar[str] = "generator"


class ViewSpec(Spec):
    """What part of the image a discriminator judges (``hole``, ``image``, ``box``, or a plugin's)."""

    kind: ClassVar[str] = "view"
    by_name: ClassVar[bool] = True


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


class StageSpec(Spec):
    """What a stage trains: ``generator`` (the default), ``parser``, or a plugin's stage, written
    as a name (``train: parser``) or an entry (``train: {type: name, ...}``)."""

    kind: ClassVar[str] = "stage"
    by_name: ClassVar[bool] = True

    @model_serializer(mode="wrap")
    def _name_alone(self, handler: Any) -> Any:
        """Written back as the name alone when it has no parameters (``train: parser``), as
        recipes write it, so a run folder's ``recipe.yaml`` reads as before."""
        return self.type if not self.params else handler(self)


class CallbackSpec(Spec):
    """A callback run by the trainer (kind ``callback``), by its name in ``callbacks``; its other
    keys are the callback's parameters. ``enabled: false`` (or just ``false``) turns off one that
    runs by default, e.g. a plugin's logger, without turning off the plugin's components."""

    kind: ClassVar[str] = "callback"
    enabled: bool = True


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
    generator_weights: Path | None = None
    """Start the generator from these weights (a run's or a model folder's ``generator.safetensors``,
    or a checkpoint) instead of a random init: e.g. a long adversarial phase after a model's
    reconstruction stages. Discriminators and optimisers start fresh."""
    parser: ParserSpec | None = None
    parser_weights: Path | None = None
    """Start the parser from these weights (a run's ``parser.safetensors``) instead of training it."""


class Stage(Section):
    name: str
    steps: Annotated[int, Field(ge=0)]
    train: StageSpec = StageSpec(type="generator")
    """What the stage trains (kind ``stage``): the generator (with its discriminators), the parser
    on labelled faces, or a plugin's stage, as a name or an entry ``{type: name, ...}``."""
    losses: list[str] = []
    """Keys of the recipe's ``losses`` that this stage optimises (generator stages)."""
    lr: Annotated[float, Field(gt=0)] | None = None
    """The learning rate of what this stage trains (the generator, or the parser), instead of
    ``optim``'s for this stage only: e.g. a last, slower stage to settle a long run."""
    lr_decay: Literal["none", "cosine"] = "none"
    """``cosine``: the stage's rate falls from its value to 0 along half a cosine over its steps
    (Loshchilov and Hutter's SGDR without restarts), so a short stage ends settled."""
    image_size: Annotated[int, Field(ge=16)] | None = None
    """Train this generator stage at this side instead of the recipe's (progressive resizing: a
    convolutional generator learns more per CPU minute from smaller images first, then the next
    stages refine it at full size). Its data is read at this size; its losses may read only
    pixels, since the discriminators and the parser are built for the recipe's size."""
    data: DatasetSpec | None = None
    """This generator stage's own training data instead of ``data.train``: e.g. more, smaller
    faces for a first stage at a smaller ``image_size``."""

    @field_validator("train", mode="before")
    @classmethod
    def _stage_by_name(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


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
    hole_fill: Literal["noise", "zero", "mean", "telea"] = "noise"
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
    callbacks: dict[str, CallbackSpec] = {}
    """Callbacks by name: ``{early_stopping: {patience: 3}}`` runs one with its parameters,
    ``{progress: false}`` turns off one that runs by default (``gfc-kit plugins`` lists them)."""
    output: Path | None = None
    """The run folder; ``runs/<name>`` when unset."""

    @field_validator("callbacks", mode="before")
    @classmethod
    def _callback_entries(cls, value: Any) -> Any:
        """``name: false`` / ``true`` / ``{key: value}``, each an entry whose type is its name."""
        if not isinstance(value, dict):
            return value
        entries = {}
        for name, entry in value.items():
            if isinstance(entry, bool) or entry is None:
                entry = {"enabled": entry is not False}
            entries[name] = {"type": name, **entry} if isinstance(entry, dict) else entry
        return entries

    @property
    def output_dir(self) -> Path:
        return self.output or Path("runs") / self.name

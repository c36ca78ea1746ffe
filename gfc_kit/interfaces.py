"""The interfaces the trainer, completer and evaluator rely on (DESIGN.md section 4).

Tensor contract: images are float32 ``N×3×H×W`` RGB in ``[-1, 1]``; masks float32 ``N×1×H×W``
with 1 = hole, 0 = known; parsing labels int64 ``N×H×W`` over :data:`PARSING_CLASSES`;
landmarks float32 ``N×K×2`` pixel ``(x, y)``. A batch is a dict with ``image`` and optionally
``labels``, ``landmarks``, ``mask``, ``path``; a dataset item is the same dict without ``N``.
The networks are ``nn.Module`` s with the ``forward`` shapes below; the rest are plain callables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch

from gfc_kit.face_layout import FaceLayout, invert_affine

PARSING_CLASSES = (
    "background",
    "skin",
    "left_brow",
    "right_brow",
    "left_eye",
    "right_eye",
    "nose",
    "upper_lip",
    "inner_mouth",
    "lower_lip",
    "hair",
)
"""The 11 face-parsing classes of the paper (Helen's labels), in label-id order."""

Batch = dict[str, Any]


def composite(output: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The generator's output inside the hole, the known image outside it."""
    return output * mask + image * (1 - mask)


def fill_hole(
    image: torch.Tensor, mask: torch.Tensor, how: str = "noise", generator: torch.Generator | None = None
) -> torch.Tensor:
    """The generator's input: ``image`` with its hole replaced by ``noise`` (uniform in [-1, 1], the
    paper's choice), ``zero``, ``mean`` (each image's mean colour over its known pixels), or
    ``telea`` (OpenCV's fast-marching inpainting of each image, radius 5 px: the generator then
    corrects a classical fill, which a model trained briefly on varied scenes needs to beat it)."""
    if how == "telea":
        return composite(_telea(image, mask), image, mask)
    if how == "noise":
        fill = torch.rand(image.shape, generator=generator, device="cpu").to(image) * 2 - 1
    elif how == "zero":
        fill = torch.zeros_like(image)
    elif how == "mean":
        known = 1 - mask
        fill = (image * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True).clamp_min(1)
    else:
        raise ValueError(f"unknown hole fill {how!r}; use noise, zero, mean or telea")
    return composite(fill.expand_as(image), image, mask)


def _telea(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each image's hole filled by OpenCV's Telea inpainting (on 8-bit RGB, as OpenCV takes it)."""
    import cv2

    pixels = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    holes = (mask[:, 0] > 0.5).to(torch.uint8).cpu().numpy()
    filled = np.stack([cv2.inpaint(np.ascontiguousarray(p), h, 5, cv2.INPAINT_TELEA) for p, h in zip(pixels, holes)])
    return torch.from_numpy(filled).permute(0, 3, 1, 2).to(image).div(127.5).sub(1)


def generator_input(image: torch.Tensor, mask: torch.Tensor, how: str = "noise", generator: torch.Generator | None = None,
                    mask_channel: bool = False) -> torch.Tensor:
    """What a generator is fed: :func:`fill_hole`'s image, followed by the mask as a 4th channel
    when the generator takes one (``mask_channel``; off in the paper). The trainer, the completer
    and ``gfc-kit bench`` all build the input here, so they cannot disagree."""
    filled = fill_hole(image, mask, how, generator)
    return torch.cat([filled, mask.to(filled)], 1) if mask_channel else filled


def takes_mask(generator: torch.nn.Module) -> bool:
    """Whether ``generator`` wants the mask as an extra input channel (its ``mask_channel`` attribute)."""
    return bool(getattr(generator, "mask_channel", False))


def size_multiple(generator: torch.nn.Module) -> int | None:
    """The sides a generator takes: any multiple of this (a fully convolutional network, its
    ``size_multiple`` attribute), or ``None`` when it takes only its ``image_size`` (e.g. the paper's
    fully connected bottleneck). Crops of photos are completed at their own scale only when it is set."""
    multiple = getattr(generator, "size_multiple", None)
    return int(multiple) if multiple else None


LossInputs = Literal["pixels", "adversarial", "parsing", "step"]
"""What a loss consumes, declared as its class attribute ``inputs`` (see :mod:`gfc_kit.components.losses`)."""


@dataclass
class StepContext:
    """Everything one generator step has, for losses that declare ``inputs = "step"``.

    ``discriminators`` maps each name in ``model.discriminators`` to a function that judges images
    through that discriminator's view (logits ``N``; gradients flow to the images); ``parser`` is the
    frozen face parser, or ``None``.
    """

    batch: Batch
    image: torch.Tensor
    mask: torch.Tensor
    output: torch.Tensor
    composite: torch.Tensor
    discriminators: Mapping[str, Callable[[torch.Tensor], torch.Tensor]]
    parser: torch.nn.Module | None


@runtime_checkable
class Generator(Protocol):
    """``forward(x: N×3×H×W) -> N×3×H×W``; ``x`` is the image with its hole filled per the recipe."""

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Discriminator(Protocol):
    """``forward(x: N×3×h×w) -> N`` logits (real = high); it sees composites, not raw outputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Parser(Protocol):
    """``forward(x: N×3×H×W) -> N×C×H×W`` class logits over :data:`PARSING_CLASSES`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class MaskSampler(Protocol):
    """Holes for a batch: ``N×1×H×W`` float32, 1 = hole, sized like ``batch["image"]``.

    Deterministic for a given ``generator``; may read ``labels`` or ``landmarks`` from the batch.
    """

    def __call__(self, batch: Batch, generator: torch.Generator | None = None) -> torch.Tensor: ...


@runtime_checkable
class Completer(Protocol):
    """Fills holes without a recipe: ``(image N×3×H×W, mask N×1×H×W) -> composited N×3×H×W``."""

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...


@dataclass
class Face:
    """One face an aligner found in a photo, and how it maps onto a model's layout."""

    box: tuple[float, float, float, float]
    """The detector's box ``(x0, y0, x1, y1)`` in photo pixels."""
    landmarks: np.ndarray
    """``5×2`` photo pixels in :data:`~gfc_kit.face_layout.POINT_NAMES` order (NaN: not found)."""
    to_layout: np.ndarray
    """2×3 similarity: photo pixels → the layout's unit square (``[0, 1]²`` is what the model sees)."""
    score: float = 0.0

    @classmethod
    def from_landmarks(cls, box: tuple[float, float, float, float], landmarks: np.ndarray, layout: FaceLayout,
                       score: float = 0.0) -> Face:
        """A face whose transform is fitted to ``layout`` from its landmarks."""
        landmarks = np.asarray(landmarks, dtype=np.float64)
        return cls(tuple(float(v) for v in box), landmarks, layout.transform(landmarks), float(score))

    @property
    def from_layout(self) -> np.ndarray:
        """2×3: the layout's unit square → photo pixels."""
        return invert_affine(self.to_layout)

    @property
    def side(self) -> float:
        """The side, in photo pixels, of the square the model sees (the face's size in the photo)."""
        return float(1 / np.hypot(*self.to_layout[0, :2]))

    def corners(self) -> np.ndarray:
        """The model's square as four photo-pixel corners (``4×2``, clockwise from top left)."""
        square = np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=np.float64)
        return square @ self.from_layout.T


@runtime_checkable
class Aligner(Protocol):
    """Finds the faces in a photo (``H×W×3`` uint8 RGB) with the transform of each onto
    ``layout``; an empty list when there is none. See :class:`Face`."""

    def __call__(self, photo: np.ndarray, layout: FaceLayout) -> list[Face]: ...


@runtime_checkable
class Refiner(Protocol):
    """Sharpens a fill made at a lower resolution, at the photo's: ``photo`` and ``fill`` are
    ``H×W×3`` float32 in ``[0, 1]`` (the fill is the model's, enlarged), ``hole`` an ``H×W`` bool
    array, ``scale`` the photo pixels per model pixel; returns the refined fill, which may differ
    from ``fill`` only in the hole. ``context(hole, scale)`` says how many pixels of known photo
    around the hole's box it reads."""

    def context(self, hole: np.ndarray, scale: float) -> int: ...

    def __call__(self, photo: np.ndarray, fill: np.ndarray, hole: np.ndarray, scale: float) -> np.ndarray: ...


@runtime_checkable
class Blender(Protocol):
    """Merges a completed fill into a photo: ``photo`` and ``fill`` are ``H×W×3`` float32 in
    ``[0, 1]``, ``hole`` an ``H×W`` bool array; returns the blended ``H×W×3``. Only pixels within
    ``margin(hole)`` pixels of the hole may change: the completer keeps every other pixel of the
    photo as it was, byte for byte."""

    def margin(self, hole: np.ndarray) -> int: ...

    def __call__(self, photo: np.ndarray, fill: np.ndarray, hole: np.ndarray) -> np.ndarray: ...


class Validation(NamedTuple):
    """The fixed validation batch completed by the generator as it is at one step (the same
    images, holes and noise every time)."""

    image: torch.Tensor
    mask: torch.Tensor
    masked: torch.Tensor
    output: torch.Tensor
    composite: torch.Tensor


class Run(Protocol):
    """What lifecycle hooks and callbacks see of a training run (:mod:`gfc_kit.hookspecs`): a
    small, stable surface, so the trainer behind it can change without breaking plugins."""

    recipe: Any
    """The validated :class:`gfc_kit.recipe.Recipe`."""
    output: Path
    """The run folder."""
    position: tuple[int, int]
    """The stage index (from 0) and the step within that stage the run is at."""

    @property
    def modules(self) -> Mapping[str, torch.nn.Module]:
        """The networks by name: ``generator``, ``discriminator.NAME``, ``parser``."""

    @property
    def parser_trained(self) -> bool:
        """Whether the run has a parser worth using (trained by a stage, or loaded)."""

    def validation(self) -> Validation:
        """The fixed validation batch completed by the generator as it is now (computed once per step)."""

    def validation_batch(self) -> Batch:
        """The fixed validation batch itself (``image``, and ``labels`` where the data has them)."""

    def parse(self, images: torch.Tensor) -> torch.Tensor:
        """The parser's labels ``N×H×W`` for ``images``."""

    def stop(self, reason: str) -> None:
        """Ask the run to stop after the current step: the step's rows are logged, the final
        checkpoint, export and report are written, and ``--resume`` then trains no further."""


@runtime_checkable
class TrainingStage(Protocol):
    """What one step of a recipe stage does (kind ``stage``; ``stages[i].train`` names one).

    ``trains`` names the optimiser a step updates and whose learning rate the stage sets
    (``generator`` or ``parser``); ``data`` the dataset it reads (``train``: ``data.train`` or the
    stage's own ``data``; ``parsing``: ``data.parsing``, labelled faces). ``parts`` is the run's
    :class:`gfc_kit.training.parts.RunParts`; ``stage`` its recipe entry."""

    trains: str
    data: str

    def enter(self, parts: Any, stage: Any) -> None:
        """Set train modes and gradients for this stage, before its first step."""

    def step(self, parts: Any, stage: Any, batch: Batch, rng: torch.Generator) -> dict[str, torch.Tensor]:
        """One training step on ``batch`` (on the device), random draws from ``rng``; the values to log."""

    def validate(self, run: Run) -> dict[str, float]:
        """The numbers of a validation row (``val_...``) for the run as it is now."""

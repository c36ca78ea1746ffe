"""The paper's losses, reduced as the authors' released code does: **sum over pixels, mean over the
batch** (Caffe's convention), so the weights 300 / 300 / 0.05 of DESIGN.md section 7 keep the
balance they had there.

Each loss class says what it consumes in its ``inputs`` attribute, and the trainer routes on that
(never on the recipe key it sits under):

- ``pixels``: ``loss(output, target, mask) -> scalar``;
- ``adversarial``: ``loss.generator(fake_logits)`` and ``loss.discriminator(real_logits,
  fake_logits)`` on the logits of the discriminator its ``discriminator`` parameter names;
- ``parsing``: ``loss(logits, labels) -> scalar``, the parser's logits on the composite against
  its labels of the original;
- ``step``: ``loss(context) -> scalar`` with a :class:`gfc_kit.interfaces.StepContext` (image,
  mask, output, composite, discriminators, parser), e.g. a loss on the composite.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gfc_kit.frequency import detail_energy
from gfc_kit.hookspecs import hookimpl
from gfc_kit.interfaces import LossInputs

Region = Literal["all", "hole", "known"]


def _per_image_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the batch, then mean over the batch."""
    return values.flatten(1).sum(1).mean()


def _weight(mask: torch.Tensor | None, region: Region) -> torch.Tensor | float:
    if region == "all" or mask is None:
        return 1.0
    return mask if region == "hole" else 1 - mask


class CharbonnierL1:
    """Charbonnier L1, sqrt((x - y)^2 + eps), the released code's reconstruction loss."""

    inputs: ClassVar[LossInputs] = "pixels"

    def __init__(self, eps: Annotated[float, Field(gt=0)] = 1e-12, region: Region = "all") -> None:
        """:param region: pixels that count: ``all`` (the released code: the whole output), the
        ``hole`` or the ``known`` part."""
        self.eps = eps
        self.region = region

    def __call__(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        error = ((output - target).square() + self.eps).sqrt()
        return _per_image_sum(error * _weight(mask, self.region))


class L2:
    """Squared error / 2, Caffe's EuclideanLoss (the paper text's reconstruction loss)."""

    inputs: ClassVar[LossInputs] = "pixels"

    def __init__(self, region: Region = "all") -> None:
        self.region = region

    def __call__(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return _per_image_sum(0.5 * (output - target).square() * _weight(mask, self.region))


class HighFrequency:
    """Puts the fine detail back where a pixel loss leaves a blur: the L1 distance between the local
    detail energy of the output and of the target (``|x - GaussianBlur(x, sigma)|``, averaged over
    the channels and a ``window``×``window`` neighbourhood), summed over the ``region``'s pixels.

    A pixel loss alone is minimised by the mean of the plausible fills, a blur; this term asks for
    as much texture as the truth has there (hair, brows, lashes), not for the truth's exact pixels,
    so it costs little L1 for the detail it brings (the detail ratio of ``gfc-kit evaluate``)."""

    inputs: ClassVar[LossInputs] = "pixels"

    def __init__(self, sigma: Annotated[float, Field(gt=0)] = 1.0, window: Annotated[int, Field(ge=1)] = 5,
                 region: Region = "hole") -> None:
        """:param sigma: the Gaussian that splits detail from the rest, in pixels.
        :param window: the side of the neighbourhood the energy is averaged over (odd).
        :param region: pixels that count (the ``hole``: outside it the composite keeps the truth)."""
        self.sigma, self.window, self.region = sigma, window | 1, region

    def energy(self, image: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(detail_energy(image.float(), self.sigma), self.window, 1, self.window // 2,
                            count_include_pad=False)

    def __call__(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return _per_image_sum((self.energy(output) - self.energy(target)).abs() * _weight(mask, self.region))


class BCEAdversarial:
    """Binary cross-entropy GAN loss on logits; the generator side is non-saturating, -log D(G)."""

    inputs: ClassVar[LossInputs] = "adversarial"

    def __init__(self, discriminator: str, real_label: Annotated[float, Field(gt=0, le=1)] = 1.0) -> None:
        """:param discriminator: the key in ``model.discriminators`` whose logits this loss reads.
        :param real_label: the target for real images (1; below 1 is one-sided label smoothing)."""
        self.discriminator_name = discriminator
        self.real_label = real_label

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))

    def discriminator(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, self.real_label))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


class ParsingCrossEntropy:
    """Pixel-wise softmax cross-entropy between parser logits and labels (the semantic regulariser)."""

    inputs: ClassVar[LossInputs] = "parsing"

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return _per_image_sum(F.cross_entropy(logits, labels, reduction="none"))


@hookimpl
def gfc_register(registry):
    registry.add("loss", "charbonnier_l1", CharbonnierL1)
    registry.add("loss", "l2", L2)
    registry.add("loss", "high_frequency", HighFrequency)
    registry.add("loss", "bce_adversarial", BCEAdversarial)
    registry.add("loss", "parsing_ce", ParsingCrossEntropy)

"""GFC's local and global discriminators (Li et al., CVPR 2017, sec. 3.2), as the released Caffe
models ``Model_localD.prototxt`` and ``Model_globalD.prototxt`` build them (DESIGN.md section 7).

Both are one pattern: per stage a 3×3 conv (stride 1, padding 1) and a 4×4 conv (stride 2,
padding 1), each followed by LeakyReLU 0.2, no BatchNorm; then one conv to a single logit. The
local one judges the hole's 64×64 patch with 4 stages (64…512 channels), the global one the whole
128×128 image with 5 (32…512). The released models end in a sigmoid; here the logit is returned
and the loss applies BCE-with-logits, the stable form of the same thing (DESIGN.md section 4).

The head: in the released models a 4×4 valid conv meets a 4×4 map and gives 1×1. So that other
sizes (the quickstart's 64×64 images and 32×32 holes leave a 2×2 map) still give one logit per
image, the head's kernel here is the side of whatever map remains: at the paper's sizes that is
exactly the released 4×4 conv, elsewhere it is still a linear map of the whole final feature map.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from gfc_kit.components.networks._width import Width, scaled
from gfc_kit.hookspecs import hookimpl

LOCAL_WIDTHS = (64, 128, 256, 512)
"""Channels per stage of the local discriminator (``conv1_x`` … ``conv4_x`` in Model_localD)."""

GLOBAL_WIDTHS = (32, 64, 128, 256, 512)
"""Channels per stage of the global discriminator (``conv0_x`` … ``conv4_x`` in Model_globalD)."""

_INIT_STD = 0.02
"""The released discriminators draw every weight from a gaussian of std 0.02 (DCGAN's choice); biases 0."""

Init = Literal["gaussian", "kaiming"]
"""``gaussian``: the released code's std 0.02. ``kaiming``: He et al.'s scale for LeakyReLU 0.2.
Without BatchNorm, std 0.02 shrinks the signal at every layer (about 1e-4 at the logit here), so
the discriminator's loss stays at 2 ln 2 for hundreds of steps before it starts to learn; a
short CPU schedule never gets its adversarial signal (docs/training.md)."""


class GFCDiscriminator(nn.Module):
    """``[conv3×3, conv4×4 stride 2] × len(widths)``, LeakyReLU 0.2, then a conv to one logit.

    ``forward(x: N×3×size×size) -> N`` logits (real = high).
    """

    def __init__(self, widths: Sequence[int], size: int, width: float, init: Init = "gaussian") -> None:
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels, side = 3, size
        for stage, base in enumerate(widths, 1):
            out = scaled(base, width)
            layers[f"conv{stage}_1"] = nn.Conv2d(channels, out, 3, padding=1)
            layers[f"conv{stage}_1_relu"] = nn.LeakyReLU(0.2, inplace=True)
            layers[f"conv{stage}_2"] = nn.Conv2d(out, out, 4, stride=2, padding=1)
            layers[f"conv{stage}_2_relu"] = nn.LeakyReLU(0.2, inplace=True)
            channels, side = out, side // 2
        layers["head"] = nn.Conv2d(channels, 1, side)
        self.layers = nn.Sequential(layers)
        self.size = size
        for layer in self.modules():
            if isinstance(layer, nn.Conv2d):
                if init == "gaussian":
                    nn.init.normal_(layer.weight, std=_INIT_STD)
                else:  # He et al. for LeakyReLU 0.2; the head is linear
                    linear = layer is layers["head"]
                    nn.init.kaiming_normal_(layer.weight, a=0.2, nonlinearity="linear" if linear else "leaky_relu")
                nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.size, self.size):
            raise ValueError(f"this discriminator takes {self.size}×{self.size} inputs, got {tuple(x.shape)}")
        return self.layers(x).flatten()


def gfc_local_discriminator(
    patch_size: Annotated[int, Field(ge=2 ** len(LOCAL_WIDTHS))] = 64, width: Width = 1.0, init: Init = "gaussian"
) -> GFCDiscriminator:
    """GFC's local discriminator: judges the hole's patch; 4 stages of 64…512 channels.

    :param patch_size: side of the square patch around the hole (64 in the paper).
    :param width: multiplies every conv's channels.
    :param init: the weights' initialisation: ``gaussian`` (the released code's std 0.02) or
        ``kaiming`` (learns from the first steps; see :data:`Init`)."""
    return GFCDiscriminator(LOCAL_WIDTHS, patch_size, width, init)


def gfc_global_discriminator(
    image_size: Annotated[int, Field(ge=2 ** len(GLOBAL_WIDTHS))] = 128, width: Width = 1.0, init: Init = "gaussian"
) -> GFCDiscriminator:
    """GFC's global discriminator: judges the whole composite; 5 stages of 32…512 channels.

    :param image_size: side of the square image (128 in the paper).
    :param width: multiplies every conv's channels.
    :param init: ``gaussian`` (the released code) or ``kaiming`` (see :data:`Init`)."""
    return GFCDiscriminator(GLOBAL_WIDTHS, image_size, width, init)


@hookimpl
def gfc_register(registry):
    registry.add("discriminator", "gfc_local_discriminator", gfc_local_discriminator)
    registry.add("discriminator", "gfc_global_discriminator", gfc_global_discriminator)

"""Face parsers: GFC's own SegNet-style network, and any segmentation_models_pytorch model.

GFC (Li et al., CVPR 2017, sec. 3.3) trains a parsing network on labelled faces (Helen), freezes
it, and penalises the generator when the parser's labels of the completed face differ from its
labels of the original. ``gfc_parser`` is the released ``Model_parsing.prototxt``: the whole
VGG-19 conv stack (conv1_1 … conv5_4, five pools keeping their indices), then per level, deep to
shallow, an unpool with that level's indices, one 3×3 conv (512, 256, 128, 64, 32 channels: each
equals the channels of the pool the next unpool uses), ReLU and dropout 0.5; then a 3×3 conv to
the class logits (the released ``conv_decode0`` is 3×3, not SegNet's usual 1×1). Five pools need
a height and width divisible by 32.

``smp_parser`` is the same role filled by any architecture and encoder of
segmentation_models_pytorch (STYLE.md section 2); the default, ``unet`` on ``resnet18``, has 14 M
parameters to gfc_parser's 24 M.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from gfc_kit.components.networks._width import Width
from gfc_kit.components.networks.backbones import SmpArch, SmpEncoder, smp_model
from gfc_kit.components.networks.vgg import (
    VGG19_STAGES,
    Level,
    PoolingEncoder,
    UnpoolingDecoder,
    load_vgg19_weights,
    msra_average_,
)
from gfc_kit.hookspecs import hookimpl

_DECODER_WIDTHS = {"conv1": 32, "conv2": 64, "conv3": 128, "conv4": 256, "conv5": 512}
"""One conv after each unpool (released ``conv_decode1`` … ``conv_decode5``)."""

LEVELS: tuple[Level, ...] = tuple(
    Level(stage, widths, (_DECODER_WIDTHS[stage],)) for stage, widths in VGG19_STAGES.items()
)
"""The parser's levels, shallow to deep: VGG-19's stages, each with its one decoder conv."""

_POOLS = 2 ** len(LEVELS)


class GFCParser(nn.Module):
    """GFC's face parser: a VGG-19 encoder and a SegNet decoder to per-pixel class logits.

    ``forward(x: N×3×H×W) -> N×classes×H×W``; H and W must be multiples of 32.
    """

    def __init__(
        self,
        classes: Annotated[int, Field(ge=1)] = 11,
        width: Width = 1.0,
        dropout: Annotated[float, Field(ge=0, lt=1)] = 0.5,
        vgg_weights: Path | None = None,
    ) -> None:
        """:param classes: output classes (the paper's 11 Helen labels, DESIGN.md section 4).
        :param width: multiplies every conv's channels.
        :param dropout: dropout after each decoder conv (0.5 in the released code; off in eval).
        :param vgg_weights: a local torchvision VGG-19 state dict for the encoder (width 1 only)."""
        super().__init__()
        self.encoder = PoolingEncoder(3, LEVELS, width)
        self.decoder = UnpoolingDecoder(self.encoder.out_channels, LEVELS, width, dropout)
        self.classifier = nn.Conv2d(self.decoder.out_channels, classes, 3, padding=1)
        msra_average_(self)
        if vgg_weights is not None:
            load_vgg19_weights(self.encoder.vgg_layers(), vgg_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % _POOLS or x.shape[-1] % _POOLS:
            raise ValueError(f"gfc_parser needs a height and width divisible by {_POOLS}, got {tuple(x.shape)}")
        code, indices = self.encoder(x)
        return self.classifier(self.decoder(code, indices))


def smp_parser(
    arch: SmpArch = "unet",
    encoder: SmpEncoder = "resnet18",
    weights: Path | None = None,
    classes: Annotated[int, Field(ge=1)] = 11,
) -> nn.Module:
    """A segmentation_models_pytorch model as the parser: ``smp.create_model(arch, encoder, ...)``.

    :param arch: an smp architecture (``unet``, ``fpn``, ``deeplabv3plus``, …).
    :param encoder: an smp encoder name (``resnet18``, ``mobilenet_v2``, ``tu-<timm model>``, …).
    :param weights: a local safetensors file of the encoder's weights to start from; smp's own
        ``encoder_weights`` would download them, which gfc-kit never does (DESIGN.md section 8).
    :param classes: output classes. Inputs need a height and width divisible by 32."""
    return smp_model(arch, encoder, 3, classes, weights)


@hookimpl
def gfc_register(registry):
    registry.add("parser", "gfc_parser", GFCParser)
    registry.add("parser", "smp_parser", smp_parser)

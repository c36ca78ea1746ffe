"""The GFC generator: Li, Liu, Yang, Yang, *Generative Face Completion* (CVPR 2017, sec. 3.1), laid
out as the authors' released Caffe model ``Model_G.prototxt`` (DESIGN.md section 7).

An autoencoder: VGG-19 convs whose 2×2 max pools keep their indices, two fully connected layers
through a ``bottleneck`` (4096) and back to the spatial code, and a decoder that unpools with the
saved indices (SegNet) and convolves. All convs are 3×3, padding 1, ReLU, no BatchNorm; the last
conv outputs RGB with no activation (the released ``reconstruction_new`` layer).

The released code adds a block of two 32-channel convs and a pool *before* VGG-19's conv1
(``conv0_1``, ``conv0_2``, ``pool0``), so conv1 runs at S/2 rather than S (≈ 4 instead of ≈ 18
GFLOP per 128×128 image). The paper's text puts two extra convs and a pool *after* pool3;
``extra_block="after"`` builds that. The paper gives those convs no width: here they have 256
channels, pool3's, so the code is 256 × (S/16)² either way and the FC layers are the same, and the
decoder mirrors them with two 256-channel convs before unpooling with pool3's indices. The tables
(:data:`LAYOUTS`), at width 1, for an S×S input, shallow to deep:

=================  ===================  ===========================  ===========================
level              encoder, then pool   unpool, then decoder convs   resolution (before / after)
=================  ===================  ===========================  ===========================
extra ("before")   32 32                32 32                        S
conv1              64 64                64 32                        S/2 / S
conv2              128 128              64 64                        S/4 / S/2
conv3              256 256 256 256      64 64 64 128                 S/8 / S/4
extra ("after")    256 256              256 256                      S/8
=================  ===================  ===========================  ===========================

Then the code 256 × (S/16)² → FC ``bottleneck`` + ReLU → FC 256 × (S/16)² + ReLU → reshape →
decoder, deep to shallow → 3×3 conv to RGB. Each decoder level ends with as many channels as the
pool whose indices the next unpool uses. At S = 128, width 1, bottleneck 4096 the released layout
has 137,071,331 parameters, 134,238,208 of them in the two FC layers (≈ 550 MB in fp32); small
runs shrink ``width`` and ``bottleneck``.

Initialisation follows the released prototxt: Caffe's ``msra`` filler (variance_norm AVERAGE) for
every conv and FC layer, a gaussian of std 0.001 for the output conv.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import nn

from gfc_kit.components.networks._width import Width
from gfc_kit.components.networks.vgg import (
    Level,
    PoolingEncoder,
    UnpoolingDecoder,
    load_vgg19_weights,
    msra_average_,
)
from gfc_kit.hookspecs import hookimpl

_VGG_LEVELS = (
    # name,  encoder convs (then pool),  decoder convs (after unpool); released Model_G.prototxt
    Level("conv1", (64, 64), (64, 32)),            # conv1_1(_new), conv1_2 | conv_decode1_2, conv_decode1_1_new
    Level("conv2", (128, 128), (64, 64)),          # conv2_1, conv2_2       | conv_decode2_2, conv_decode2_1
    Level("conv3", (256,) * 4, (64, 64, 64, 128)),  # conv3_1 … conv3_4      | conv_decode3_4 … conv_decode3_1
)  # fmt: skip

LAYOUTS: dict[str, tuple[Level, ...]] = {
    "before": (Level("extra", (32, 32), (32, 32)), *_VGG_LEVELS),  # released: conv0_1, conv0_2, pool0
    "after": (*_VGG_LEVELS, Level("extra", (256, 256), (256, 256))),  # paper text: after pool3
}
"""The generator's levels, shallow to deep, for each place of the extra block."""

_OUTPUT_STD = 0.001
"""The released ``reconstruction_new`` conv starts from a gaussian of std 0.001, so the first
outputs are ≈ 0 (mid-grey in [-1, 1]) rather than noise."""


class GFCGenerator(nn.Module):
    """GFC's encoder–decoder generator (Li et al., CVPR 2017), as the released code builds it.

    ``forward(x: N×3×S×S) -> N×3×S×S``, linear output; with ``mask_channel`` the input is
    ``N×4×S×S``: the filled image and then the mask (1 = hole), which the caller concatenates.
    """

    def __init__(
        self,
        image_size: Annotated[int, Field(ge=16, multiple_of=16)] = 128,
        extra_block: Literal["before", "after"] = "before",
        width: Width = 1.0,
        bottleneck: Annotated[int, Field(ge=1)] = 4096,
        vgg_weights: Path | None = None,
        mask_channel: bool = False,
    ) -> None:
        """:param image_size: side S of the square input; four pools need a multiple of 16.
        :param extra_block: where the block of two extra convs and a pool sits: ``before`` VGG's
            conv1 (the released code) or ``after`` pool3 (the paper's text).
        :param width: multiplies every conv's channels (the code's too, hence the FC sizes).
        :param bottleneck: size of the first FC layer; the second maps back to the code.
        :param vgg_weights: a local torchvision VGG-19 state dict to start the VGG convs from
            (width 1 only). With the extra block before conv1, conv1_1 sees 32 channels instead
            of RGB and starts from scratch, as the released ``conv1_1_new`` does; so does it with
            a mask channel.
        :param mask_channel: take the mask as a 4th input channel (off in the paper)."""
        super().__init__()
        levels = LAYOUTS[extra_block]
        self.image_size = image_size
        self.mask_channel = mask_channel
        self.encoder = PoolingEncoder(4 if mask_channel else 3, levels, width)
        side = image_size // 2 ** len(levels)
        self.code_shape = (self.encoder.out_channels, side, side)
        code = math.prod(self.code_shape)
        self.fc = nn.Sequential(OrderedDict(
            fc=nn.Linear(code, bottleneck),
            fc_relu=nn.ReLU(inplace=True),
            defc=nn.Linear(bottleneck, code),
            defc_relu=nn.ReLU(inplace=True),
        ))  # fmt: skip
        self.decoder = UnpoolingDecoder(self.encoder.out_channels, levels, width)
        self.output = nn.Conv2d(self.decoder.out_channels, 3, 3, padding=1)
        msra_average_(self)
        nn.init.normal_(self.output.weight, std=_OUTPUT_STD)
        if vgg_weights is not None:
            load_vgg19_weights(self.vgg_layers(), vgg_weights)

    def vgg_layers(self) -> dict[str, nn.Conv2d]:
        """The convs that can start from ImageNet VGG-19, by VGG name: conv1_1 only if it sees RGB."""
        layers = self.encoder.vgg_layers()
        if layers["conv1_1"].in_channels != 3:  # after the extra block (32 channels) or with a mask channel
            del layers["conv1_1"]
        return layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"this generator takes {self.image_size}×{self.image_size} images, got {tuple(x.shape)}")
        code, indices = self.encoder(x)
        code = self.fc(code.flatten(1)).unflatten(1, self.code_shape)
        return self.output(self.decoder(code, indices))


@hookimpl
def gfc_register(registry):
    registry.add("generator", "gfc_generator", GFCGenerator)

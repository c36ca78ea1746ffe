"""VGG-19 stacks with index-keeping pools and the unpooling decoder they feed: what the GFC
generator and parser share, and a loader for local torchvision VGG-19 weights.

Both networks of Generative Face Completion (Li, Liu, Yang, Yang, CVPR 2017, sec. 3) encode with
VGG-19 (Simonyan & Zisserman 2015, configuration E: 3×3 convs with padding 1 and ReLU, a 2×2 max
pool after each stage) and decode SegNet-style (Badrinarayanan et al., TPAMI 2017): each decoder
level unpools with the indices its encoder level's pool saved, which the authors' released Caffe
models do with an ``Upsample`` layer fed the pool's mask, then convolves. A network is a table of
:class:`Level` s, shallow to deep; the builders check that each unpool receives as many channels as
its pool produced, the condition for unpooling by index.

ImageNet weights cannot be downloaded here (DESIGN.md section 8), so :func:`load_vgg19_weights`
reads a local file saved from torchvision's ``vgg19().state_dict()``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gfc_kit.components.networks._width import scaled
from gfc_kit.errors import GfcError

VGG19_STAGES: dict[str, tuple[int, ...]] = {
    "conv1": (64, 64),
    "conv2": (128, 128),
    "conv3": (256, 256, 256, 256),
    "conv4": (512, 512, 512, 512),
    "conv5": (512, 512, 512, 512),
}
"""VGG-19's conv output channels per stage; conv ``k`` of stage ``convS`` is named ``convS_k``."""


def _torchvision_indices() -> dict[str, int]:
    """``conv3_2`` → its index in torchvision's ``vgg19().features``: each conv and its ReLU take
    two slots, each stage's pool one more."""
    table, index = {}, 0
    for stage, widths in VGG19_STAGES.items():
        for k in range(1, len(widths) + 1):
            table[f"{stage}_{k}"] = index
            index += 2
        index += 1
    return table


TORCHVISION_INDEX: dict[str, int] = _torchvision_indices()
"""Where each VGG-19 conv's ``weight`` and ``bias`` sit in a torchvision state dict
(``features.<index>.weight``): ``conv1_1`` → 0, ``conv1_2`` → 2, ``conv2_1`` → 5, … ``conv5_4`` → 34."""


@dataclass(frozen=True)
class Level:
    """One resolution of an encoder–decoder, as data.

    Going down: the ``encoder`` convs, then a 2×2 max pool that keeps its indices. Coming up: an
    unpool with those indices, then the ``decoder`` convs, in the order they run. Channel counts
    are at ``width = 1``. The encoder's convs are named ``<name>_1``, ``<name>_2``, …, the
    decoder's ``decode_<name>_1``, …; a level named after a VGG-19 stage can take its weights.
    """

    name: str
    encoder: tuple[int, ...]
    decoder: tuple[int, ...]


class WeightsError(GfcError):
    """A weights file is missing, unreadable, or does not fit the network; names the file."""


def _convs(in_channels: int, widths: Sequence[int], stem: str, dropout: float) -> Iterator[tuple[str, nn.Module]]:
    """Named 3×3 convs (padding 1), each followed by a ReLU and, if ``dropout``, a dropout."""
    for k, out_channels in enumerate(widths, 1):
        name = f"{stem}_{k}"
        yield name, nn.Conv2d(in_channels, out_channels, 3, padding=1)
        yield f"{name}_relu", nn.ReLU(inplace=True)
        if dropout:
            yield f"{name}_drop", nn.Dropout(dropout)
        in_channels = out_channels


class PoolingEncoder(nn.ModuleDict):
    """Per level: convs + ReLU, then a 2×2 max pool; ``x -> (code, indices)``, one index tensor per
    level, shallow to deep."""

    def __init__(self, in_channels: int, levels: Sequence[Level], width: float) -> None:
        stages = {}
        for level in levels:
            widths = [scaled(c, width) for c in level.encoder]
            layers = [*_convs(in_channels, widths, level.name, 0.0), ("pool", nn.MaxPool2d(2, 2, return_indices=True))]
            stages[level.name] = nn.Sequential(OrderedDict(layers))
            in_channels = widths[-1]
        super().__init__(stages)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        indices = []
        for stage in self.values():
            x, where = stage(x)
            indices.append(where)
        return x, indices

    def vgg_layers(self) -> dict[str, nn.Conv2d]:
        """The convs of the levels named after VGG-19 stages, by VGG name (``conv1_1`` …)."""
        return {
            name: layer
            for stage_name, stage in self.items() if stage_name in VGG19_STAGES
            for name, layer in stage.named_children() if isinstance(layer, nn.Conv2d)
        }  # fmt: skip


class _UnpoolStage(nn.Sequential):
    """A 2×2 max unpool with the matching pool's indices, then the stage's convs."""

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        unpool, *layers = self
        x = unpool(x, indices)
        for layer in layers:
            x = layer(x)
        return x


class UnpoolingDecoder(nn.ModuleDict):
    """Per level, deep to shallow: unpool with that level's pool indices, then convs + ReLU
    (+ dropout); ``(code, indices) -> features`` at the input's resolution."""

    def __init__(self, in_channels: int, levels: Sequence[Level], width: float, dropout: float = 0.0) -> None:
        stages = {}
        for level in reversed(levels):
            pooled = scaled(level.encoder[-1], width)
            if in_channels != pooled:
                raise ValueError(
                    f"level {level.name!r}: its unpool would get {in_channels} channels but its pool "
                    f"kept indices for {pooled}; the layer before it must output {pooled}")
            widths = [scaled(c, width) for c in level.decoder]
            layers = [("unpool", nn.MaxUnpool2d(2, 2)), *_convs(in_channels, widths, f"decode_{level.name}", dropout)]
            stages[level.name] = _UnpoolStage(OrderedDict(layers))
            in_channels = widths[-1]
        super().__init__(stages)
        self.out_channels = in_channels

    def forward(self, x: torch.Tensor, indices: Sequence[torch.Tensor]) -> torch.Tensor:
        for stage, where in zip(self.values(), reversed(indices), strict=True):
            x = stage(x, where)
        return x


def msra_average_(module: nn.Module) -> None:
    """Initialise every conv and linear layer as the released Caffe models do: weights from
    ``msra`` with ``variance_norm: AVERAGE`` (normal, std √(2 / mean(fan_in, fan_out))), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            receptive = math.prod(layer.weight.shape[2:])
            fan_in, fan_out = layer.weight.shape[1] * receptive, layer.weight.shape[0] * receptive
            nn.init.normal_(layer.weight, std=math.sqrt(4 / (fan_in + fan_out)))
            nn.init.zeros_(layer.bias)


def load_vgg19_weights(layers: Mapping[str, nn.Conv2d], path: Path) -> None:
    """Copy ImageNet VGG-19 weights from a local torchvision state dict into ``layers``.

    :param layers: VGG-19 conv name (``conv1_1`` … ``conv5_4``) → the conv that takes its weights.
    :param path: a ``.pth``/``.pt`` file (read with ``torch.load(weights_only=True)``) or a
        ``.safetensors`` file, holding torchvision's ``features.<index>.weight``/``.bias`` keys.
        Nothing is ever downloaded.
    :raises WeightsError: naming ``path``, if it is missing or unreadable, lacks a key, or a
        tensor's shape differs from the layer's (ImageNet weights fit only ``width = 1``).
        Nothing is copied unless every layer fits.
    """
    state = _read_state_dict(path)
    pairs = []
    for name, conv in layers.items():
        for part in ("weight", "bias"):
            key = f"features.{TORCHVISION_INDEX[name]}.{part}"
            if key not in state:
                raise WeightsError(
                    f"{path}: no {key!r} (VGG-19 {name}); expected torchvision's vgg19().state_dict()")
            ours, theirs = getattr(conv, part), state[key]
            if ours.shape != theirs.shape:
                raise WeightsError(
                    f"{path}: {key} (VGG-19 {name}) has shape {tuple(theirs.shape)} but this network's "
                    f"{name} needs {tuple(ours.shape)}; ImageNet VGG-19 weights fit only width 1")
            pairs.append((ours, theirs))
    with torch.no_grad():
        for ours, theirs in pairs:
            ours.copy_(theirs)


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"{path}: VGG-19 weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and safetensors each fail their own way; all mean "unreadable"
        first_line = (str(exc).splitlines() or [""])[0]
        raise WeightsError(f"{path}: cannot read VGG-19 weights: {type(exc).__name__}: {first_line}") from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict (a mapping of names to tensors)")
    return state

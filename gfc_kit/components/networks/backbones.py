"""Generators on other backbones: any timm encoder with a decoder that mirrors its feature
pyramid (``timm_generator``), or any segmentation_models_pytorch architecture and encoder producing
an image instead of labels (``smp_generator``).

Nothing is downloaded: encoders start from scratch, or from a local weights file (``weights``).
An encoder name timm or smp does not know is a one-line error that suggests close names.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import AfterValidator, Field
from torch import nn

from gfc_kit.errors import GfcError
from gfc_kit.hookspecs import hookimpl


def close_names(name: str, known: Sequence[str], count: int = 5) -> str:
    """``; close: a, b, c`` for the names in ``known`` that look like ``name`` (or nothing)."""
    matches = difflib.get_close_matches(name, known, n=count, cutoff=0.6)
    return f"; close: {', '.join(matches)}" if matches else ""


def timm_encoder(name: str) -> str:
    """``name`` if the installed timm knows it; else an error naming close ones (a recipe check
    reports it, with the key, before anything is built)."""
    import timm

    if not timm.is_model(name):
        raise ValueError(f"{name!r} is not a model timm {timm.__version__} knows"
                         f"{close_names(name, timm.list_models())} (timm.list_models() lists them all)")
    return name


def smp_encoder(name: str) -> str:
    """``name`` if smp knows it as an encoder (``tu-<timm model>`` included), else an error naming close ones."""
    import segmentation_models_pytorch as smp

    if name.startswith("tu-"):
        return "tu-" + timm_encoder(name[3:])
    if name not in smp.encoders.get_encoder_names():
        raise ValueError(f"{name!r} is not an smp encoder{close_names(name, smp.encoders.get_encoder_names())} "
                         "(or tu-<timm model>)")
    return name


def smp_arch(name: str) -> str:
    """``name`` if it is an smp architecture (any case), else an error naming close ones."""
    import segmentation_models_pytorch as smp

    known = sorted(n for n, v in vars(smp).items() if isinstance(v, type) and issubclass(v, nn.Module) and n[0].isupper())
    if name.lower() not in {n.lower() for n in known}:
        raise ValueError(f"{name!r} is not an smp architecture{close_names(name, known)}")
    return name


TimmEncoder = Annotated[str, AfterValidator(timm_encoder)]
SmpEncoder = Annotated[str, AfterValidator(smp_encoder)]
SmpArch = Annotated[str, AfterValidator(smp_arch)]


def check_weights(weights: Path | None) -> None:
    if weights is not None and not Path(weights).is_file():
        raise GfcError(f"{weights}: no such weights file (weights are read from local files only; "
                       "gfc-kit never downloads them)")


def check_timm_weights(weights: Path, encoder: str) -> None:
    """Refuse a weights file that cannot be read or was made for another network, before timm loads
    it: timm keeps the tensors that fit and drops the rest, so resnet34's weights would go into a
    resnet18 unremarked. The classifier head may differ (a model fine-tuned for other classes)."""
    import timm

    state = read_weight_file(Path(weights))
    model = timm.create_model(encoder, pretrained=False)
    heads = model.pretrained_cfg.get("classifier") or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    body = {k: v for k, v in model.state_dict().items() if not k.startswith(tuple(f"{h}." for h in heads))}
    for key, tensor in body.items():
        if key not in state:
            raise GfcError(f"{weights}: not weights of {encoder}: the file has no {key}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise GfcError(f"{weights}: not weights of {encoder}: {key} is {tuple(state[key].shape)} in the "
                           f"file, {tuple(tensor.shape)} in {encoder}")
    extra = [k for k in state if k not in body and not k.startswith(tuple(f"{h}." for h in heads))]
    if extra:
        more = f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""
        raise GfcError(f"{weights}: not weights of {encoder}: the file has {extra[0]}{more}, which {encoder} lacks")


def read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a ``.safetensors`` file or a PyTorch ``.pth``/``.pt``/``.bin`` file (tensors
    only, never code; a ``state_dict`` or ``model`` entry is unwrapped), as one error line otherwise."""
    from gfc_kit.weights import read_safetensors

    if path.suffix == ".safetensors":
        return read_safetensors(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # pickle, zip and torch errors alike; their texts are about torch.load, not the file
        raise GfcError(f"{path}: not a readable weights file (a .safetensors file, or a PyTorch state dict saved "
                       "with torch.save)") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise GfcError(f"{path}: holds no state dict of tensors")
    return state


def _block(inputs: int, outputs: int) -> nn.Sequential:
    """Two 3×3 conv + BatchNorm + ReLU: the decoder's unit (as smp's U-Net decoder)."""
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True),
        nn.Conv2d(outputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True),
    )


class TimmGenerator(nn.Module):
    """An encoder–decoder generator on any timm model that offers ``features_only``.

    ``forward(x: N×3×S×S) -> N×3×S×S`` (``N×4×S×S`` with ``mask_channel``), linear output like the
    paper's. The decoder mirrors the encoder's feature pyramid deep to shallow: upsample ×2, join
    the encoder's feature of that level (``skips``), two convs; then up to full size and a 3×3
    conv to RGB. ``bottleneck`` puts the paper's two fully connected layers on the deepest feature.
    """

    def __init__(
        self,
        encoder: TimmEncoder = "resnet18",
        image_size: Annotated[int, Field(ge=32, multiple_of=32)] = 128,
        skips: bool = True,
        bottleneck: Annotated[int, Field(ge=1)] | None = None,
        decoder_channels: list[Annotated[int, Field(ge=1)]] | None = None,
        weights: Path | None = None,
        mask_channel: bool = False,
    ) -> None:
        """:param encoder: a timm model name (``resnet18``, ``mobilenetv3_large_100``,
            ``efficientnet_b0``, ``convnext_atto``, …); any that offers ``features_only``.
        :param image_size: side S of the square input; most encoders need a multiple of 32. Without
            ``bottleneck`` the generator takes any size that is a multiple of the encoder's
            reduction (a recipe stage may train it smaller first).
        :param skips: join each encoder level's feature into the decoder (U-Net); off, the fill
            comes through the deepest feature only, as in the paper's generator.
        :param bottleneck: the paper's fully connected bottleneck on the deepest feature (its
            size); None: none, the decoder starts from the feature map itself.
        :param decoder_channels: channels of each decoder level, shallow to deep (default: half
            the encoder's at each level, at least 16: the high-resolution levels dominate the
            cost, and full width there made a resnet18 generator 2.3× slower to train at 128 px).
        :param weights: a local file of the timm model's weights (``.safetensors``, ``.pth``)
            to start the encoder from; none is ever downloaded.
        :param mask_channel: take the mask as a 4th input channel (timm adapts the stem)."""
        super().__init__()
        import timm

        check_weights(weights)
        if weights is not None:
            check_timm_weights(weights, encoder)
        self.image_size = image_size
        self.mask_channel = mask_channel
        options = {"pretrained_cfg_overlay": {"file": str(weights)}} if weights is not None else {}
        try:
            self.encoder = timm.create_model(encoder, features_only=True, pretrained=weights is not None,
                                             in_chans=4 if mask_channel else 3, **options)
        except (RuntimeError, TypeError, AssertionError) as exc:
            raise GfcError(f"encoder {encoder!r}: timm cannot build it as a feature extractor "
                           f"(features_only): {str(exc).splitlines()[0]}") from None
        channels = list(self.encoder.feature_info.channels())
        reductions = list(self.encoder.feature_info.reduction())
        if image_size % reductions[-1]:
            raise GfcError(f"image_size {image_size}: encoder {encoder!r} reduces by {reductions[-1]}; "
                           f"give a multiple of {reductions[-1]}")
        decoder = list(decoder_channels) if decoder_channels is not None else [max(16, c // 2) for c in channels]
        if len(decoder) != len(channels):
            raise GfcError(f"decoder_channels: {len(decoder)} given, but encoder {encoder!r} has "
                           f"{len(channels)} feature levels ({channels})")
        self.skips, self.reduction = skips, reductions[-1]
        self.size_multiple = None if bottleneck is not None else self.reduction
        """Any side that is a multiple of this, or None: only ``image_size`` (:func:`gfc_kit.interfaces.size_multiple`)."""
        side = image_size // reductions[-1]
        self.code_shape = (channels[-1], side, side)
        code = channels[-1] * side * side
        self.fc = nn.Sequential(nn.Linear(code, bottleneck), nn.ReLU(inplace=True), nn.Linear(bottleneck, code),
                                nn.ReLU(inplace=True)) if bottleneck is not None else None
        blocks, previous = [], channels[-1]
        for level in range(len(channels) - 2, -1, -1):  # deep to shallow
            blocks.append(_block(previous + (channels[level] if skips else 0), decoder[level]))
            previous = decoder[level]
        self.blocks = nn.ModuleList(blocks)
        self.head_scale = reductions[0]
        head = max(16, previous // 2)
        self.head = _block(previous + (4 if mask_channel else 3) * skips, head)
        self.output = nn.Conv2d(head, 3, 3, padding=1)
        nn.init.normal_(self.output.weight, std=0.001)  # starts near mid-grey, as the paper's generator
        nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fc is not None and x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"this generator (with its FC bottleneck) takes {self.image_size}×{self.image_size} "
                             f"images, got {tuple(x.shape)}")
        if x.shape[-2] % self.reduction or x.shape[-1] % self.reduction:
            raise ValueError(f"this generator takes sides that are multiples of {self.reduction}, got {tuple(x.shape)}")
        features = self.encoder(x)
        y = features[-1]
        if self.fc is not None:
            y = self.fc(y.flatten(1)).unflatten(1, self.code_shape)
        for block, skip in zip(self.blocks, reversed(features[:-1])):
            y = F.interpolate(y, size=skip.shape[-2:], mode="nearest")
            y = block(torch.cat([y, skip], 1) if self.skips else y)
        y = F.interpolate(y, size=x.shape[-2:], mode="nearest")
        y = self.head(torch.cat([y, x], 1) if self.skips else y)
        return self.output(y)


def smp_model(arch: str, encoder: str, in_channels: int, classes: int, weights: Path | None) -> nn.Module:
    """``smp.create_model`` offline: the encoder from scratch or from a local weights file; unknown
    names are one-line errors with close names."""
    import segmentation_models_pytorch as smp

    check_weights(weights)
    try:
        model = smp.create_model(arch, encoder_name=encoder, encoder_weights=None, in_channels=in_channels,
                                 classes=classes)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise GfcError(f"smp cannot build {arch} on {encoder}: {str(exc).splitlines()[0]}") from None
    if weights is not None:
        from gfc_kit.weights import load_weights, mismatch

        try:  # smp's encoders drop ImageNet classifier keys themselves
            model.encoder.load_state_dict(load_weights(Path(weights), "encoder"))
        except RuntimeError as exc:
            raise GfcError(f"{weights}: does not fit the {encoder} encoder: {mismatch(exc)}") from None
    return model


class SmpGenerator(nn.Module):
    """Any segmentation_models_pytorch architecture and encoder as the generator: it predicts
    three linear channels (the image) instead of class logits. ``forward`` as the paper's."""

    def __init__(
        self,
        arch: SmpArch = "Unet",
        encoder: SmpEncoder = "resnet18",
        image_size: Annotated[int, Field(ge=32, multiple_of=32)] = 128,
        weights: Path | None = None,
        mask_channel: bool = False,
    ) -> None:
        """:param arch: an smp architecture (``Unet``, ``UnetPlusPlus``, ``FPN``, ``Linknet``,
            ``MAnet``, ``DeepLabV3Plus``, …).
        :param encoder: an smp encoder (``resnet18``, ``mobilenet_v2``, ``efficientnet-b0``, …) or
            ``tu-<any timm model>``.
        :param image_size: side S of the square input (a multiple of 32 for five-level encoders); the
            network takes other such sizes too (a recipe stage may train it smaller first).
        :param weights: a local file of the encoder's weights; none is ever downloaded.
        :param mask_channel: take the mask as a 4th input channel."""
        super().__init__()
        self.image_size = image_size
        self.mask_channel = mask_channel
        self.model = smp_model(arch, encoder, 4 if mask_channel else 3, 3, weights)
        self.size_multiple = getattr(self.model.encoder, "output_stride", 32)
        """Fully convolutional: any side that is a multiple of the encoder's stride."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)  # smp checks (or pads to) the sizes its encoder needs


@hookimpl
def gfc_register(registry):
    registry.add("generator", "timm_generator", TimmGenerator)
    registry.add("generator", "smp_generator", SmpGenerator)

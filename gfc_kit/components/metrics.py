"""Image-quality metrics, as ``metric`` components: one number per image, on the whole image or
on the hole only (where completers differ; outside it every completer keeps the known pixels).

A metric is called as ``metric(completed, target, mask) -> N`` with images ``N×3×H×W`` in
[-1, 1] and masks ``N×1×H×W`` (1 = hole); it has a ``name`` (the report's column) and
``higher_is_better``. Values are computed on pixel values rescaled to [0, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from gfc_kit.errors import GfcError
from gfc_kit.frequency import detail_energy
from gfc_kit.hookspecs import hookimpl

Region = Literal["image", "hole"]


def _unit(image: torch.Tensor) -> torch.Tensor:
    return (image.float().clamp(-1, 1) + 1) / 2


def region_mean(values: torch.Tensor, mask: torch.Tensor, region: Region) -> torch.Tensor:
    """The per-image mean of ``values`` (``N×C×H×W``) over the whole image or over the hole."""
    if region == "image":
        return values.flatten(1).mean(1)
    weight = mask.expand_as(values)
    return (values * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1)


class Metric:
    """Base for per-image metrics: ``name`` is ``<metric>`` or ``<metric>_hole``."""

    label = ""
    higher_is_better = True

    def __init__(self, region: Region) -> None:
        self.region = region
        self.name = self.label if region == "image" else f"{self.label}_{region}"

    def __call__(self, completed: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class PSNR(Metric):
    """Peak signal-to-noise ratio in dB (capped at 100 dB for identical regions)."""

    label = "psnr"

    def __call__(self, completed, target, mask):
        mse = region_mean((_unit(completed) - _unit(target)) ** 2, mask, self.region)
        return 10 * torch.log10(1 / mse.clamp_min(1e-10))


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """The SSIM map (Wang et al. 2004; K1 0.01, K2 0.03, data range 1) of images in [0, 1], with a
    separable Gaussian window and reflected borders, so it has the images' size."""
    coords = torch.arange(window, dtype=torch.float32, device=x.device) - window // 2
    g = torch.exp(-coords**2 / (2 * sigma**2))
    g = g / g.sum()
    channels = x.shape[1]
    stack = torch.cat([x, y, x * x, y * y, x * y], 1)
    stack = F.pad(stack, [window // 2] * 4, mode="reflect")
    stack = F.conv2d(stack, g.view(1, 1, 1, -1).repeat(5 * channels, 1, 1, 1), groups=5 * channels)
    stack = F.conv2d(stack, g.view(1, 1, -1, 1).repeat(5 * channels, 1, 1, 1), groups=5 * channels)
    mx, my, xx, yy, xy = stack.split(channels, 1)
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (2 * mx * my + c1) * (2 * cov + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))


class SSIM(Metric):
    """Structural similarity (Gaussian window 11, σ 1.5), its map averaged over the image or the hole."""

    label = "ssim"

    def __call__(self, completed, target, mask):
        return region_mean(ssim_map(_unit(completed), _unit(target)), mask, self.region)


class L1(Metric):
    """Mean absolute error of pixel values in [0, 1]."""

    label = "l1"
    higher_is_better = False

    def __call__(self, completed, target, mask):
        return region_mean((_unit(completed) - _unit(target)).abs(), mask, self.region)


class Detail(Metric):
    """How much of the real fine detail the completion carries in the hole: the mean of
    ``|I - GaussianBlur(I, sigma)|`` over the hole for the completion, divided by the same for the
    original there. 1 is as detailed as the truth, well below 1 a blur, above 1 noise or artefacts.
    PSNR and L1 reward a blur (the mean of the plausible fills); this number shows it."""

    label = "detail"

    def __init__(self, sigma: float) -> None:
        super().__init__("hole")
        self.sigma = sigma

    def __call__(self, completed, target, mask):
        completed, target = _unit(completed), _unit(target)
        hole = (mask > 0.5).to(completed)
        made = (detail_energy(completed, self.sigma) * hole).flatten(1).sum(1)
        real = (detail_energy(target, self.sigma) * hole).flatten(1).sum(1)
        return made / real.clamp_min(1e-8)


class LPIPS(Metric):
    """Learned perceptual distance (Zhang et al. 2018) with torchmetrics' linear layers over a
    torchvision AlexNet or VGG-16 whose weights the user provides as a local file (nothing is
    downloaded; without weights the metric cannot be built)."""

    label = "lpips"
    higher_is_better = False

    def __init__(self, weights: Path, net: Literal["alex", "vgg"]) -> None:
        super().__init__("image")
        try:
            from torchmetrics.functional.image.lpips import _LPIPS
        except ImportError:
            raise GfcError("metric lpips: needs torchmetrics; pip install 'gfc-kit[lpips]'") from None

        if not weights.is_file():
            raise GfcError(f"{weights}: LPIPS backbone weights not found (a torchvision {net} state dict)")
        self.model = _LPIPS(pretrained=True, net=net, pnet_rand=True).eval()
        state = torch.load(weights, map_location="cpu", weights_only=True)
        features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        slices = {f"{index}.{rest}": (name, f"{index}.{rest}")
                  for name, block in self.model.net.named_children() for key in block.state_dict()
                  for index, rest in [key.split(".", 1)]}
        missing = sorted(set(slices) - set(features))
        if not features or missing:
            raise GfcError(f"{weights}: not a torchvision {net} state dict (missing features.{missing[:1]})")
        for key, (block, local) in slices.items():
            getattr(self.model.net, block).state_dict()[local].copy_(features[key])

    @torch.inference_mode()
    def __call__(self, completed, target, mask):
        return self.model(completed.float().clamp(-1, 1), target.float().clamp(-1, 1)).flatten()


def psnr(region: Region = "image") -> PSNR:
    """PSNR in dB over the image or the hole."""
    return PSNR(region)


def ssim(region: Region = "image") -> SSIM:
    """SSIM over the image or the hole."""
    return SSIM(region)


def l1(region: Region = "hole") -> L1:
    """Mean absolute error (pixel values in [0, 1]) over the hole or the image."""
    return L1(region)


def detail(sigma: Annotated[float, Field(gt=0)] = 1.0) -> Detail:
    """The hole's detail ratio (completion over original) at Gaussian ``sigma`` pixels: 1 px at a
    model's 128×128, about 2 px on a photo of 512–1024 px."""
    return Detail(sigma)


def lpips(weights: Path, net: Literal["alex", "vgg"] = "alex") -> LPIPS:
    """LPIPS from a local torchvision AlexNet / VGG-16 state dict file."""
    return LPIPS(weights, net)


@hookimpl
def gfc_register(registry):
    registry.add("metric", "psnr", psnr)
    registry.add("metric", "ssim", ssim)
    registry.add("metric", "l1", l1)
    registry.add("metric", "detail", detail)
    registry.add("metric", "lpips", lpips)

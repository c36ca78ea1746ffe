"""An image's fine detail: its high-frequency band, ``x - GaussianBlur(x, sigma)``.

Three parts of gfc-kit read it, so it lives here once: the ``detail`` metric (how much of the real
detail a fill carries), the ``high_frequency`` loss (a generator trained to put it back) and the
``residual`` refiner (the photo's own band aggregated into the hole at full resolution).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A normalised 1-D Gaussian of radius ``ceil(3 sigma)`` (OpenCV's default extent)."""
    radius = max(1, math.ceil(3 * sigma))
    coords = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-coords.square() / (2 * sigma * sigma))
    return kernel / kernel.sum()


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """``image`` (``N×C×H×W``) blurred by a separable Gaussian, borders reflected (replicated where
    the image is smaller than the kernel), the same size back."""
    kernel = gaussian_kernel(sigma, image.device, image.dtype)
    radius, channels = len(kernel) // 2, image.shape[1]
    mode = "reflect" if min(image.shape[-2:]) > radius else "replicate"
    padded = F.pad(image, [radius] * 4, mode=mode)
    padded = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def high_frequency(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """The band a Gaussian of ``sigma`` removes: ``image - blur(image)``."""
    return image - gaussian_blur(image, sigma)


def detail_energy(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """``|high_frequency(image)|`` averaged over the channels: ``N×1×H×W``, the map the detail ratio
    averages over a hole."""
    return high_frequency(image, sigma).abs().mean(1, keepdim=True)

"""Procedural non-face images (stripes, checkers, blobs): a dataset that needs no files, for
checking that a model or recipe is not face-specific."""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import Field
from torch.utils.data import Dataset


class Patterns(Dataset):
    """Procedural stripes, checkers and soft blobs in random colours; deterministic per (seed, index)."""

    def __init__(
        self,
        image_size: Annotated[int, Field(ge=8)] = 128,
        length: Annotated[int, Field(ge=1)] = 1000,
        seed: int = 0,
    ) -> None:
        self.image_size = image_size
        self.length = length
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        size = self.image_size
        ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
        angle, frequency, kind = torch.rand(3, generator=g).tolist()
        u = xs * math.cos(angle * math.pi) + ys * math.sin(angle * math.pi)
        v = -xs * math.sin(angle * math.pi) + ys * math.cos(angle * math.pi)
        cycles = 2 + frequency * 8
        if kind < 1 / 3:
            weight = 0.5 + 0.5 * torch.sin(u * cycles * 2 * math.pi)
        elif kind < 2 / 3:
            weight = ((torch.floor(u * cycles) + torch.floor(v * cycles)) % 2).float()
        else:
            centres = torch.rand(4, 2, generator=g)
            weight = sum(torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) * 40) for cx, cy in centres.tolist())
            weight = weight.clamp(0, 1)
        colours = torch.rand(2, 3, 1, 1, generator=g) * 2 - 1
        image = colours[0] * weight + colours[1] * (1 - weight)
        return {"image": image.float(), "path": f"patterns/seed{self.seed}/{index:06d}"}

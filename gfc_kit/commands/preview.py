"""A picture of what a recipe trains on: images, their parsing labels, and the masked inputs."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import default_collate

from gfc_kit.factory import build
from gfc_kit.imaging import colorize, save_grid
from gfc_kit.interfaces import fill_hole
from gfc_kit.recipe import Recipe


def save_preview(recipe: Recipe, output: Path, count: int = 8) -> Path:
    """Save rows: training images, their labels (when the dataset has them), the images with the
    training mask's hole shown as the recipe's hole fill; then the parsing dataset, if any."""
    size = recipe.image_size
    generator = torch.Generator().manual_seed(recipe.seed)
    sampler = build("mask_sampler", recipe.masks.train.model_dump(), ("masks", "train"), image_size=size)
    rows = []
    for name in ("train", "parsing"):
        spec = getattr(recipe.data, name)
        if spec is None:
            continue
        dataset = build("dataset", spec.model_dump(), ("data", name), image_size=size)
        batch = default_collate([dataset[i % len(dataset)] for i in range(count)])
        rows.append(batch["image"])
        if "labels" in batch:
            rows.append(colorize(batch["labels"]))
        if name == "train":
            mask = sampler(batch, generator)
            rows.append(fill_hole(batch["image"], mask, recipe.train.hole_fill, generator))
    return save_grid(rows, output)

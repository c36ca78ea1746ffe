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
    training mask's hole shown as the recipe's hole fill; then the parsing data, when a stage reads
    it. The datasets are built and checked as a run builds them (:mod:`gfc_kit.training.parts`)."""
    from gfc_kit.training.parts import build_datasets, build_stages

    size = recipe.image_size
    generator = torch.Generator().manual_seed(recipe.seed)
    sampler = build("mask_sampler", recipe.masks.train.entry, ("masks", "train"), image_size=size)
    datasets = build_datasets(recipe, build_stages(recipe))
    rows = []
    for name in ("train", "parsing"):
        if name not in datasets:
            continue
        dataset = datasets[name]
        batch = default_collate([dataset[i % len(dataset)] for i in range(count)])
        rows.append(batch["image"])
        if "labels" in batch:
            rows.append(colorize(batch["labels"]))
        if name == "train":
            mask = sampler(batch, generator)
            rows.append(fill_hole(batch["image"], mask, recipe.train.hole_fill, generator))
    return save_grid(rows, output)

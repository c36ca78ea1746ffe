"""Built-in components, one family per module; each module registers itself via ``gfc_register``.

Every built-in family can be imported from here into another project, with no recipe, CLI or
plugin manager (DESIGN.md section 1)::

    from gfc_kit.components import GFCGenerator, RandomSquare, CharbonnierL1, HoleView

Names resolve on first use, so importing this package stays cheap. ``gfc_kit.create(kind, name)``
builds the same components by their registered names, validated as in a recipe.
"""

from __future__ import annotations

import importlib
from typing import Any

_FAMILIES: dict[str, tuple[str, ...]] = {
    "datasets.synthetic_faces": ("SyntheticFaces",),
    "datasets.celeba": ("CelebA",),
    "datasets.image_folder": ("ImageFolder",),
    "datasets.parsing_folder": ("ParsingFolder",),
    "datasets.files": ("Augmentation", "FileDataset"),
    "masks.boxes": ("RandomSquare", "RandomBox", "Center", "Regions"),
    "masks.free_form": ("FreeForm",),
    "masks.mask_folder": ("MaskFolder",),
    "masks.mixture": ("Mixture",),
    "networks.generator": ("GFCGenerator",),
    "networks.backbones": ("TimmGenerator", "SmpGenerator"),
    "networks.discriminators": ("GFCDiscriminator", "gfc_local_discriminator", "gfc_global_discriminator"),
    "networks.parsers": ("GFCParser", "smp_parser"),
    "views": ("HoleView", "ImageView", "BoxView", "hole_boxes", "resample"),
    "losses": ("CharbonnierL1", "L2", "HighFrequency", "BCEAdversarial", "ParsingCrossEntropy"),
    "completers": ("MeanFill", "OpenCVInpaint", "telea", "navier_stokes"),
    "refiners": ("NoRefiner", "ResidualRefiner"),
    "blenders": ("Paste", "Feather", "Poisson"),
    "metrics": ("PSNR", "SSIM", "L1", "Detail", "LPIPS"),
}
_WHERE = {name: module for module, names in _FAMILIES.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"gfc_kit.components.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'gfc_kit.components' has no attribute {name!r}")

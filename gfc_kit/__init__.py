"""gfc-kit: a PyTorch toolkit for face completion, built around Generative Face Completion
(Li, Liu, Yang, Yang, CVPR 2017).

Build any registered component by name, validated as in a recipe::

    import gfc_kit
    sampler = gfc_kit.create("mask_sampler", "random_square", size=64)
    gfc_kit.list_components("dataset")

Plugins add components with ``@gfc_kit.hookimpl def gfc_register(registry): ...``.
"""

from __future__ import annotations

from typing import Any

from gfc_kit.errors import GfcError
from gfc_kit.factory import create, list_components
from gfc_kit.hookspecs import hookimpl

__version__ = "0.2.0.dev0"

_LAZY = {
    **{name: "gfc_kit.interfaces" for name in
       ("Generator", "Discriminator", "Parser", "MaskSampler", "Completer", "StepContext", "PARSING_CLASSES")},
    "ModelCompleter": "gfc_kit.inference",
}

__all__ = ["create", "list_components", "hookimpl", "GfcError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # These import torch; loading them on first use keeps ``gfc-kit --help`` fast.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gfc_kit' has no attribute {name!r}")

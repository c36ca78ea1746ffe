"""The plugin module named by the ``gfc_kit`` entry point: it only registers components."""

import gfc_kit

from gfc_example.patterns import Patterns
from gfc_example.ring import Ring


@gfc_kit.hookimpl
def gfc_register(registry):
    registry.add("mask_sampler", "ring", Ring)
    registry.add("dataset", "patterns", Patterns)

"""The module the ``gfc_kit`` entry point names: the plugin's datasets, mask samplers, the
``gfc-kit masks`` commands and its scene model."""

from __future__ import annotations

from pathlib import Path

import gfc_kit

from gfc_scenes import commands
from gfc_scenes.datasets import DTD, GivenMasks, MaskSet, ParisStreetView, Places365, SceneFolder
from gfc_scenes.lama_masks import LamaMasks

MODELS = Path(__file__).parent / "models"


@gfc_kit.hookimpl
def gfc_register(registry):
    registry.add("dataset", "scene_folder", SceneFolder)
    registry.add("dataset", "places365", Places365)
    registry.add("dataset", "paris_street_view", ParisStreetView)
    registry.add("dataset", "dtd", DTD)
    registry.add("dataset", "mask_set", MaskSet)
    registry.add("mask_sampler", "lama", LamaMasks)
    registry.add("mask_sampler", "mask_set", GivenMasks)
    registry.add_model("gfc_scenes_128", MODELS / "gfc_scenes_128")


@gfc_kit.hookimpl
def gfc_register_commands(cli):
    commands.register(cli)

"""The plugin module named by the ``gfc_kit`` entry point: it registers components, a model
folder and a subcommand, and logs training through the lifecycle hooks (``callbacks``)."""

from pathlib import Path

import gfc_kit

from gfc_example import callbacks, commands
from gfc_example.discriminators import HoleContext, PatchDiscriminator
from gfc_example.losses import CompositeTV
from gfc_example.patterns import Patterns
from gfc_example.ring import Ring

MODELS = Path(__file__).parent / "models"


@gfc_kit.hookimpl
def gfc_register(registry):
    registry.add("mask_sampler", "ring", Ring)
    registry.add("dataset", "patterns", Patterns)
    registry.add("loss", "composite_tv", CompositeTV)
    registry.add("view", "hole_context", HoleContext)
    registry.add("discriminator", "patch_discriminator", PatchDiscriminator)
    registry.add_model("example_patterns", MODELS / "example_patterns")


@gfc_kit.hookimpl
def gfc_register_commands(cli):
    commands.register(cli)


# The CSV logger's hooks live in their own module; re-exporting them here registers them with
# this plugin (pluggy collects the marked functions of the entry point's module).
gfc_stage_start = callbacks.gfc_stage_start
gfc_row_logged = callbacks.gfc_row_logged

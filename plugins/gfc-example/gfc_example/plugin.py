"""The plugin module named by the ``gfc_kit`` entry point: it registers components (among them a
training stage and two callbacks: a CSV logger and early stopping), a model folder and a
subcommand."""

from pathlib import Path

import gfc_kit

from gfc_example import commands
from gfc_example.callbacks import CsvLog
from gfc_example.discriminators import HoleContext, PatchDiscriminator
from gfc_example.early_stopping import EarlyStopping
from gfc_example.finetune import FineTune
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
    registry.add("stage", "finetune", FineTune)
    registry.add("callback", "csv_log", CsvLog)
    registry.add("callback", "early_stopping", EarlyStopping)
    registry.add_model("example_patterns", MODELS / "example_patterns")


@gfc_kit.hookimpl
def gfc_register_commands(cli):
    commands.register(cli)

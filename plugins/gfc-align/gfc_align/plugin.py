"""The plugin module named by the ``gfc_kit`` entry point: the ``dlib`` aligner, the
``aligned_faces`` dataset and the ``gfc-kit align`` subcommand. dlib is imported only when an
aligner is made, so without it the plugin still loads and ``dlib`` fails with an install hint."""

import gfc_kit
from gfc_align import commands
from gfc_align.aligner import DlibAligner
from gfc_align.dataset import AlignedFaces


@gfc_kit.hookimpl
def gfc_register(registry):
    registry.add("aligner", "dlib", DlibAligner)
    registry.add("dataset", "aligned_faces", AlignedFaces)


@gfc_kit.hookimpl
def gfc_register_commands(cli):
    commands.register(cli)

"""The model folders that ship inside gfc-kit, registered through the same hook as a plugin's.

One folder per model, laid out as ``gfc-kit export`` writes it (``model.json`` + ``*.safetensors``).
A plugin ships its own the same way: ``registry.add_model(name, folder)`` in its ``gfc_register``.
"""

from __future__ import annotations

from pathlib import Path

from gfc_kit.hookspecs import hookimpl

MODELS_DIR = Path(__file__).parent


@hookimpl
def gfc_register(registry):
    for folder in sorted(MODELS_DIR.iterdir()):
        if (folder / "model.json").is_file():
            registry.add_model(folder.name, folder)

"""What a finished run leaves for completing photos and reuse: the trained generator (and parser)
as ``generator.safetensors`` / ``parser.safetensors`` beside a ``model.json``, the run folder then
being a model folder that ``--run``, ``gfc-kit export`` and ``ModelCompleter.from_run`` read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gfc_kit.errors import GfcError
from gfc_kit.face_layout import FaceLayout
from gfc_kit.model_json import model_sizes, write_model_json
from gfc_kit.weights import write_atomic

if TYPE_CHECKING:
    from gfc_kit.training.parts import RunParts


def export_run(parts: RunParts, folder: Path) -> None:
    """Write the trained networks and ``model.json`` into ``folder``; the parser only when trained
    or loaded (an untrained parser would give a meaningless score)."""
    from safetensors.torch import save_file

    for name in ("generator", "parser"):
        if name in parts.modules and (name == "generator" or parts.parser_trained):
            weights = {k: v.detach().cpu().contiguous() for k, v in parts.modules[name].state_dict().items()}
            write_atomic(folder / f"{name}.safetensors", lambda tmp, w=weights: save_file(w, str(tmp)))
    recipe = parts.recipe
    layout = dataset_layout(parts.datasets["train"])  # where its faces sit: aligners use it
    meta = {"generator": recipe.model.generator.model_dump(mode="json"), "image_size": recipe.image_size,
            "hole_fill": recipe.train.hole_fill, "recipe": recipe.name, "face_layout": layout and layout.to_json(),
            **model_sizes(parts.generator)}
    if parts.parser_trained:
        meta["parser"] = recipe.model.parser.model_dump(mode="json")
    write_model_json(folder, meta)


def dataset_layout(dataset: object) -> FaceLayout | None:
    """The face layout a dataset declares (its ``face_layout`` attribute): the CelebA crop for the
    face datasets, ``None`` for scenes and for any dataset that declares nothing, so a model never
    claims an alignment its data did not have."""
    layout = getattr(dataset, "face_layout", None)
    if layout is not None and not isinstance(layout, FaceLayout):
        raise GfcError(f"dataset {type(dataset).__name__}: face_layout must be a gfc_kit.face_layout.FaceLayout "
                       f"or None, not {type(layout).__name__}")
    return layout

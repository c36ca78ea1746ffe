"""Model folders: what ``gfc-kit export`` writes and ``--model NAME`` loads (``model.json`` plus
``generator.safetensors`` and, optionally, ``parser.safetensors``), from a finished run, gfc-kit
itself or a plugin (:meth:`gfc_kit.registry.Registry.add_model`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from gfc_kit.errors import GfcError
from gfc_kit.factory import build
from gfc_kit.model_json import read_model_json, write_model_json
from gfc_kit.outputs import output_folder


DEFAULT_MODEL = "gfc_celeba_128"
"""The model used where one is needed and none is named (``gfc-kit complete`` without ``--run``,
``--checkpoint`` or ``--model``; ``ModelCompleter.pretrained()``)."""


def pretrained_models() -> dict[str, Path]:
    """Name → folder of every model that ships with gfc-kit or an installed plugin."""
    from gfc_kit.plugins import registry

    return {m.name: m.folder for m in registry().models()}


class RunParser:
    """A run's trained face parser as a labeller for images of any size: images are resized to the
    size it was trained at and its labels resized back (nearest)."""

    def __init__(self, parser: torch.nn.Module, image_size: int) -> None:
        self.parser = parser.eval()
        self.image_size = image_size

    @classmethod
    def from_run(cls, run: str | Path) -> RunParser:
        """The parser a finished run exported (``model.json`` + ``parser.safetensors``)."""
        from gfc_kit.weights import load_weights, mismatch

        run = Path(run)
        meta = read_model_json(run)
        if "parser" not in meta:
            raise GfcError(f"{run}: has no exported parser (model.json without 'parser'); give --parser none "
                           "or another run")
        parser = build("parser", meta["parser"], ("parser",), image_size=meta["image_size"])
        try:
            parser.load_state_dict(load_weights(run / "parser.safetensors", "parser"))
        except RuntimeError as exc:
            raise GfcError(f"{run / 'parser.safetensors'}: the weights do not fit the parser: {mismatch(exc)}") from None
        return cls(parser, meta["image_size"])

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Labels ``N×H×W`` for images ``N×3×H×W`` in [-1, 1]."""
        size = image.shape[-2:]
        small = F.interpolate(image.float(), size=(self.image_size,) * 2, mode="bilinear", antialias=True)
        labels = self.parser(small).argmax(1, keepdim=True).float()
        return F.interpolate(labels, size=size, mode="nearest")[:, 0].long()


def export_model(run: str | Path, output: str | Path, dtype: Literal["fp32", "fp16", "bf16"] = "fp16",
                 parser: bool = True) -> list[Path]:
    """Copy a finished run's exported networks into ``output`` (a model folder, e.g. one under
    ``gfc_kit/models/`` or a plugin's) with weights stored as ``dtype``: fp16 halves the file and the loaded model
    computes in fp32 as before. Returns the files written."""
    from safetensors.torch import save_file

    from gfc_kit.weights import read_safetensors, write_atomic

    run, output = Path(run), Path(output)
    meta = read_model_json(run)
    cast = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    output_folder(output)
    written = []
    names = ["generator"] + (["parser"] if parser and "parser" in meta else [])
    for name in names:
        stored = read_safetensors(run / f"{name}.safetensors")
        weights = {k: v.to(cast) if v.is_floating_point() else v for k, v in stored.items()}
        write_atomic(output / f"{name}.safetensors",
                     lambda tmp, w=weights: save_file(w, str(tmp), metadata={"dtype": dtype, "source": str(run.name)}))
        written.append(output / f"{name}.safetensors")
    if "parser" not in names:
        meta.pop("parser", None)
    written.append(write_model_json(output, {**meta, "weights_dtype": dtype}))
    return written

"""Model folders: what ``gfc-kit export`` writes and ``--model NAME`` loads (``model.json`` plus
``generator.safetensors`` and, optionally, ``parser.safetensors``), from a finished run, gfc-kit
itself or a plugin (:meth:`gfc_kit.registry.Registry.add_model`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from gfc_kit.errors import GfcError
from gfc_kit.face_layout import CELEBA_CROP, FaceLayout
from gfc_kit.factory import build
from gfc_kit.outputs import output_folder


DEFAULT_MODEL = "gfc_celeba_128"
"""The model used where one is needed and none is named (``gfc-kit complete`` without ``--run``,
``--checkpoint`` or ``--model``; ``ModelCompleter.pretrained()``)."""


def pretrained_models() -> dict[str, Path]:
    """Name → folder of every model that ships with gfc-kit or an installed plugin."""
    from gfc_kit.plugins import registry

    return {m.name: m.folder for m in registry().models()}


def read_model_json(folder: Path) -> dict[str, Any]:
    """A model folder's (or finished run's) ``model.json``, checked; problems name the file."""
    path = Path(folder) / "model.json"
    if not Path(folder).is_dir():
        raise GfcError(f"{folder}: not a finished run or model folder (no such folder)")
    if not path.is_file():
        raise GfcError(f"{folder}: not a finished run or model folder (no model.json); train it with "
                       "gfc-kit run, or use --checkpoint with one of its checkpoints")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise GfcError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("generator"), dict) or "type" not in meta["generator"] \
            or not isinstance(meta.get("image_size"), int):
        raise GfcError(f"{path}: needs 'generator' (a component entry with 'type') and 'image_size' (an integer)")
    try:
        ModelJson.model_validate(meta)
    except ValidationError as exc:
        problems = [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise GfcError("\n".join(problems)) from None
    face_layout(meta, path)  # a malformed layout is named here, not at the first photo
    return meta


class ModelJson(BaseModel):
    """The keys of ``model.json`` gfc-kit reads, typed; other keys (the recipe's name, the parser's
    entry, notes a plugin adds) pass through."""

    model_config = ConfigDict(extra="allow")

    image_size: PositiveInt
    hole_fill: Literal["noise", "zero", "mean", "telea"] = "noise"
    fully_convolutional: bool | None = None
    size_multiple: PositiveInt | None = None
    max_side: PositiveInt | None = None
    weights_dtype: Literal["fp32", "fp16", "bf16"] = "fp32"


def face_layout(meta: dict[str, Any], source: Path | str = "model.json") -> FaceLayout | None:
    """The face layout a model was trained on (``face_layout`` in its ``model.json``): ``None``
    (``null`` in the file) for a model that never saw an aligned face, e.g. a scene model; the
    paper's CelebA crop when the key is absent (model folders written before layouts were recorded)."""
    if "face_layout" not in meta:
        return CELEBA_CROP
    if meta["face_layout"] is None:
        return None
    return FaceLayout.from_json(meta["face_layout"], str(source))


class RunParser:
    """A run's trained face parser as a labeller for images of any size: images are resized to the
    size it was trained at and its labels resized back (nearest)."""

    def __init__(self, parser: torch.nn.Module, image_size: int) -> None:
        self.parser = parser.eval()
        self.image_size = image_size

    @classmethod
    def from_run(cls, run: str | Path) -> RunParser:
        """The parser a finished run exported (``model.json`` + ``parser.safetensors``)."""
        from gfc_kit.training.checkpoint import load_weights, mismatch

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

    from gfc_kit.training.checkpoint import read_safetensors, write_atomic

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
    (output / "model.json").write_text(json.dumps({**meta, "weights_dtype": dtype}, indent=1))
    written.append(output / "model.json")
    return written

"""``model.json``, the description of a model folder or finished run: one typed schema
(:class:`ModelJson`), written by :func:`write_model_json` and read by :func:`read_model_json`, and
nowhere else by hand. Problems name the file and the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, PositiveInt, ValidationError

from gfc_kit.errors import GfcError
from gfc_kit.face_layout import CELEBA_CROP, FaceLayout
from gfc_kit.interfaces import size_multiple
from gfc_kit.weights import write_atomic

FILE = "model.json"


def read_model_json(folder: Path) -> dict[str, Any]:
    """A model folder's (or finished run's) ``model.json``, checked; problems name the file."""
    path = Path(folder) / FILE
    if not Path(folder).is_dir():
        raise GfcError(f"{folder}: not a finished run or model folder (no such folder)")
    if not path.is_file():
        raise GfcError(f"{folder}: not a finished run or model folder (no model.json); train it with "
                       "gfc-kit run, or use --checkpoint with one of its checkpoints")
    try:
        meta = json.loads(path.read_text())
    except (ValueError, OSError) as exc:
        raise GfcError(f"{path}: not valid JSON ({exc})") from None
    _check(meta, path)
    return meta


def _check(meta: Any, path: Path) -> None:
    """``meta`` fits :class:`ModelJson` (and its face layout parses), or a GfcError names ``path`` and the key."""
    if not isinstance(meta, dict) or not isinstance(meta.get("generator"), dict) or "type" not in meta["generator"] \
            or not isinstance(meta.get("image_size"), int):
        raise GfcError(f"{path}: needs 'generator' (a component entry with 'type') and 'image_size' (an integer)")
    try:
        ModelJson.model_validate(meta)
    except ValidationError as exc:
        problems = [f"{path}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise GfcError("\n".join(problems)) from None
    face_layout(meta, path)  # a malformed layout is named here, not at the first photo


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


def write_model_json(folder: Path, meta: dict[str, Any]) -> Path:
    """Write ``meta`` as ``folder/model.json`` after checking it against the schema the readers
    use, so a model folder gfc-kit writes is always one it can read; returns the file."""
    path = Path(folder) / FILE
    _check(meta, path)
    write_atomic(path, lambda tmp: tmp.write_text(json.dumps(meta, indent=1)))
    return path


def model_sizes(generator: torch.nn.Module) -> dict[str, Any]:
    """What a ``model.json`` says of the sizes its generator takes: whether it is fully
    convolutional, and then the multiple its sides must be (crops are completed at their own
    scale, up to ``max_side``, which the completer sets unless the file does)."""
    multiple = size_multiple(generator)
    return {"fully_convolutional": multiple is not None, **({"size_multiple": multiple} if multiple else {})}

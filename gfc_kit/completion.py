"""Completing images with a trained generator: tensors in, composited tensors out, or photos of
any size in and out (cropped to the model's face layout, completed, pasted back).

    completer = Completer.from_run("runs/quickstart")
    filled = completer(image, mask)            # N×3×H×W and N×1×H×W tensors, or PIL / numpy
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gfc_kit.errors import GfcError
from gfc_kit.face_layout import ALIGNED_SIZE, CROP_BOX
from gfc_kit.factory import build
from gfc_kit.interfaces import composite, fill_hole

Crop = Literal["auto", "celeba", "center", "resize"]
"""How a photo is fitted to the model: ``celeba`` = the paper's crop of an aligned CelebA image,
``center`` = the largest centred square, ``resize`` = the whole photo stretched, ``auto`` =
``celeba`` for photos with CelebA's aligned aspect (178:218), else ``center``."""


class Completer:
    """A trained generator that fills holes; the known pixels are always kept as they were."""

    def __init__(self, generator: torch.nn.Module, image_size: int, hole_fill: str = "noise", seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.generator = generator.to(self.device, memory_format=torch.channels_last).eval()  # 1.15× (gfc-kit bench)
        self.image_size = image_size
        self.hole_fill = hole_fill
        self.seed = seed

    @classmethod
    def from_run(cls, run: str | Path, device: str = "cpu") -> Completer:
        """The generator a finished ``gfc-kit run`` exported (``model.json`` + ``generator.safetensors``)."""
        run = Path(run)
        meta_path = run / "model.json"
        if not meta_path.is_file():
            raise GfcError(f"{run}: not a finished run (no model.json); train it with gfc-kit run, "
                           "or use --checkpoint with one of its checkpoints")
        meta = json.loads(meta_path.read_text())
        return cls._load(meta, run / "generator.safetensors", "", device)

    @classmethod
    def pretrained(cls, name: str, device: str = "cpu") -> Completer:
        """A model that ships with gfc-kit (see :func:`pretrained_models`); nothing is downloaded."""
        models = pretrained_models()
        if name not in models:
            known = ", ".join(models) or "none in this version"
            raise GfcError(f"no pretrained model {name!r}; shipped: {known}")
        return cls.from_run(models[name], device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> Completer:
        """The generator in a training checkpoint (``RUN/checkpoints/checkpoint-*.safetensors``),
        built from the run's ``recipe.yaml``."""
        from gfc_kit import recipe as recipes

        path = Path(path)
        recipe_file = path.parent.parent / "recipe.yaml"
        if not recipe_file.is_file():
            raise GfcError(f"{path}: expected the run's recipe.yaml at {recipe_file}")
        loaded = recipes.load(recipe_file)
        meta = {"generator": loaded.model.generator.model_dump(mode="json"), "image_size": loaded.image_size,
                "hole_fill": loaded.train.hole_fill}
        return cls._load(meta, path, "model.generator.", device)

    @classmethod
    def _load(cls, meta: dict[str, Any], weights: Path, prefix: str, device: str) -> Completer:
        from safetensors.torch import load_file

        if not weights.is_file():
            raise GfcError(f"{weights}: no such weights file")
        generator = build("generator", meta["generator"], ("generator",), image_size=meta["image_size"])
        state = {k[len(prefix):]: v for k, v in load_file(str(weights)).items() if k.startswith(prefix)}
        try:
            generator.load_state_dict(state)
        except RuntimeError as exc:
            raise GfcError(f"{weights}: the weights do not fit the generator: {str(exc).splitlines()[0]}") from None
        return cls(generator, meta["image_size"], meta.get("hole_fill", "noise"), device=device)

    def __call__(self, image: Any, mask: Any) -> Any:
        """Fill the holes of ``image`` where ``mask`` is 1 (white). Tensors (``N×3×H×W`` in [-1, 1],
        ``N×1×H×W``) of any size are resized to the model and back; a PIL image or ``H×W×3`` uint8
        array is treated as a photo (see :meth:`complete_photo`) and returned as the same type."""
        if torch.is_tensor(image):
            return self.complete_tensor(image, mask)
        photo = Image.fromarray(image) if isinstance(image, np.ndarray) else image
        hole = Image.fromarray(mask) if isinstance(mask, np.ndarray) else mask
        result = self.complete_photo(photo, hole)
        return np.asarray(result) if isinstance(image, np.ndarray) else result

    @torch.inference_mode()
    def complete_tensor(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Composited completion of a batch at its own size."""
        image, mask = image.to(self.device).float(), (mask.to(self.device) > 0.5).float()
        size = (self.image_size, self.image_size)
        small = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
        small_mask = (F.interpolate(mask, size=size, mode="area") > 0).float()  # any hole pixel counts
        rng = torch.Generator().manual_seed(self.seed)
        output = self.generator(fill_hole(small, small_mask, self.hole_fill, rng)).float().clamp(-1, 1)
        if output.shape[-2:] != image.shape[-2:]:
            output = F.interpolate(output, size=image.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)
        return composite(output, image, mask)

    def complete_photo(self, photo: Image.Image, mask: Image.Image, crop: Crop = "auto") -> Image.Image:
        """Complete a photo of any size: crop it to the model's layout, complete, paste back."""
        photo = photo.convert("RGB")
        hole = np.asarray(mask.convert("L").resize(photo.size, Image.NEAREST)) >= 128
        x0, y0, x1, y1 = photo_box(photo.size, crop)
        outside = hole.copy()
        outside[y0:y1, x0:x1] = False
        if outside.any():
            raise GfcError(f"the hole reaches outside the {x1 - x0}×{y1 - y0} region at ({x0}, {y0}) that the "
                           "model sees; use a smaller hole or another crop (e.g. resize)")
        region = np.asarray(photo, dtype=np.float32)[y0:y1, x0:x1] / 127.5 - 1
        tensor = torch.from_numpy(region).permute(2, 0, 1)[None]
        hole_crop = torch.from_numpy(hole[y0:y1, x0:x1].astype(np.float32))[None, None]
        done = self.complete_tensor(tensor, hole_crop)[0].permute(1, 2, 0).cpu().numpy()
        result = np.asarray(photo).copy()
        result[y0:y1, x0:x1] = np.clip((done + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(result)


MODELS_DIR = Path(__file__).parent / "models"
"""Where shipped models live: one folder per model, laid out like a finished run's export."""


def pretrained_models() -> dict[str, Path]:
    """Name → folder of every model that ships with gfc-kit."""
    if not MODELS_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(MODELS_DIR.iterdir()) if (p / "model.json").is_file()}


def photo_box(size: tuple[int, int], crop: Crop = "auto") -> tuple[int, int, int, int]:
    """The square (or, for ``resize``, whole) region of a ``width × height`` photo the model sees."""
    width, height = size
    if crop == "auto":
        crop = "celeba" if abs(width / height - ALIGNED_SIZE[0] / ALIGNED_SIZE[1]) < 0.02 else "center"
    if crop == "celeba":
        sx, sy = width / ALIGNED_SIZE[0], height / ALIGNED_SIZE[1]
        x0, y0, x1, y1 = CROP_BOX
        return round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy)
    if crop == "resize":
        return 0, 0, width, height
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


class RunParser:
    """A run's trained face parser as a labeller for images of any size: images are resized to the
    size it was trained at and its labels resized back (nearest)."""

    def __init__(self, parser: torch.nn.Module, image_size: int) -> None:
        self.parser = parser.eval()
        self.image_size = image_size

    @classmethod
    def from_run(cls, run: str | Path) -> RunParser:
        """The parser a finished run exported (``model.json`` + ``parser.safetensors``)."""
        from gfc_kit.training.checkpoint import load_weights

        run = Path(run)
        meta_path = run / "model.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        if "parser" not in meta:
            raise GfcError(f"{run}: has no exported parser (model.json without 'parser'); give --parser none "
                           "or another run")
        parser = build("parser", meta["parser"], ("parser",), image_size=meta["image_size"])
        parser.load_state_dict(load_weights(run / "parser.safetensors", "parser"))
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
    :data:`MODELS_DIR`) with weights stored as ``dtype``: fp16 halves the file and the loaded model
    computes in fp32 as before. Returns the files written."""
    from safetensors.torch import load_file, save_file

    run, output = Path(run), Path(output)
    meta_path = run / "model.json"
    if not meta_path.is_file():
        raise GfcError(f"{run}: not a finished run (no model.json)")
    meta = json.loads(meta_path.read_text())
    cast = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    output.mkdir(parents=True, exist_ok=True)
    written = []
    names = ["generator"] + (["parser"] if parser and "parser" in meta else [])
    for name in names:
        stored = load_file(str(run / f"{name}.safetensors"))
        weights = {k: v.to(cast) if v.is_floating_point() else v for k, v in stored.items()}
        save_file(weights, str(output / f"{name}.safetensors"), metadata={"dtype": dtype, "source": str(run.name)})
        written.append(output / f"{name}.safetensors")
    if "parser" not in names:
        meta.pop("parser", None)
    (output / "model.json").write_text(json.dumps({**meta, "weights_dtype": dtype}, indent=1))
    written.append(output / "model.json")
    return written

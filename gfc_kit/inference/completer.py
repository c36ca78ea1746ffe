"""Completing images with a trained generator: tensors in, composited tensors out, or photos of
any size in and out (cropped to the model's face layout, completed, pasted back).

    completer = ModelCompleter.from_run("runs/quickstart")
    filled = completer(image, mask)            # N×3×H×W and N×1×H×W tensors, or PIL / numpy
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from gfc_kit.errors import GfcError
from gfc_kit.face_layout import CELEBA_CROP, FaceLayout
from gfc_kit.factory import build
from gfc_kit.imaging import hole_array
from gfc_kit.inference.model_folder import DEFAULT_MODEL
from gfc_kit.model_json import face_layout, read_model_json
from gfc_kit.inference.runtimes import Runtime, TorchRuntime
from gfc_kit.interfaces import composite, fill_hole, size_multiple

Crop = Literal["auto", "celeba", "center", "resize", "hole", "original"]
"""How a photo is fitted to the model when no aligner places a face: ``celeba`` = the paper's crop
of an aligned CelebA image, ``center`` = the largest centred square, ``resize`` = the whole photo
stretched to the model, ``auto`` = ``celeba`` for photos with CelebA's aligned aspect (178:218),
else ``center``; and, for fully convolutional models, ``hole`` = a crop around each group of holes
with a margin, completed at the photo's own scale (IOPaint's crop strategy), ``original`` = the
whole photo at its own scale. The last two shrink a crop only when it is larger than the model's
``max_side``."""


class ModelCompleter:
    """A trained generator as a :class:`~gfc_kit.interfaces.Completer`: it fills holes of tensors or
    photos, and the known pixels are always kept as they were."""

    def __init__(self, generator: torch.nn.Module, image_size: int, hole_fill: str = "noise", seed: int = 0,
                 device: str | torch.device = "cpu", layout: FaceLayout | None = CELEBA_CROP,
                 max_side: int | None = None, runtime: Runtime | None = None) -> None:
        self.device = torch.device(device)
        self.layout = layout
        """The face layout the model was trained on (aligners map photos onto it), or ``None`` for a
        model that never saw an aligned face (e.g. a scene model): photos are then cropped around
        their holes, never to a face."""
        self.generator = generator.to(self.device).eval()
        self.runtime = runtime or TorchRuntime(self.generator, "channels_last")  # 1.13× eager (gfc-kit bench)
        """How the generator runs: PyTorch channels_last, or the path ``gfc-kit bench --model NAME
        --save`` found fastest on this machine (:mod:`gfc_kit.inference.fastest`)."""
        self.image_size = image_size
        self.hole_fill = hole_fill
        self.seed = seed
        self.size_multiple = size_multiple(self.generator)
        """Sides the generator takes besides ``image_size``: any multiple of this, or None (fixed size)."""
        self.max_side = max_side or (4 * image_size if self.size_multiple else image_size)
        """The longest side completed at the photo's own scale (``--crop hole`` and ``original``);
        larger crops are shrunk to it and their detail brought back by the refiner."""

    @classmethod
    def from_run(cls, run: str | Path, device: str = "cpu", fastest: bool = True) -> ModelCompleter:
        """The generator a finished ``gfc-kit run`` exported (``model.json`` + ``generator.safetensors``),
        run on the CPU by the path this machine's ``gfc-kit bench --model NAME --save`` recorded
        for these weights, if any (``fastest=False``: PyTorch as always)."""
        from gfc_kit.inference.fastest import saved_runtime

        run = Path(run)
        completer = cls._load(read_model_json(run), run / "generator.safetensors", "", device, run / "model.json")
        runtime = saved_runtime(run, completer.generator) if fastest and completer.device.type == "cpu" else None
        if runtime is not None:
            completer.runtime = runtime
        return completer

    @classmethod
    def pretrained(cls, name: str = DEFAULT_MODEL, device: str = "cpu", fastest: bool = True) -> ModelCompleter:
        """A model that ships with gfc-kit or an installed plugin (see :func:`pretrained_models`),
        by default :data:`~gfc_kit.inference.model_folder.DEFAULT_MODEL`; nothing is downloaded."""
        from gfc_kit.plugins import registry

        return cls.from_run(registry().model(name).folder, device, fastest)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu") -> ModelCompleter:
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
        return cls._load(meta, path, "model.generator.", device, recipe_file)

    @classmethod
    def _load(cls, meta: dict[str, Any], weights: Path, prefix: str, device: str, source: Path) -> ModelCompleter:
        """The generator ``meta`` describes (as read from ``source``) with the weights in ``weights``."""
        from gfc_kit.weights import mismatch, read_safetensors

        try:
            generator = build("generator", meta["generator"], ("generator",), image_size=meta["image_size"])
        except GfcError as exc:  # e.g. an edited model.json: name the file as well as the key
            raise GfcError("\n".join(f"{source}: {line}" for line in str(exc).splitlines())) from None
        state = {k[len(prefix):]: v for k, v in read_safetensors(weights).items() if k.startswith(prefix)}
        try:
            generator.load_state_dict(state)
        except RuntimeError as exc:
            raise GfcError(f"{weights}: the weights do not fit the generator: {mismatch(exc)}") from None
        return cls(generator, meta["image_size"], meta.get("hole_fill", "noise"), device=device,
                   layout=face_layout(meta, source), max_side=meta.get("max_side"))

    def __call__(self, image: Any, mask: Any) -> Any:
        """Fill the holes of ``image`` where ``mask`` is 1 (white). Tensors (``N×3×H×W`` in [-1, 1],
        ``N×1×H×W``) of any size are resized to the model and back; a PIL image or ``H×W×3`` uint8
        array is treated as a photo (see :meth:`complete_photo`) and returned as the same type."""
        if torch.is_tensor(image):
            return self.complete_tensor(image, mask)
        photo = Image.fromarray(image) if isinstance(image, np.ndarray) else image
        result = self.complete_photo(photo, mask)
        return np.asarray(result) if isinstance(image, np.ndarray) else result

    @torch.inference_mode()
    def complete_tensor(self, image: torch.Tensor, mask: torch.Tensor, own_size: bool | None = None) -> torch.Tensor:
        """Composited completion of a batch at its own size. ``mask`` is 1 (or ``True``) in the hole:
        a float mask counts above 0.5, and an image with no hole pixel is an error, never an
        unchanged image returned as completed. The generator sees the batch resized to its
        ``image_size``, or, with ``own_size`` (fully convolutional models only), at its own size,
        padded to the generator's multiple. By default (``None``) a model without a face layout (a
        scene model) that is fully convolutional sees batches up to its ``max_side`` at their own
        size, and a face model sees its layout's size."""
        device = image.device
        image = image.to(self.device).float()
        mask = torch.as_tensor(hole_array(mask, "mask")).to(self.device).float()
        if mask.dim() == 3:
            mask = mask[:, None]
        if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-2:] != image.shape[-2:] or len(mask) != len(image):
            raise GfcError(f"mask: shape {tuple(mask.shape)} does not fit images of shape {tuple(image.shape)} "
                           "(give N×1×H×W)")
        empty = (mask.flatten(1).amax(1) == 0).nonzero().flatten().tolist()
        if empty:
            raise GfcError(f"mask: image {empty[0]} of the batch has no hole pixel (1 = hole)")
        if own_size is None:  # scenes have no layout to fit: a fully convolutional scene model sees them as they are
            own_size = self.layout is None and self.size_multiple is not None and max(image.shape[-2:]) <= self.max_side
        if own_size:
            output = self._at_own_size(image, mask)
        else:
            size = (self.image_size, self.image_size)
            small = F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
            small_mask = (F.interpolate(mask, size=size, mode="area") > 0).float()  # any hole pixel counts
            output = self._generate(small, small_mask)
        if output.shape[-2:] != image.shape[-2:]:
            output = F.interpolate(output, size=image.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)
        return composite(output, image, mask).to(device)  # back where the caller keeps its images

    def _generate(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        rng = torch.Generator().manual_seed(self.seed)
        return self.runtime(fill_hole(image, mask, self.hole_fill, rng), mask)

    def _at_own_size(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The generator's output at the batch's own size: padded (reflected) to its multiple, cut back."""
        if self.size_multiple is None:
            raise GfcError(f"this model takes only {self.image_size}×{self.image_size} images (it is not fully "
                           "convolutional); complete at its size instead (e.g. --crop resize)")
        height, width = image.shape[-2:]
        m = self.size_multiple
        pad = [0, -width % m, 0, -height % m]
        mode = "reflect" if min(height, width) > max(pad) else "replicate"
        output = self._generate(F.pad(image, pad, mode=mode), F.pad(mask, pad, value=0.0))
        return output[..., :height, :width]

    def complete_photo(self, photo: Image.Image, mask: Any, crop: Crop = "auto") -> Image.Image:
        """Complete a photo of any size in the fixed ``crop`` the model sees, pasted back (no
        alignment; :class:`~gfc_kit.inference.pipeline.PhotoCompleter` adds aligners and blenders).
        ``mask``: a PIL image (white = hole), or an ``H×W`` array of 0/1, bool, float or 0–255."""
        from gfc_kit.components.blenders import Paste
        from gfc_kit.inference.pipeline import PhotoCompleter

        photo = photo.convert("RGB")
        hole = hole_array(mask, "mask", size=photo.size)
        done = PhotoCompleter(self, Paste(), crop=crop)(np.asarray(photo), hole, name="mask")
        return Image.fromarray(done)

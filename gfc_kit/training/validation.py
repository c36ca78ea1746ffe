"""The fixed validation batch a run completes at every validation row: read once (``data.val``,
else ``data.train``), completed with the same holes and noise every time, and computed once per
step however many callbacks ask for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import default_collate

from gfc_kit.interfaces import Validation, composite, generator_input
from gfc_kit.training.batches import step_generator, to_device

if TYPE_CHECKING:
    from gfc_kit.training.parts import RunParts

VALIDATION = 64
"""Validation images behind val_hole_l1 (the grid shows the first 8): enough for a steady number."""


class Validator:
    """Completes and labels the fixed validation batch with the run's networks as they are."""

    def __init__(self, parts: RunParts) -> None:
        self.parts = parts
        self._batch: dict[str, Any] | None = None
        self._cached: tuple[int, Validation] | None = None

    def batch(self) -> dict[str, Any]:
        """The fixed batch, read once without moving the training's random state."""
        if self._batch is None:
            data = self.parts.datasets["val" if "val" in self.parts.datasets else "train"]
            with torch.random.fork_rng():
                items = [data[i % len(data)] for i in range(min(VALIDATION, len(data)))]
            self._batch = to_device(default_collate(items), self.parts.rt.device)
        return self._batch

    def complete(self, global_step: int) -> Validation:
        """The batch completed by the generator as it is at ``global_step`` (in eval mode, restored after)."""
        if self._cached is not None and self._cached[0] == global_step:
            return self._cached[1]
        parts, batch = self.parts, self.batch()
        image = batch["image"]
        rng = step_generator(parts.recipe.seed, -1)
        mask = parts.sampler(batch, rng).to(image)
        x = generator_input(image, mask, parts.recipe.train.hole_fill, rng, parts.mask_channel)
        generator = parts.generator
        was_training = generator.training
        generator.eval()
        with torch.inference_mode(), parts.rt.autocast():
            output = generator(x).float().clamp(-1, 1)
        generator.train(was_training)
        result = Validation(image, mask, x[:, :3], output, composite(output, image, mask))
        self._cached = (global_step, result)
        return result

    @torch.inference_mode()
    def parse(self, images: torch.Tensor) -> torch.Tensor:
        """The parser's labels ``N×H×W`` for ``images`` (in eval mode, restored after)."""
        parser = self.parts.modules["parser"]
        was_training = parser.training
        parser.eval()
        try:
            return parser(images).argmax(1)
        finally:
            parser.train(was_training)

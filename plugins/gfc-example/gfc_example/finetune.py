"""A training stage as a plugin: fine-tuning the generator with some of its parts frozen.

It is gfc-kit's own generator stage (the same losses, discriminator step and validation) with one
change, in :meth:`enter`: the generator's submodules named in ``frozen`` (by default its
``encoder``, which every gfc-kit generator has) stay in eval mode and get no gradient, so only the
rest (the decoder) adapts: e.g. a trained face model fitted to another kind of image in minutes.
A recipe stage uses it as ``train: {type: finetune, frozen: [encoder]}``.
"""

from __future__ import annotations

import torch

from gfc_kit import GfcError
from gfc_kit.training.stages import GeneratorStage


class FineTune(GeneratorStage):
    """The generator with some of its submodules frozen (by default its encoder)."""

    def __init__(self, frozen: list[str] = ["encoder"]) -> None:  # noqa: B006 (pydantic copies it)
        self.frozen = list(frozen)

    def check(self, parts, stage) -> None:
        missing = [name for name in self.frozen if not isinstance(getattr(parts.generator, name, None),
                                                                   torch.nn.Module)]
        if missing:
            children = ", ".join(name for name, _ in parts.generator.named_children())
            raise GfcError(f"the generator has no part {missing[0]!r} to freeze; its parts are {children}")
        if parts.rt.world > 1:
            raise GfcError("a finetune stage freezes parameters, which DistributedDataParallel does not allow; "
                           "run it in one process")

    def enter(self, parts, stage) -> None:
        super().enter(parts, stage)
        for name in self.frozen:
            part = getattr(parts.generator, name)
            part.eval()
            part.requires_grad_(False)

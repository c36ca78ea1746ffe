"""Every built-in component meets its family's contract and can be imported from
``gfc_kit.components`` (DESIGN.md section 1), as timm runs one test per listed model."""

from __future__ import annotations

import gfc_kit
import gfc_kit.components as components
from gfc_kit.plugins import registry


def test_every_builtin_family_imports_from_gfc_kit_components():
    for name in components.__all__:
        assert getattr(components, name) is not None, name
    from gfc_kit.components import BCEAdversarial, CelebA, GFCGenerator, HoleView, RandomSquare  # noqa: F401


def test_every_builtin_class_factory_is_exported_from_gfc_kit_components(fresh_plugins):
    """Components are; the trainer's own kinds (stages, callbacks) are public names of
    gfc_kit.training.stages and gfc_kit.training.callbacks, where a plugin subclasses them."""
    from gfc_kit.training import callbacks, stages

    trainer_kinds = {"stage": stages, "callback": callbacks}
    built_in = [e for e in registry() if e.source == "built-in" and isinstance(e.factory, type)]
    classes = {e.factory for e in built_in if e.kind not in trainer_kinds}
    exported = {getattr(components, name) for name in components.__all__}
    assert classes <= exported, sorted(c.__name__ for c in classes - exported)
    for e in built_in:
        if e.kind in trainer_kinds:
            assert getattr(trainer_kinds[e.kind], e.factory.__name__) is e.factory and e.factory.__name__[0] != "_"


def test_every_builtin_loss_declares_what_it_consumes(fresh_plugins):
    from gfc_kit.registry import LOSS_INPUTS, loss_inputs

    from typing import get_args

    from gfc_kit.interfaces import LossInputs

    assert get_args(LossInputs) == LOSS_INPUTS
    losses = [e for e in registry() if e.kind == "loss"]
    assert losses and all(loss_inputs(e.factory) in LOSS_INPUTS for e in losses)


def test_every_builtin_view_keeps_batch_and_reaches_the_side():
    import torch

    image, mask = torch.rand(2, 3, 32, 32), torch.zeros(2, 1, 32, 32)
    mask[:, :, 8:16, 8:16] = 1
    for name in ("hole", "image"):
        assert gfc_kit.create("view", name)(image, mask, 16).shape == (2, 3, 16, 16)
    assert gfc_kit.create("view", "box", box=(0.25, 0.5, 0.75, 1.0))(image, mask, 8).shape == (2, 3, 8, 8)

"""Hook specifications: the only places where gfc-kit calls into plugins.

Built-in components register through the same hooks as third-party ones. A plugin module
implements a hook by defining a function of the same name marked with :data:`hookimpl`; an
implementation may take fewer arguments than its spec, so specs can grow without breaking it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from gfc_kit.interfaces import Run
    from gfc_kit.recipe.schema import Stage
    from gfc_kit.registry import Registry

PROJECT = "gfc_kit"
"""The pluggy project name, which is also the entry-point group plugins publish under."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gfc_register(registry: Registry) -> None:
    """Add this plugin's components with ``registry.add(kind, name, factory)``.

    Called once per process, the first time a component is created or listed; every
    implementation runs, each with the same registry, and their order does not matter because
    a ``(kind, name)`` can be registered only once (a clash is an error naming both plugins).

    :param registry: the :class:`gfc_kit.registry.Registry` to add to. ``kind`` is one of
        ``Registry.KINDS``; ``name`` is lower snake_case; ``factory`` is a class or function whose
        keyword parameters are all type-annotated: they are the component's recipe keys.
        ``registry.add_model(name, folder)`` adds a model folder (``model.json`` + weights) that
        ``gfc-kit models``, ``--model NAME`` and ``ModelCompleter.pretrained(NAME)`` find.
    :return: nothing.
    """


# ----------------------------------------------------------------------------- commands
@hookspec
def gfc_register_commands(cli: click.Group) -> None:
    """Add ``gfc-kit`` subcommands: ``@cli.command()`` or ``cli.add_command(...)`` inside the hook
    (as ``llm``'s ``register_commands``). A plugin with several commands groups them under its own
    name (``@cli.group()``).

    Called once, when ``gfc-kit`` starts and before it parses the command line, so ``gfc-kit
    --help`` lists the plugin's commands; every implementation runs.

    :param cli: the ``gfc-kit`` click group. A command that raises :class:`gfc_kit.GfcError` gets
        gfc-kit's ``error: …`` line and exit status 2.
    """


# ----------------------------------------------------------------------------- lifecycle
# Notifications, not pipelines (pytest's ``pytest_runtest_logreport`` shape): every implementation
# runs, results are ignored, and they are called in the main process only (rank 0 under DDP), by
# keyword. ``run`` is a :class:`gfc_kit.interfaces.Run`; ``run.stop(reason)`` asks the run to end
# after the current step. Implement them in a callback (kind ``callback``, configurable from the
# recipe's ``callbacks`` section, as the built-in ``metrics_log``, ``sample_grids`` and
# ``progress`` are; see :mod:`gfc_kit.training.callbacks`) or at a plugin module's top level
# (active whenever the plugin is).


@hookspec
def gfc_stage_start(run: Run, stage: Stage, index: int) -> None:
    """A training stage is about to take its first step (also when a resumed run re-enters it).

    :param run: the :class:`gfc_kit.interfaces.Run`: ``run.recipe``, ``run.output`` (the run
        folder), ``run.modules`` (networks by name), ``run.position`` (stage index, step),
        ``run.stop(reason)``.
    :param stage: the recipe's stage (``stage.name``, ``stage.steps``, ``stage.losses``).
    :param index: its place in ``run.recipe.stages``, from 0.
    """


@hookspec
def gfc_stage_end(run: Run, stage: Stage, index: int) -> None:
    """A training stage has taken its last step (and its last checkpoint is written)."""


@hookspec
def gfc_row_logged(run: Run, row: dict[str, Any]) -> None:
    """A row of numbers was logged: training losses every ``train.log_every`` steps (with
    ``images_per_s``), and validation numbers every ``train.sample_every`` steps (with
    ``"split": "val"``: ``val_hole_l1`` in generator stages, ``val_parse_acc`` in a parser stage;
    ``run.validation()`` then returns that step's completed validation batch without recomputing
    it). After ``--resume`` the rows from the checkpoint on are logged again: a logger that keeps
    its own file trims it to ``run.position`` at ``gfc_stage_start``, or tolerates repeats.

    A rule that ends training (early stopping) calls ``run.stop(reason)`` here: every
    implementation still sees the row, and the run ends after this step.

    :param row: ``stage``, ``step``, ``global_step`` and the numbers; JSON-able.
    """


@hookspec
def gfc_checkpoint_saved(run: Run, path: Path) -> None:
    """A checkpoint was written completely (atomically) to ``path``."""


@hookspec
def gfc_report_written(folder: Path, run: Run | None) -> None:
    """An evaluation report was written to ``folder`` (``report.md``, ``summary.csv`` …), by
    ``gfc-kit evaluate`` (``run`` is ``None``) or at the end of training (``run`` is the run)."""

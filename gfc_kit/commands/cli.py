"""The ``gfc-kit`` command line: the click group, and the loading of its commands, gfc-kit's own and
plugins', through the one ``gfc_register_commands`` hook. Input problems print ``error: …`` lines
and exit with status 2."""

from __future__ import annotations

import logging
from typing import Any

import click

from gfc_kit import __version__
from gfc_kit.commands import builtin
from gfc_kit.errors import GfcError
from gfc_kit.plugins import call_arguments, commands_of, hooks, installed_entry_points, registry


class _Group(click.Group):
    """Turns :class:`GfcError` into one ``error:`` line per problem and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GfcError as exc:
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gfc-kit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """gfc-kit: face completion (Generative Face Completion, CVPR 2017) as recipes and plugins."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _plugin_warnings_as_lines()
    if ctx.invoked_subcommand != "plugins":  # which lists them itself
        registry()  # a broken plugin is said once, now, as a "warning:" line


class _WarningLines(logging.Handler):
    """Plugin problems as ``warning: …`` lines on stderr (click's current one)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"warning: {record.getMessage()}", err=True)


def _plugin_warnings_as_lines() -> None:
    plugin_log = logging.getLogger("gfc_kit.plugins")
    plugin_log.handlers = [_WarningLines()]
    plugin_log.propagate = False


def add_builtin_commands(group: click.Group) -> None:
    """Add gfc-kit's own commands with its built-in plugin's ``gfc_register_commands``, called
    directly: going through the plugin manager would import every built-in component, and torch,
    before ``gfc-kit --help``."""
    builtin.gfc_register_commands(group)
    commands_of[builtin.__name__] = list(group.commands)


def add_plugin_commands(group: click.Group) -> None:
    """Let installed plugins add subcommands (the ``gfc_register_commands`` hook), once; a plugin's
    command may not replace a built-in one. With no plugin installed nothing is imported, so
    ``gfc-kit --help`` stays fast."""
    if not installed_entry_points():
        return

    taken = set(group.commands)
    for impl in hooks().gfc_register_commands.get_hookimpls():
        if impl.plugin_name == builtin.__name__:
            continue  # added with the group, by add_builtin_commands
        staging = click.Group()
        try:
            impl.function(**call_arguments(impl, cli=staging))
        except Exception as exc:  # one plugin's broken hook must not take every command down
            click.echo(f"warning: plugin {impl.plugin_name!r} failed to add its commands: "
                       f"{type(exc).__name__}: {exc}", err=True)
            continue
        for name, command in staging.commands.items():
            if name in taken:
                click.echo(f"warning: plugin {impl.plugin_name!r}: its command {name!r} clashes with gfc-kit's "
                           "own; ignored", err=True)
                continue
            group.add_command(command, name)
            commands_of.setdefault(impl.plugin_name, []).append(name)


def main() -> None:
    try:
        add_plugin_commands(cli)
    except GfcError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    cli(prog_name="gfc-kit")


add_builtin_commands(cli)


if __name__ == "__main__":
    main()

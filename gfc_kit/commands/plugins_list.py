"""``gfc-kit plugins``: every plugin and component, with where it comes from and its parameters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from gfc_kit.errors import GfcError


@click.command()
@click.option("--kind", help="Only this kind (e.g. mask_sampler).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins(kind: str | None, as_json: bool) -> None:
    """List every component: kind, name, where it comes from, and its parameters."""
    import logging

    from gfc_kit.plugins import registry

    plugin_log = logging.getLogger("gfc_kit.plugins")
    plugin_log.disabled = True  # this listing prints every problem itself, below: once, not twice
    try:
        registry()
    finally:
        plugin_log.disabled = False
    if kind is not None and kind not in registry().KINDS:
        raise GfcError(f"--kind {kind}: unknown kind; kinds are {', '.join(registry().KINDS)}")
    from gfc_kit.plugins import plugin_summaries

    entries = [e for e in registry() if kind in (None, e.kind)]
    for problem in registry().problems:
        click.echo(f"warning: {problem}", err=True)
    if as_json:
        rows = [{"kind": e.kind, "name": e.name, "source": e.source, "summary": e.summary,
                 "params": [{"name": p.name, "type": p.type, "required": p.required,
                             "default": None if p.required else _jsonable(p.default)} for p in e.params]}
                for e in entries]
        click.echo(json.dumps(rows, indent=2))
        return
    if kind is None:
        click.echo(click.style("plugins", bold=True))
        summaries = plugin_summaries()
        core = [p for p in summaries if p.source == "built-in" and not p.hooks]
        click.echo(f"  gfc-kit  (built-in)  {sum(len(p.components) for p in core)} components; "
                   f"callbacks: {', '.join(c for p in core for c in p.callbacks)}; "
                   f"models: {', '.join(m for p in core for m in p.models) or 'none'}")
        for plugin in (p for p in summaries if p not in core):
            parts = [f"{len(plugin.components)} components" if plugin.components else "",
                     f"callbacks: {', '.join(plugin.callbacks)}" if plugin.callbacks else "",
                     f"hooks: {', '.join(plugin.hooks)}" if plugin.hooks else "",
                     f"commands: {', '.join(plugin.commands)}" if plugin.commands else "",
                     f"models: {', '.join(plugin.models)}" if plugin.models else ""]
            click.echo(f"  {plugin.name}  ({plugin.source})  " + ("; ".join(p for p in parts if p) or "nothing"))
    for k in [kind] if kind else registry().KINDS:
        click.echo(click.style(k, bold=True))
        of_kind = [e for e in entries if e.kind == k]
        if not of_kind:
            click.echo("  (none registered)")
        for e in of_kind:
            default_on = " [on by default]" if getattr(e.factory, "enabled_by_default", False) else ""
            click.echo(f"  {e.name}  ({e.source}){default_on}  {e.summary}")
            for p in e.params:
                default = "required" if p.required else f"= {_jsonable(p.default)}"
                click.echo(f"      {p.name}: {p.type} {default}")


def _jsonable(value: Any) -> Any:
    """A default as it would be written in a recipe."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value

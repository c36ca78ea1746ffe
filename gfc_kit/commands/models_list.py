"""``gfc-kit models``: the model folders gfc-kit and installed plugins ship, and whether each is usable."""

from __future__ import annotations

import click

from gfc_kit.errors import GfcError


@click.command()
def models() -> None:
    """List the models of gfc-kit and installed plugins (for complete --model and evaluate --model)."""
    from gfc_kit.inference import read_model_json
    from gfc_kit.plugins import registry

    shipped = registry().models()
    if not shipped:
        click.echo("no models: none ships with this version or an installed plugin")
    for entry in shipped:
        if not (entry.folder / "model.json").is_file():
            click.echo(f"{entry.name}  missing: no model.json in {entry.folder} yet (train or export it there)  "
                       f"(from {entry.source})")
            continue
        try:
            meta = read_model_json(entry.folder)
        except GfcError as exc:
            click.echo(f"{entry.name}  unusable: {exc}  ({entry.source})")
            continue
        size = sum(f.stat().st_size for f in entry.folder.glob("*.safetensors")) / 2**20
        parts = "generator + parser" if "parser" in meta else "generator"
        layout = meta.get("face_layout", {"name": "celeba_crop"})
        kind = f"faces ({layout.get('name', '?')})" if isinstance(layout, dict) else "no face layout"
        click.echo(f"{entry.name}  {meta['image_size']}×{meta['image_size']}  {kind}  {parts}, "
                   f"{meta.get('weights_dtype', 'fp32')} {size:.1f} MiB  (recipe {meta.get('recipe', '?')}; "
                   f"from {entry.source}; {entry.folder})")

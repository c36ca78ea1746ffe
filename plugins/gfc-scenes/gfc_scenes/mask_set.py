"""A fixed evaluation set, written once so that every model is scored on the same holes: for each
photo a square crop and its mask in LaMa's on-disk naming (``X_crop000.png`` and
``X_crop000_mask000.png``, 255 = hole; sub-folders of the input kept), a ``manifest.sha256`` that
``sha256sum -c`` checks, and ``mask_set.json`` saying how the set was made.

As LaMa's ``gen_mask_dataset.py``: the photo is resized (bicubic) so its shorter side is the
resolution, a square of that side is cropped from it, and one mask of the chosen LaMa set is drawn
on the crop. Unlike it, every random number (the crop's place, the mask) comes from a torch
generator seeded by the seed and the photo's path relative to the input folder, so the same seed
gives the same files on any machine, in any order, for any subset of photos.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gfc_kit.errors import GfcError
from gfc_kit.imaging import list_images
from gfc_kit.outputs import output_folder
from gfc_scenes.datasets import photo_split
from gfc_scenes.lama_masks import LamaMasks

MANIFEST = "manifest.sha256"
SETTINGS = "mask_set.json"


def photo_seed(seed: int, relative: Path) -> int:
    """The seed of one photo's crop and mask: stable across machines and photo order."""
    return int(hashlib.sha256(f"{seed}/{relative.as_posix()}".encode()).hexdigest()[:16], 16)


def crop_and_mask(photo: Image.Image, sampler: LamaMasks, side: int, generator: torch.Generator
                  ) -> tuple[Image.Image, np.ndarray]:
    """The ``side × side`` crop of ``photo`` (shorter side resized to ``side``) and its mask (uint8,
    255 = hole; LaMa's sizes scaled by ``side`` over the sampler's resolution)."""
    scale = side / min(photo.size)
    size = (max(side, round(photo.width * scale)), max(side, round(photo.height * scale)))
    resized = photo.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    x = int(torch.randint(size[0] - side + 1, (1,), generator=generator))
    y = int(torch.randint(size[1] - side + 1, (1,), generator=generator))
    crop = resized.crop((x, y, x + side, y + side))
    return crop, sampler.draw(side, side, generator) * 255


def write_mask_set(source: Path | list[Path], output: Path, preset: str, resolution: int = 256, seed: int = 0,
                   split: str = "all", held_out: float = 0.1, limit: int | None = None,
                   size: int | None = None) -> Path:
    """Write the set for the photos under ``source`` (one folder, or several: each then keeps its
    path below their common parent) into ``output``; returns the manifest's path. ``size`` is the
    crop side (default: ``resolution``, LaMa's own)."""
    size = size or resolution
    sources = [Path(s) for s in (source if isinstance(source, list) else [source])]
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise GfcError(f"--output {output}: exists and is not an empty folder; choose a new one")
    base = sources[0] if len(sources) == 1 else Path(os.path.commonpath([s.absolute() for s in sources]))
    photos = [p for s in sources for p in list_images(s)]
    if split != "all":
        wanted = ("val", "test") if split == "held_out" else (split,)
        photos = [p for p in photos if photo_split(p, held_out) in wanted]
        if not photos:
            raise GfcError(f"--input {', '.join(map(str, sources))}: no photo is in the {split!r} split")
    photos = photos[:limit]
    sampler = LamaMasks(preset, resolution)
    output_folder(output)
    lines = []
    for photo in photos:
        relative = photo.relative_to(base) if len(sources) == 1 else photo.absolute().relative_to(base)
        try:
            with Image.open(photo) as opened:
                opened.load()
                image = opened.copy()
        except (OSError, ValueError) as exc:
            raise GfcError(f"{photo}: cannot read it as an image ({exc})") from None
        crop, mask = crop_and_mask(image, sampler, size, torch.Generator().manual_seed(photo_seed(seed, relative)))
        stem = relative.with_suffix("").as_posix() + "_crop000"
        (output / stem).parent.mkdir(parents=True, exist_ok=True)
        for name, picture in ((f"{stem}.png", crop), (f"{stem}_mask000.png", Image.fromarray(mask, mode="L"))):
            encoded = io.BytesIO()
            picture.save(encoded, format="PNG", optimize=False)
            (output / name).write_bytes(encoded.getvalue())
            lines.append(f"{hashlib.sha256(encoded.getvalue()).hexdigest()}  {name}")
    (output / SETTINGS).write_text(json.dumps({
        "masks": f"lama random_{preset}_{resolution}", "preset": preset, "resolution": resolution, "size": size, "seed": seed,
        "split": split, "held_out": held_out if split != "all" else None, "photos": len(photos),
        "sources": [s.as_posix() for s in sources]}, indent=1) + "\n")
    manifest = output / MANIFEST
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def read_manifest(root: Path) -> dict[str, str]:
    """File name → SHA-256 from a set's manifest; a set without one is an error naming the folder."""
    path = root / MANIFEST
    if not path.is_file():
        raise GfcError(f"{root}: no {MANIFEST}; not a set written by gfc-kit masks write")
    entries = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise GfcError(f"{path}:{number}: expected '<sha256>  <file>', got {line[:60]!r}")
        entries[name] = digest
    return entries

"""``gfc-kit align``: cut each face out of photos exactly as a model would see it.

The crops are made with the completer's own warp (:func:`gfc_kit.inference.warping.warp_to_layout`)
onto the model's face layout, so a folder of crops is training or test data in that model's frame;
``transforms.json`` keeps each crop's transform to map results back onto its photo.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click
import numpy as np

from gfc_kit.errors import GfcError
from gfc_kit.face_layout import FaceLayout
from gfc_kit.inference.model_folder import DEFAULT_MODEL
from gfc_kit.interfaces import Face
from gfc_kit.outputs import output_folder

TRANSFORMS = "transforms.json"
"""The file beside the crops that the ``aligned_faces`` dataset reads."""


def register(cli: click.Group) -> None:
    @cli.command()
    @click.option("--input", "inputs", required=True, type=click.Path(path_type=Path),
                  help="A photo, or a folder of photos (not searched recursively).")
    @click.option("--output", required=True, type=click.Path(path_type=Path), help="Folder for the crops.")
    @click.option("--model", help=f"Use this model's face layout (default: {DEFAULT_MODEL}; see gfc-kit models).")
    @click.option("--run", "run_dir", type=click.Path(path_type=Path), help="Use this finished run's face layout.")
    @click.option("--size", type=click.IntRange(8, 4096), default=128, show_default=True, help="Crop side in pixels.")
    @click.option("--faces", type=click.Choice(["largest", "all"]), default="largest", show_default=True,
                  help="Crop the largest face of each photo, or every face (<stem>_<i>.png, 0 = largest).")
    @click.option("--align", "align_spec", default="dlib", show_default=True,
                  help="The aligner: dlib, dlib:landmarks=5,upsample=1 or {type: dlib, rotations: [20, -20]}.")
    def align(inputs: Path, output: Path, model: str | None, run_dir: Path | None, size: int, faces: str,
              align_spec: str) -> None:
        """Find the faces in photos and write each as a SIZE×SIZE crop in a model's face layout,
        with transforms.json (the aligned_faces dataset reads the folder back)."""
        layout = _layout(model, run_dir)
        aligner = _aligner(align_spec)
        photos = _photos(inputs)
        output_folder(output)
        crops: dict[str, Any] = {}
        failed = 0
        for stem, path in _stems(photos):
            try:
                found = _crop_photo(path, stem, aligner, layout, size, faces, output)
            except GfcError as exc:
                click.echo(f"error: {path}: {exc}", err=True)
                failed += 1
                continue
            if not found:
                click.echo(f"error: {path}: no face found (--align {align_spec}; faces in profile or, at "
                           "the defaults, under about 80 px are missed: try upsample=1)", err=True)
                failed += 1
            crops.update(found)
        (output / TRANSFORMS).write_text(transforms_json(layout, size, crops))
        click.echo(f"wrote {len(crops)} crops of {len(photos)} photos to {output}/")
        if failed:
            click.get_current_context().exit(2)


def _layout(model: str | None, run_dir: Path | None) -> FaceLayout:
    """The face layout of ``--model`` or ``--run`` (the default model when neither is given)."""
    from gfc_kit.model_json import face_layout, read_model_json

    if model is not None and run_dir is not None:
        raise GfcError("give --model NAME or --run RUN_DIR, not both")
    if run_dir is None:
        from gfc_kit.plugins import registry

        run_dir = registry().model(model or DEFAULT_MODEL, "--model").folder
    layout = face_layout(read_model_json(run_dir), run_dir / "model.json")
    if layout is None:
        raise GfcError(f"{run_dir}: this model has no face layout (it was not trained on aligned faces); "
                       "align for a face model")
    return layout


def _aligner(text: str) -> Any:
    """The aligner ``--align`` names, built as ``gfc-kit complete --align`` builds it (so a bad
    value is an error naming ``--align`` and its text)."""
    from gfc_kit.commands.specs import option_component

    return option_component("aligner", text, "--align")


def _photos(inputs: Path) -> list[Path]:
    from gfc_kit.imaging import list_images

    if inputs.is_file():
        return [inputs]
    if not inputs.exists():
        raise GfcError(f"{inputs}: --input: no such photo or folder")
    return list_images(inputs, recursive=False)


def _stems(photos: list[Path]) -> list[tuple[str, Path]]:
    """A distinct crop name stem per photo: its own stem, or ``stem_suffix`` where two photos share
    one (``a.jpg`` and ``a.png``)."""
    counts: dict[str, int] = {}
    for path in photos:
        counts[path.stem] = counts.get(path.stem, 0) + 1
    return [(p.stem if counts[p.stem] == 1 else f"{p.stem}_{p.suffix.lstrip('.').lower()}", p) for p in photos]


def read_photo(path: Path) -> np.ndarray:
    """A photo as ``H×W×3`` uint8 RGB, turned upright by its EXIF orientation."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise GfcError(f"cannot read the photo ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") \
            from None


def _crop_photo(path: Path, stem: str, aligner: Any, layout: FaceLayout, size: int, which: str,
                output: Path) -> dict[str, Any]:
    """Write the crops of one photo; their ``transforms.json`` entries by file name."""
    from PIL import Image

    from gfc_kit.inference.warping import warp_to_layout

    photo = read_photo(path)
    found: list[Face] = aligner(photo, layout)
    if which == "largest":
        found = found[:1]
    entries = {}
    for i, face in enumerate(found):
        name = f"{stem}.png" if which == "largest" else f"{stem}_{i}.png"
        crop = warp_to_layout(photo, face.to_layout, size)
        if crop.dtype != np.uint8:
            crop = np.clip(np.rint(crop), 0, 255).astype(np.uint8)
        Image.fromarray(crop).save(output / name)
        entries[name] = face_entry(face, path, size)
    return entries


def transforms_json(layout: FaceLayout, size: int, crops: dict[str, Any]) -> str:
    """``transforms.json``'s text: one line per crop, so the file stays readable and diffable."""
    lines = [f" {json.dumps(name)}: {json.dumps(entry)}" for name, entry in crops.items()]
    return (f'{{"layout": {json.dumps(layout.to_json())},\n"size": {size},\n"crops": {{\n'
            + ",\n".join(lines) + "\n}}\n")


def face_entry(face: Face, source: Path, size: int) -> dict[str, Any]:
    """One face's ``transforms.json`` entry; its landmarks in crop pixels (NaN: ``null``)."""
    from gfc_kit.inference.warping import view_matrix

    matrix = view_matrix(face.to_layout, size)
    crop_points = face.landmarks @ matrix[:2, :2].T + matrix[:2, 2]
    return {
        "source": str(source),
        "to_layout": np.asarray(face.to_layout, dtype=float).tolist(),
        "box": [float(v) for v in face.box],
        "landmarks": [[None if not math.isfinite(v) else float(v) for v in point] for point in crop_points],
        "score": float(face.score),
    }

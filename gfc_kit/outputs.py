"""Output folders made before any work: a path that cannot be a writable folder (a file there or on
its way, no permission, a read-only disk) is one error line naming the option, not a traceback
after a long stage."""

from __future__ import annotations

import tempfile
from pathlib import Path

from gfc_kit.errors import GfcError


def output_folder(path: str | Path, option: str = "--output") -> Path:
    """``path`` as an existing, writable folder (created with its parents); ``option`` names it in errors."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise GfcError(f"{option} {path}: is a file, not a folder; choose another")
    _no_file_above(path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # what permissions and read-only mounts actually allow
            pass
    except OSError as exc:
        raise GfcError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def output_file(path: str | Path, option: str = "--output") -> Path:
    """``path`` as a file that can be written: its folder made writable as :func:`output_folder`,
    and no folder in its place."""
    path = Path(path)
    if path.is_dir():
        raise GfcError(f"{option} {path}: is a folder; give a file name")
    _no_file_above(path, option)
    output_folder(path.parent, option)  # Path('m.onnx').parent is '.'
    return path


def _no_file_above(path: Path, option: str) -> None:
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise GfcError(f"{option} {path}: {blocker} on its path is a file, not a folder")

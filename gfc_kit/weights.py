"""Weight files: reading safetensors with one-line errors, loading one module's weights from a
checkpoint or an exported file, and writing any file atomically with the user's umask. Used by
training, inference and components (a timm encoder's local weights) alike."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from gfc_kit.errors import GfcError


def write_atomic(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` then rename the result onto ``path``, readable as the user's umask
    says (safetensors creates its files 0600, whatever the umask)."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def mismatch(exc: RuntimeError) -> str:
    """The first specific problem of a ``load_state_dict`` error (``size mismatch for …``, ``Missing
    key(s) …``) rather than its ``Error(s) in loading state_dict for X:`` heading, plus a count."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
        return _first_key(lines[1].rstrip(".")) + more
    return lines[0] if lines else type(exc).__name__


def _first_key(problem: str) -> str:
    """``Missing key(s) in state_dict: "a", "b", …`` cut to its first key and a count: weights of
    another network miss or add hundreds of tensors, and the first one names the mismatch."""
    head, sep, keys = problem.partition(": ")
    names = keys.split(", ")
    if not sep or len(names) < 2 or not all(n.startswith('"') for n in names):
        return problem
    return f"{head}: {names[0]} and {len(names) - 1} more"


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing, empty, truncated or foreign file is a
    one-line :class:`GfcError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise GfcError(f"{path}: no such weights file")
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError, OSError or ValueError
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GfcError(f"{path}: not a readable safetensors file ({detail})") from None


def load_weights(path: Path, name: str) -> dict[str, torch.Tensor]:
    """The state dict of module ``name`` from a training checkpoint, or a run's exported
    ``<name>.safetensors`` (which holds that module alone)."""
    tensors = read_safetensors(path)
    if not any(k.startswith("model.") for k in tensors):
        return tensors
    prefix = f"model.{name}."
    weights = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    if not weights:
        raise GfcError(f"{path}: has no {name} weights")
    return weights

"""The fastest execution path per machine: ``gfc-kit bench --model NAME --save`` records, for this
CPU (model name, instruction flags), thread count and library versions, which path ran the model
fastest while keeping its result (hole PSNR within 0.1 dB of fp32 eager), with any file that path
needs (the exported ONNX graph). :class:`~gfc_kit.inference.ModelCompleter` reads the record when it
loads that model: no probing, exporting or compiling on a first call. A record made on another
machine, with other versions or other weights never matches, so a stale choice is never used.

The records live in the user's cache folder: ``$GFC_KIT_CACHE``, else ``$XDG_CACHE_HOME/gfc-kit``,
else ``~/.cache/gfc-kit``: ``fastest.json`` and the files under ``fastest/``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

import torch

from gfc_kit import __version__

log = logging.getLogger("gfc_kit.complete")

PSNR_BUDGET = 0.1
"""The most hole PSNR (dB) a saved path may lose against fp32 eager."""


def cache_folder() -> Path:
    """Where per-machine records and their files are kept (see the module's docstring)."""
    if os.environ.get("GFC_KIT_CACHE"):
        return Path(os.environ["GFC_KIT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gfc-kit"


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``), or ``None`` where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return {flag for line in text.splitlines() if line.startswith(("flags", "Features"))
            for flag in line.split(":", 1)[1].split()}


def machine_key() -> dict[str, Any]:
    """What a record must match: the CPU, its flags, the threads and the versions that run the paths."""
    try:
        import onnxruntime
        ort = onnxruntime.__version__
    except ImportError:
        ort = None
    flags = sorted(cpu_flags() or [])
    return {"cpu": cpu_model(), "flags": hashlib.sha256(" ".join(flags).encode()).hexdigest()[:16],
            "threads": torch.get_num_threads(), "torch": torch.__version__, "onnxruntime": ort,
            "gfc_kit": __version__}


def weights_digest(folder: Path) -> str:
    """A short SHA-256 of a model folder's generator weights: a record is for these weights only."""
    digest = hashlib.sha256()
    with open(Path(folder) / "generator.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def record_key(folder: Path) -> str:
    """The record's key: this machine and these weights, hashed."""
    text = json.dumps({"machine": machine_key(), "weights": weights_digest(folder)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def files_folder(folder: Path) -> Path:
    """Where a record for ``folder``'s model keeps the files its path needs."""
    return cache_folder() / "fastest" / record_key(folder)


def _records() -> dict[str, Any]:
    path = cache_folder() / "fastest.json"
    try:
        records = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable (%s); ignored, run gfc-kit bench --model NAME --save again", path, exc)
        return {}
    return records if isinstance(records, dict) else {}


def save_choice(folder: Path, path: str, details: dict[str, Any]) -> Path:
    """Record ``path`` as the fastest for ``folder``'s model on this machine; returns the record file."""
    records = _records()
    records[record_key(folder)] = {"path": path, "model": str(folder), "machine": machine_key(), **details}
    target = cache_folder() / "fastest.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(records, indent=1))
    temporary.replace(target)
    return target


def saved_choice(folder: Path) -> dict[str, Any] | None:
    """This machine's record for ``folder``'s model, or ``None``."""
    records = _records()
    if not records or not (Path(folder) / "generator.safetensors").is_file():
        return None  # nothing saved on this machine: no need to hash the weights
    return records.get(record_key(folder))


def saved_runtime(folder: Path, generator: torch.nn.Module) -> Any | None:
    """The runtime this machine's record names for ``folder``'s model, or ``None`` (no record, or
    a record whose file has gone: then it says so once and PyTorch runs the model)."""
    from gfc_kit.inference.runtimes import ONNX_PATHS, OnnxRuntime, TorchRuntime

    choice = saved_choice(folder)
    if choice is None:
        return None
    name = choice["path"]
    if name in ONNX_PATHS:
        file = files_folder(folder) / f"{name}.onnx"
        if not file.is_file():
            log.warning("%s: the saved fastest path's file is missing; PyTorch runs the model "
                        "(gfc-kit bench --model NAME --save writes it again)", file)
            return None
        runtime = OnnxRuntime(file, name=name)
    else:
        runtime = TorchRuntime(generator, name)
    log.info("%s runs by %s, the fastest path gfc-kit bench --save recorded on this machine", folder, name)
    return runtime

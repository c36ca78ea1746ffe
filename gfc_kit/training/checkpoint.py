"""Checkpoints: weights and optimiser state in safetensors, run state in a small JSON file.

Written atomically: each file goes to a temporary name in the run folder and is renamed into
place (``os.replace`` is atomic on POSIX and Windows), and ``last.json``, which names the
checkpoint to resume from, is replaced only after its safetensors file is complete. A run killed
at any instant therefore resumes from the last complete checkpoint, never a torn one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from gfc_kit.errors import GfcError
from gfc_kit.weights import mismatch, read_safetensors, write_atomic

LAST = "last.json"


def state_tensors(modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer]
                  ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Flatten module and optimiser state into safetensors tensors plus the JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"optimizers": {}}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"model.{name}.{key}"] = value.detach().cpu().contiguous()
    for name, optimizer in optimizers.items():
        state = optimizer.state_dict()
        for pid, values in state["state"].items():
            for key, value in values.items():
                tensor = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"optim.{name}.{pid}.{key}"] = tensor.detach().cpu().contiguous()
        meta["optimizers"][name] = state["param_groups"]
    return tensors, meta


def save(folder: Path, tag: str, modules: dict[str, torch.nn.Module],
         optimizers: dict[str, torch.optim.Optimizer], run_state: dict[str, Any], keep: int = 2,
         scalers: dict[str, torch.amp.GradScaler] | None = None, resume_point: bool = True) -> Path:
    """Write checkpoint ``tag`` (weights, optimiser and fp16 loss-scaler state) and, if it is a
    ``resume_point``, point ``last.json`` at it; keep the newest ``keep`` regular checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors, meta = state_tensors(modules, optimizers)
    weights = folder / f"checkpoint-{tag}.safetensors"
    write_atomic(weights, lambda tmp: save_file(tensors, str(tmp)))
    if not resume_point:
        return weights
    record = {**run_state, "weights": weights.name, "optimizers": meta["optimizers"],
              "scalers": {name: s.state_dict() for name, s in (scalers or {}).items() if s.is_enabled()}}
    write_atomic(folder / LAST, lambda tmp: tmp.write_text(json.dumps(record, indent=1)))
    for old in sorted(folder.glob("checkpoint-[0-9]*.safetensors"))[:-keep]:
        old.unlink()
    return weights


def load(folder: Path, modules: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
         scalers: dict[str, torch.amp.GradScaler] | None = None) -> dict[str, Any]:
    """Restore modules, optimisers and loss scalers from ``folder``'s last checkpoint; return its run state."""
    record_path = folder / LAST
    if not record_path.is_file():
        raise GfcError(f"{folder}: no checkpoint to resume from (no {LAST})")
    try:
        record = json.loads(record_path.read_text())
    except ValueError as exc:
        raise GfcError(f"{record_path}: not valid JSON ({exc}); resume from another run or start afresh") from None
    _check_record(record, record_path, optimizers)
    weights_name = record["weights"]
    tensors = read_safetensors(folder / weights_name)
    for name, module in modules.items():
        prefix = f"model.{name}."
        try:
            module.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        except RuntimeError as exc:
            raise GfcError(f"{folder / weights_name}: the {name} weights do not fit the recipe's network: "
                           f"{mismatch(exc)}") from None
    for name, state in record.get("scalers", {}).items():
        if scalers and name in scalers and scalers[name].is_enabled():
            scalers[name].load_state_dict(state)
    for name, optimizer in optimizers.items():
        prefix = f"optim.{name}."
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith(prefix):
                pid, field = key[len(prefix):].split(".", 1)
                state.setdefault(int(pid), {})[field] = value
        optimizer.load_state_dict({"state": state, "param_groups": record["optimizers"][name]})
        _match_memory_format(optimizer)
    return record


def _check_record(record: Any, path: Path, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """``last.json`` has what :func:`load` and a resuming trainer read, or a one-line error names it."""
    fields = {"weights": str, "stage": int, "step": int, "global_step": int, "optimizers": dict}
    words = {str: "string", int: "whole number", dict: "mapping"}
    if not isinstance(record, dict):
        raise GfcError(f"{path}: not a gfc-kit checkpoint record (a JSON {type(record).__name__}, not an object)")
    wrong = [k for k, kind in fields.items() if not isinstance(record.get(k), kind) or isinstance(record.get(k), bool)]
    missing = [n for n in optimizers if n not in record.get("optimizers", {})] if not wrong else []
    if wrong or missing:
        problem = (f"'{wrong[0]}' is missing or not a {words[fields[wrong[0]]]}" if wrong
                   else f"no state for the {missing[0]} optimizer")
        raise GfcError(f"{path}: not a gfc-kit checkpoint record ({problem}); resume from another run or start afresh")


def _match_memory_format(optimizer: torch.optim.Optimizer) -> None:
    """Give each moment buffer its parameter's memory layout (e.g. channels_last), as a fresh run
    has them: fused Adam walks parameter and buffers as flat memory, so their strides must agree."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    optimizer.state[param][key] = torch.empty_like(param, dtype=value.dtype).copy_(value)

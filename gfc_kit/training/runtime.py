"""Where and how a run executes: device, precision, and DistributedDataParallel under torchrun."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from gfc_kit.errors import GfcError

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Runtime:
    """The device, precision and process group a run uses."""

    device: torch.device
    precision: str
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes files and logs (rank 0)."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision for forward passes, or nothing for fp32."""
        dtype = _DTYPES[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling, on only for fp16 (bf16 has fp32's range and needs none)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def average_gradients(self, module: torch.nn.Module) -> None:
        """All-reduce and average ``module``'s gradients across processes (for modules not wrapped
        in DDP, e.g. discriminators whose gradients are switched off during the generator step)."""
        if self.world == 1:
            return
        for p in module.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= self.world

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds in any process (e.g. a stop asked for by a callback, which runs
        in the main process only), so every process leaves the loop at the same step."""
        if self.world == 1:
            return flag
        value = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())


def start(device: str, precision: str) -> Runtime:
    """Resolve ``device`` (``auto`` = CUDA when present) and join the process group when launched
    by ``torchrun`` (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise GfcError(f"train.device: {device!r} is not a device ({exc})") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise GfcError(f"train.device: {device} requested but CUDA is not available here; use auto or cpu")
        if world > 1:
            resolved = torch.device("cuda", local_rank)
            torch.cuda.set_device(resolved)
    if precision == "fp16" and resolved.type != "cuda":
        raise GfcError("train.precision: fp16 needs CUDA; use bf16 or fp32 on the CPU")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    return Runtime(resolved, precision, rank, world)


def stop(runtime: Runtime) -> None:
    """Leave the process group, if any."""
    if runtime.world > 1 and dist.is_initialized():
        dist.destroy_process_group()

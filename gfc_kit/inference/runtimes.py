"""Ways to run a model's generator (execution paths): PyTorch eager in NCHW or channels_last, under
bf16 autocast, compiled, or exported to ONNX and run by ONNX Runtime in fp32 or int8. Each is a
callable ``(filled, mask) -> output`` on ``N×3×H×W`` images in [-1, 1] whose hole is already filled
(noise, Telea: drawn outside, so every path sees the same input) and ``N×1×H×W`` masks, returning
the generator's whole ``N×3×H×W`` output clamped to [-1, 1].

Which is fastest depends on the CPU (AVX2 only, AVX-512 with bf16, AMX) and the versions: ``gfc-kit
bench --model NAME`` measures them on the machine and ``--save`` records the fastest that keeps the
result (:mod:`gfc_kit.inference.fastest`); :class:`~gfc_kit.inference.ModelCompleter` uses that record.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from gfc_kit.errors import GfcError
from gfc_kit.interfaces import takes_mask

TORCH_PATHS = ("eager", "channels_last", "bf16", "compiled", "compiled_bf16")
ONNX_PATHS = ("onnxruntime", "onnxruntime_int8")
PATHS = TORCH_PATHS + ONNX_PATHS
"""Every execution path by name: ``eager`` (fp32, NCHW: the baseline), ``channels_last``, ``bf16``
(channels_last under bf16 autocast), ``compiled`` and ``compiled_bf16`` (``torch.compile``),
``onnxruntime`` (the exported fp32 graph) and ``onnxruntime_int8`` (statically quantised)."""


class Runtime(Protocol):
    name: str

    def __call__(self, filled: torch.Tensor, mask: torch.Tensor) -> torch.Tensor: ...


class GeneratorGraph(torch.nn.Module):
    """The network every path runs and ``gfc-kit export --format onnx`` writes: the generator fed
    the hole-filled image, with the mask as a 4th channel when it takes one, its output clamped."""

    def __init__(self, generator: torch.nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.mask_channel = takes_mask(generator)

    def forward(self, filled: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([filled, mask.to(filled)], 1) if self.mask_channel else filled
        return self.generator(x).float().clamp(-1, 1)


class TorchRuntime:
    """The generator in PyTorch by path name: ``eager`` (NCHW fp32), ``channels_last``, ``bf16``
    (channels_last under bf16 autocast), ``compiled``, ``compiled_bf16`` (``torch.compile``)."""

    def __init__(self, generator: torch.nn.Module, name: str = "channels_last") -> None:
        if name not in TORCH_PATHS:
            raise GfcError(f"unknown PyTorch path {name!r}; choose one of {', '.join(TORCH_PATHS)}")
        self.name = name
        self.format = torch.contiguous_format if name == "eager" else torch.channels_last
        self.bf16 = name.endswith("bf16")
        self.graph = GeneratorGraph(generator.to(memory_format=self.format).eval())
        self.device = next(generator.parameters()).device
        self.run = torch.compile(self.graph) if name.startswith("compiled") else self.graph

    @torch.inference_mode()
    def __call__(self, filled: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with autocast:
            return self.run(filled.contiguous(memory_format=self.format), mask)


class OnnxRuntime:
    """An exported generator graph (:func:`gfc_kit.inference.onnx_export.export_onnx`) in ONNX
    Runtime's CPU provider, on as many threads as PyTorch uses. Spinning is off: PyTorch resizes
    and composites around every call on the same cores, and spinning ORT threads would take them."""

    def __init__(self, path: Path, threads: int | None = None, name: str = "onnxruntime") -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise GfcError(f"{path}: running an ONNX model needs onnxruntime: pip install -e '.[onnx]'") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise GfcError(f"{path}: ONNX Runtime cannot load it: {str(exc).splitlines()[0]}") from None
        self.name, self.path = name, Path(path)

    def __call__(self, filled: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        feeds = {"filled": _numpy(filled), "mask": _numpy(mask)}
        return torch.from_numpy(self.session.run(["output"], feeds)[0]).to(filled.device)


def _numpy(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().float().cpu().numpy())

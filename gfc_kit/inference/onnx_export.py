"""A model's generator as an ONNX file (``gfc-kit export --format onnx``), for ONNX Runtime in a
service, on a phone or in a browser.

The graph is :class:`~gfc_kit.inference.runtimes.GeneratorGraph`: inputs ``filled`` (``N×3×H×W``
RGB in [-1, 1], the hole already filled as the model's ``hole_fill`` says: uniform noise in
[-1, 1] for the paper's models, drawn by the caller so both runtimes see the same input) and
``mask`` (``N×1×H×W``, 1 in the hole); output ``output`` (``N×3×H×W`` in [-1, 1]). The completed
image is ``output * mask + filled * (1 - mask)``. The batch is dynamic, and so are height and
width for fully convolutional generators (multiples of ``size_multiple``). The model's
``model.json``, the opset and this input convention travel in the file's metadata.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from gfc_kit import __version__
from gfc_kit.errors import GfcError
from gfc_kit.interfaces import size_multiple, takes_mask
from gfc_kit.outputs import output_file

OPSET = 18
"""The ONNX opset written: the one torch's exporter targets natively (ONNX Runtime ≥ 1.14 runs it)."""
TOLERANCE = 1e-3
"""Largest difference (of outputs in [-1, 1]) between ONNX Runtime and PyTorch that an export accepts."""


def metadata(meta: dict[str, Any], generator: torch.nn.Module) -> dict[str, str]:
    """What travels in the file: the model's own description and how to feed the graph."""
    return {
        "gfc_kit.version": __version__,
        "gfc_kit.model_json": json.dumps(meta),
        "image_size": str(meta["image_size"]),
        "hole_fill": meta.get("hole_fill", "noise"),
        "mask_channel": str(takes_mask(generator)).lower(),
        "size_multiple": str(size_multiple(generator) or 0),
        "face_layout": json.dumps(meta.get("face_layout", "celeba_crop")),
        "inputs": "filled: N×3×H×W RGB in [-1, 1] with the hole filled per hole_fill; mask: N×1×H×W, 1 = hole",
        "outputs": "output: N×3×H×W in [-1, 1]; completed = output * mask + filled * (1 - mask)",
    }


def export_onnx(generator: torch.nn.Module, meta: dict[str, Any], output: Path, check: bool = True) -> Path:
    """Write ``generator`` (fp32 weights) as an ONNX file at ``output`` and, with ``check``, prove
    it: ONNX Runtime on a random batch of two must agree with PyTorch within :data:`TOLERANCE`."""
    from gfc_kit.inference.runtimes import GeneratorGraph

    try:
        import onnx
    except ImportError:
        raise GfcError("--format onnx needs onnx, onnxscript and onnxruntime: pip install -e '.[onnx]'") from None
    output = output_file(output)
    graph = GeneratorGraph(copy.deepcopy(generator).float().to(memory_format=torch.contiguous_format)).eval()
    size, multiple = meta["image_size"], size_multiple(generator)
    example = (torch.rand(2, 3, size, size) * 2 - 1, (torch.rand(2, 1, size, size) > 0.7).float())
    sides = {2: "height", 3: "width"} if multiple else {}
    shapes = ({0: "batch", **sides}, {0: "batch", **sides})
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet("onnx_ir", "onnxscript"):
        warnings.simplefilter("ignore")  # the exporter's progress and notes on shape checks are not the user's concern
        try:
            program = torch.onnx.export(graph, example, dynamo=True, input_names=["filled", "mask"],
                                        output_names=["output"], opset_version=OPSET, dynamic_shapes=shapes,
                                        verbose=False)
        except Exception as exc:  # the exporter raises many types; the generator is named
            raise GfcError(f"{meta['generator'].get('type')}: the ONNX exporter cannot take this generator: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
    model = program.model_proto
    for key, value in metadata(meta, generator).items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name, model.producer_version = "gfc-kit", __version__
    onnx.checker.check_model(model)
    onnx.save(model, str(output))
    if check:
        verify(output, graph, example)
    return output


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """The exporter's libraries log every graph pass, and notes on attribute types; failures raise."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@torch.inference_mode()
def verify(path: Path, graph: torch.nn.Module, inputs: tuple[torch.Tensor, torch.Tensor]) -> float:
    """The largest difference between ONNX Runtime running ``path`` and PyTorch running ``graph``
    on ``inputs``; an error naming the file when it exceeds :data:`TOLERANCE`."""
    from gfc_kit.inference.runtimes import OnnxRuntime

    difference = float((OnnxRuntime(path)(*inputs) - graph(*inputs)).abs().max())
    if difference > TOLERANCE:
        raise GfcError(f"{path}: ONNX Runtime's output differs from PyTorch's by {difference:.2g} "
                       f"(more than {TOLERANCE}); the export is wrong, not written for use")
    return difference


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata an exported file carries (see :func:`metadata`)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def quantize_int8(source: Path, output: Path, calibration: list[tuple[torch.Tensor, torch.Tensor]]) -> Path:
    """``source`` statically quantised to int8 (QDQ, per-channel weights, activations calibrated on
    ``calibration``'s batches of ``(filled, mask)``) at ``output``."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"filled": f.numpy(), "mask": m.numpy()} for f, m in calibration])

        def get_next(self) -> dict[str, Any] | None:
            return next(self.items, None)

    prepared = Path(output).with_suffix(".prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    try:
        quantize_static(str(prepared), str(output), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        prepared.unlink(missing_ok=True)
    return Path(output)

"""``gfc-kit bench --model NAME``: how fast the model a user completes with runs on this machine, by
each execution path (:mod:`gfc_kit.inference.runtimes`), and what each costs in quality.

Every path is timed at batch 1 (one photo, the common case) and 16, interleaved with fp32 eager
NCHW in the same process (rounds of one then the other, medians compared), so a machine that
speeds up or slows down mid-run moves both. Each path also completes the same faces with the same
holes (O1–O6 in turn) and hole fill as fp32 eager; its change in mean hole PSNR against the truth
is printed beside its time. ``--save`` records the fastest path that loses at most
:data:`~gfc_kit.inference.fastest.PSNR_BUDGET` dB for this machine
(:mod:`gfc_kit.inference.fastest`), which ``ModelCompleter`` and ``gfc-kit complete`` then use.
"""

from __future__ import annotations

import math
import shutil
import statistics
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from gfc_kit.commands.bench import bf16_unaccelerated, timed
from gfc_kit.errors import GfcError
from gfc_kit.factory import build, create
from gfc_kit.inference import ModelCompleter, read_model_json
from gfc_kit.inference.fastest import PSNR_BUDGET, cpu_flags, cpu_model, files_folder, save_choice
from gfc_kit.inference.runtimes import ONNX_PATHS, OnnxRuntime, Runtime, TorchRuntime
from gfc_kit.interfaces import composite, fill_hole

REGIONS = ("O1", "O2", "O3", "O4", "O5", "O6")
NOT_SAVED = ("compiled", "compiled_bf16")
"""Paths ``--save`` never picks: compiling would run on the first call of every process."""


class ModelBench:
    """The paths of one model, their latency and their hole PSNR change against fp32 eager."""

    def __init__(self, name: str, data: str = "synthetic_faces", faces: int = 200, repeats: int = 5,
                 warmup: int = 2, compiled: bool = False) -> None:
        from gfc_kit.commands.specs import data_spec
        from gfc_kit.plugins import registry

        self.folder = registry().model(name, "--model").folder
        self.name, self.meta = name, read_model_json(self.folder)
        self.completer = ModelCompleter.from_run(self.folder, fastest=False)
        self.repeats, self.warmup, self.compiled = repeats, warmup, compiled
        size = self.completer.image_size
        spec = data_spec(data)
        if spec["type"] == "synthetic_faces":
            spec.setdefault("length", faces)
        dataset = build("dataset", spec, ("--data",), image_size=size)
        if len(dataset) < faces:
            raise GfcError(f"--data {data}: {len(dataset)} images, fewer than --faces {faces}")
        self.truth = torch.stack([dataset[i]["image"] for i in range(faces)])
        masks = [create("mask_sampler", "regions", region=REGIONS[i % 6])({"image": self.truth[i:i + 1]},
                                                                          torch.Generator().manual_seed(i))
                 for i in range(faces)]
        self.mask = torch.cat(masks)
        self.filled = fill_hole(self.truth, self.mask, self.completer.hole_fill, torch.Generator().manual_seed(0))
        self.eager = TorchRuntime(self._generator(), "eager")
        self._files = tempfile.TemporaryDirectory()

    def _generator(self) -> torch.nn.Module:
        """A private copy of the model's generator: paths never share a memory format."""
        return ModelCompleter.from_run(self.folder, fastest=False).generator

    def close(self) -> None:
        self._files.cleanup()

    def paths(self) -> Iterator[tuple[str, Runtime | str]]:
        """Each path besides fp32 eager, with its runtime or the reason it is not timed here."""
        why_not = bf16_unaccelerated(torch.device("cpu"))
        yield "channels_last", TorchRuntime(self._generator(), "channels_last")
        yield "bf16", why_not or TorchRuntime(self._generator(), "bf16")
        off = "not timed: give --compile"
        yield "compiled", TorchRuntime(self._generator(), "compiled") if self.compiled else off
        yield "compiled_bf16", (why_not or TorchRuntime(self._generator(), "compiled_bf16")) if self.compiled else off
        try:
            fp32 = self.onnx_file()
        except GfcError as exc:
            for name in ONNX_PATHS:
                yield name, f"unavailable: {exc}"
            return
        yield "onnxruntime", OnnxRuntime(fp32)
        yield "onnxruntime_int8", OnnxRuntime(self.int8_file(fp32), name="onnxruntime_int8")

    def onnx_file(self) -> Path:
        from gfc_kit.inference.onnx_export import export_onnx

        return export_onnx(self.completer.generator, self.meta, Path(self._files.name) / "onnxruntime.onnx")

    def int8_file(self, fp32: Path) -> Path:
        """``fp32`` quantised statically, its activations calibrated on 32 of the faces."""
        from gfc_kit.inference.onnx_export import quantize_int8

        calibration = [(self.filled[i:i + 8], self.mask[i:i + 8]) for i in range(0, 32, 8)]
        return quantize_int8(fp32, Path(self._files.name) / "onnxruntime_int8.onnx", calibration)

    def latency(self, runtime: Runtime, batch: int, rounds: int = 5) -> tuple[float, float]:
        """Median seconds per image of fp32 eager and of ``runtime`` at ``batch``, timed in alternating
        rounds, so a machine whose speed drifts (another process, turbo, heat) moves both alike."""
        x, m = self.filled[:batch], self.mask[:batch]
        eager, path = [], []
        for round_ in range(rounds):
            warmup = self.warmup if round_ == 0 else 0
            eager.append(timed(lambda: self.eager(x, m), self.repeats, warmup))
            path.append(timed(lambda: runtime(x, m), self.repeats, warmup))
        return statistics.median(eager) / batch, statistics.median(path) / batch

    def hole_psnr(self, runtime: Runtime | Callable, batch: int = 16) -> float:
        """Mean over the faces of the completed hole's PSNR (dB, pixels in [0, 1]) against the truth."""
        scores = []
        for i in range(0, len(self.truth), batch):
            truth, mask = self.truth[i:i + batch], self.mask[i:i + batch]
            done = composite(runtime(self.filled[i:i + batch], mask), truth, mask)
            error = ((done - truth) / 2).square().mul(mask).flatten(1).sum(1) / (3 * mask.flatten(1).sum(1))
            scores += (10 * torch.log10(1 / error.clamp_min(1e-10))).tolist()
        return statistics.fmean(scores)

    def run(self, batches: tuple[int, ...] = (1, 16)) -> list[dict[str, Any]]:
        """One row per path and batch: ms per image, speedup against fp32 eager, PSNR change."""
        baseline = self.hole_psnr(self.eager)
        rows = []
        for name, runtime in self.paths():
            if isinstance(runtime, str):
                rows += [{"path": name, "batch": b, "ms_per_image": None, "note": runtime} for b in batches]
                continue
            try:
                change = self.hole_psnr(runtime) - baseline
                for batch in batches:
                    eager, seconds = self.latency(runtime, batch)
                    rows.append({"path": name, "batch": batch, "ms_per_image": 1000 * seconds,
                                 "eager_ms_per_image": 1000 * eager, "speedup": eager / seconds,
                                 "psnr_change_db": change, "note": "", "runtime": runtime})
            except Exception as exc:  # a path that fails here (e.g. no C++ compiler for compile) is reported
                note = f"unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
                rows += [{"path": name, "batch": b, "ms_per_image": None, "note": note} for b in batches]
        return rows

    def save(self, rows: list[dict[str, Any]]) -> tuple[str, Path]:
        """Record the fastest path (geometric mean of its speedups at each batch) that loses at most
        :data:`PSNR_BUDGET` dB; fp32 eager's own channels_last default when none is faster."""
        speeds: dict[str, list[float]] = {}
        for row in rows:
            if row["ms_per_image"] and row["path"] not in NOT_SAVED and row["psnr_change_db"] >= -PSNR_BUDGET:
                speeds.setdefault(row["path"], []).append(row["speedup"])
        best = max(speeds, key=lambda p: math.prod(speeds[p]) ** (1 / len(speeds[p])), default="eager")
        if best in ONNX_PATHS:
            runtime = next(r["runtime"] for r in rows if r["path"] == best and "runtime" in r)
            target = files_folder(self.folder)
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(runtime.path, target / f"{best}.onnx")
        details = {r["path"] + f"_batch{r['batch']}": {"speedup": r["speedup"], "psnr_change_db": r["psnr_change_db"]}
                   for r in rows if r["path"] == best and r["ms_per_image"]}
        return best, save_choice(self.folder, best, {"measured": details})


def run_model_bench(name: str, data: str, faces: int, repeats: int, warmup: int, compiled: bool, save: bool,
                    json_file: Path | None) -> list[dict[str, Any]]:
    """``gfc-kit bench --model``: the table, printed (and written to ``json_file``), and the saved choice."""
    import json

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 150))  # the table's rows stay one line each in logs
    flags = sorted((cpu_flags() or set()) & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni",
                                             "amx_bf16", "amx_int8", "amx_tile", "fma", "f16c"})
    console.print(f"gfc-kit bench --model {name}: CPU {cpu_model()} ({', '.join(flags) or 'flags unknown'}), "
                  f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    bench = ModelBench(name, data, faces, repeats, warmup, compiled)
    try:
        rows = bench.run()
        table = Table("path", "batch", "ms/image", "images/s", "fp32 eager ms/image, same rounds",
                      "speedup vs fp32 eager", "hole PSNR change", "note",
                      title=f"Inference: {name}, {bench.completer.image_size}×{bench.completer.image_size}, "
                            f"hole PSNR on {faces} faces ({data}), O1–O6")
        for r in rows:
            ms = r["ms_per_image"]
            table.add_row(r["path"], str(r["batch"]), f"{ms:.1f}" if ms else "–", f"{1000 / ms:.0f}" if ms else "–",
                          f"{r['eager_ms_per_image']:.1f}" if ms else "–", f"{r['speedup']:.2f}×" if ms else "–",
                          f"{r['psnr_change_db']:+.3f} dB" if ms else "–", r["note"])
        console.print(table)
        if save:
            best, record = bench.save(rows)
            console.print(f"saved: {best} is the fastest path for {name} on this machine "
                          f"(within {PSNR_BUDGET} dB of fp32 eager); recorded in {record}")
    finally:
        bench.close()
    for row in rows:
        row.pop("runtime", None)
    if json_file is not None:
        json_file.write_text(json.dumps({"model": name, "cpu": cpu_model(), "flags": flags,
                                         "threads": torch.get_num_threads(), "torch": torch.__version__,
                                         "rows": rows}, indent=1))
        console.print(f"wrote {json_file}")
    return rows

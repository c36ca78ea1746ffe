"""``gfc-kit bench``: how fast a recipe's model trains and completes on this machine.

Measures, on one fixed batch so data loading does not blur the numbers: the training step of each
stage; the toolkit's overhead, as the ratio of its training step to a plain PyTorch loop over the
same networks, losses and optimisers (interleaved, in the same process); inference latency per
image at batch 1 and 16 for fp32 eager, channels_last, bf16 autocast and ``torch.compile``; peak
memory; and the data loader's throughput. Times are medians over the timed repeats.
"""

from __future__ import annotations

import contextlib
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from gfc_kit.errors import GfcError
from gfc_kit.factory import build, create
from gfc_kit.inference.fastest import cpu_flags
from gfc_kit.interfaces import composite, generator_input
from gfc_kit.recipe import DatasetSpec, Recipe
from gfc_kit.training.batches import StepBatches, loader, step_generator, to_device
from gfc_kit.training.parts import assemble
from gfc_kit.training.runtime import start


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (CUDA: peak allocated)."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def bf16_unaccelerated(device: torch.device) -> str:
    """Why bf16 would not be faster than fp32 on ``device``, or ``""`` if it may be.

    A CPU without bf16 instructions (x86 ``avx512_bf16`` or ``amx_bf16``, Arm ``bf16``) emulates
    bf16 matmuls and convolutions through fp32 with conversions: on two AVX2 machines here every
    bf16 path ran 2.6-6x slower than fp32, so timing it only spends minutes."""
    if device.type == "cuda":
        return "" if torch.cuda.is_bf16_supported() else "not timed: this GPU has no bf16 support"
    if device.type != "cpu":
        return ""
    flags = cpu_flags()
    if flags is None or flags & {"avx512_bf16", "amx_bf16", "bf16"}:
        return ""
    return (f"not timed: this CPU ({torch.backends.cpu.get_cpu_capability()}) has no bf16 instructions "
            "(avx512_bf16, amx_bf16); bf16 is emulated here, slower than fp32")


def timed(fn: Callable[[], Any], repeats: int, warmup: int) -> float:
    """Median seconds per call of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Bench:
    """Benchmarks of one recipe's model; each method returns rows for the table and the JSON."""

    def __init__(self, recipe: Recipe, batch_size: int, repeats: int, warmup: int, compiled: bool = True) -> None:
        self.compiled = compiled
        stages = [stage.model_copy(update={"data": None}) for stage in recipe.stages]  # sizes kept
        self.recipe = recipe.model_copy(update={"train": recipe.train.model_copy(update={"batch_size": batch_size}),
                                                "stages": stages})
        self.repeats, self.warmup, self.batch_size = repeats, warmup, batch_size
        # The steps run on one fixed batch of synthetic faces (content does not change speed; their
        # labels serve every stage), so the run's parts need none of the recipe's data.
        faces = DatasetSpec(type="synthetic_faces", length=batch_size, seed=0)
        bench_data = self.recipe.data.model_copy(update={"train": faces, "val": None, "parsing": faces})
        self.rt = start(recipe.train.device, recipe.train.precision)
        self.parts = assemble(self.recipe.model_copy(update={"data": bench_data}), self.rt)
        """The parts a run of the recipe trains, assembled as the trainer assembles them."""
        self.batch = self.faces(recipe.image_size)

    def faces(self, size: int) -> dict[str, Any]:
        """A batch of synthetic faces at ``size`` (content does not change speed; labels serve every stage)."""
        faces = create("dataset", "synthetic_faces", image_size=size, length=self.batch_size)
        items = [faces[i] for i in range(self.batch_size)]
        return to_device(default_collate(items), self.rt.device)

    # ---------------------------------------------------------------- training
    def training(self) -> list[dict[str, Any]]:
        """Seconds per training step and images/s for each of the recipe's stages: the trainer's
        own stage objects, stepped as the trainer steps them."""
        rows = []
        for index, spec in enumerate(self.recipe.stages):
            batch = self.batch if spec.image_size in (None, self.recipe.image_size) else self.faces(spec.image_size)
            seconds = timed(self.stage_step(index, batch), self.repeats, self.warmup)
            rows.append({"stage": spec.name, "batch": self.batch_size, "ms_per_step": 1000 * seconds,
                         "images_per_s": self.batch_size / seconds, "peak_mb": peak_rss_mb()})
        return rows

    def stage_step(self, index: int, batch: dict[str, Any]) -> Callable[[], Any]:
        """One step of stage ``index`` on ``batch``, through the stage object the trainer runs
        (entered first, as the trainer enters it)."""
        parts, spec = self.parts, self.recipe.stages[index]
        stage = parts.stages[index]
        stage.enter(parts, spec)
        return lambda: stage.step(parts, spec, batch, step_generator(0, 1))

    def overhead(self, rounds: int = 3) -> dict[str, Any]:
        """The last generator stage's step through the toolkit against the same work written as a
        plain PyTorch loop: ``rounds`` alternations of one timed step each (after the warm-up), so
        drifts in machine speed cancel; the medians are compared."""
        parts = self.parts
        index = max(i for i, stage in enumerate(parts.stages) if stage.trains == "generator")
        spec = self.recipe.stages[index]
        toolkit_step = self.stage_step(index, self.batch)
        plain = self._plain_step(spec)
        toolkit_times, plain_times = [], []
        for round_ in range(rounds):
            warmup = self.warmup if round_ == 0 else 0
            toolkit_times.append(timed(toolkit_step, 1, warmup))
            plain_times.append(timed(plain, 1, warmup))
        toolkit, bare = statistics.median(toolkit_times), statistics.median(plain_times)
        return {"stage": spec.name, "toolkit_ms": 1000 * toolkit, "plain_pytorch_ms": 1000 * bare,
                "overhead_ratio": toolkit / bare, "rounds": rounds}

    def _plain_step(self, stage: Any) -> Callable[[], None]:
        """One D step then one G step of ``stage``, written directly against the modules: the
        same networks, views, losses and optimisers with none of the trainer's routing."""
        t = self.parts
        g, opt_g, opt_d, parser = t.generator, t.optimizers["generator"], t.optimizers.get("discriminator"), \
            t.modules.get("parser")
        hole_fill = self.recipe.train.hole_fill
        terms = [t.terms[name] for name in stage.losses]
        judges = [(term, t.judges[term.discriminator]) for term in terms if term.inputs == "adversarial"]
        image = self.batch["image"]

        def real_fake_bce(logits: torch.Tensor) -> torch.Tensor:
            """BCE of the real half against 1 plus the fake half against 0."""
            real, fake = logits.split(len(image))
            return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                    + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))

        def seen(judge: Any, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            return judge.module(judge.view(images, mask, getattr(judge.module, "size", None)))

        def step() -> None:
            rng = step_generator(0, 1)
            mask = t.sampler(self.batch, rng).to(image)
            output = g(generator_input(image, mask, hole_fill, rng, t.mask_channel))
            comp = composite(output, image, mask)
            if judges:
                d_loss = image.new_zeros(())
                for _, judge in judges:
                    judge.module.requires_grad_(True)
                    fake = (output if judge.spec.fake == "output" else comp).detach()
                    d_loss = d_loss + real_fake_bce(seen(judge, torch.cat([image, fake]), torch.cat([mask, mask])))
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                for _, judge in judges:
                    judge.module.requires_grad_(False)
            total = image.new_zeros(())
            for term in terms:
                if term.inputs == "adversarial":
                    judge = t.judges[term.discriminator]
                    fake = output if judge.spec.fake == "output" else (
                        comp.detach() + output - output.detach() if judge.spec.gradient == "all" else comp)
                    logits = seen(judge, fake, mask)
                    value = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
                elif term.inputs == "parsing":
                    with torch.no_grad():
                        target = parser(image).argmax(1)
                    value = F.cross_entropy(parser(comp), target, reduction="sum") / len(image)
                else:
                    value = term.loss(output, image, mask)
                total = total + term.weight * value
            opt_g.zero_grad(set_to_none=True)
            total.backward()
            opt_g.step()

        return step

    # ---------------------------------------------------------------- inference
    def inference(self, batch_sizes: tuple[int, ...] = (1, 16)) -> list[dict[str, Any]]:
        """Milliseconds per image to complete a batch, for each execution path that works here."""
        generator = self.parts.generator.eval()
        size = self.recipe.image_size
        rows = []
        for batch in batch_sizes:
            x = torch.rand(batch, 3, size, size, device=self.rt.device) * 2 - 1
            for path, run in self._paths(generator, x):
                if isinstance(run, str):  # a path this machine cannot accelerate: said, not timed
                    rows.append({"path": path, "batch": batch, "ms_per_image": None, "note": run})
                    continue
                try:
                    seconds = timed(run, self.repeats, self.warmup)
                except Exception as exc:  # a path that does not work here (e.g. no compiler) is reported, not fatal
                    rows.append({"path": path, "batch": batch, "ms_per_image": None,
                                 "note": f"unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}"})
                    continue
                rows.append({"path": path, "batch": batch, "ms_per_image": 1000 * seconds / batch, "note": ""})
        eager = {r["batch"]: r["ms_per_image"] for r in rows if r["path"] == "fp32 eager"}
        for row in rows:
            if row["ms_per_image"]:
                row["speedup"] = eager[row["batch"]] / row["ms_per_image"]
        generator.to(memory_format=torch.channels_last if self.recipe.train.channels_last else torch.contiguous_format)
        return rows

    def _paths(self, generator: torch.nn.Module, x: torch.Tensor) -> Iterator[tuple[str, Callable[[], Any] | str]]:
        """Each execution path with the call that times it, or with the reason it is not timed."""
        device = x.device.type
        why_not = bf16_unaccelerated(x.device)

        def call(model: Callable, inp: torch.Tensor, autocast: bool = False) -> Callable[[], Any]:
            def run() -> Any:
                with torch.inference_mode(), (torch.autocast(device, dtype=torch.bfloat16) if autocast
                                              else contextlib.nullcontext()):
                    return model(inp)
            return run

        generator.to(memory_format=torch.contiguous_format)
        yield "fp32 eager", call(generator, x.contiguous())
        generator.to(memory_format=torch.channels_last)
        cl = x.contiguous(memory_format=torch.channels_last)
        yield "channels_last", call(generator, cl)
        yield "channels_last + bf16", why_not or call(generator, cl, autocast=True)
        if not self.compiled:
            off = "not timed: give --compile (compiling takes minutes on a CPU)"
            yield "compiled + channels_last", off
            yield "compiled + channels_last + bf16", off
            return
        compiled = torch.compile(generator)
        yield "compiled + channels_last", call(compiled, cl)
        yield "compiled + channels_last + bf16", why_not or call(compiled, cl, autocast=True)

    # ---------------------------------------------------------------- data
    def data_loader(self, batches: int = 20) -> dict[str, Any]:
        """Images/s the training data loader delivers with the recipe's ``num_workers``."""
        spec = self.recipe.data.train
        try:
            data = build("dataset", spec.entry, ("data", "train"),
                         image_size=self.recipe.image_size)
        except GfcError as exc:
            return {"dataset": self.recipe.data.train.type, "note": f"unavailable: {exc}"}
        workers = self.recipe.train.num_workers
        steps = StepBatches(len(data), self.batch_size, 0, 0, batches, 0, 1)
        start = time.perf_counter()
        images = sum(len(b["image"]) for b in loader(data, steps, workers, 0))
        seconds = time.perf_counter() - start
        return {"dataset": self.recipe.data.train.type, "num_workers": workers, "images_per_s": images / seconds}


def run_bench(recipe: Recipe, batch_size: int, repeats: int, warmup: int, compiled: bool,
              json_file: Path | None) -> dict[str, Any]:
    """Every benchmark of ``recipe``, printed as tables (and written to ``json_file``)."""
    import json

    from rich.console import Console
    from rich.table import Table

    console = Console()
    bench = Bench(recipe, batch_size, repeats, warmup, compiled)
    console.print(f"gfc-kit bench: recipe {recipe.name}, {recipe.image_size}×{recipe.image_size}, "
                  f"device {bench.rt.device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    results = {"recipe": recipe.name, "image_size": recipe.image_size, "device": str(bench.rt.device),
               "threads": torch.get_num_threads(), "torch": torch.__version__,
               "training": bench.training(), "overhead": bench.overhead(), "inference": bench.inference(),
               "data_loader": bench.data_loader(), "peak_mb": peak_rss_mb()}
    table = Table("stage", "batch", "ms/step", "images/s", "peak MB", title="Training step")
    for r in results["training"]:
        table.add_row(r["stage"], str(r["batch"]), f"{r['ms_per_step']:.0f}", f"{r['images_per_s']:.1f}",
                      f"{r['peak_mb']:.0f}")
    console.print(table)
    o = results["overhead"]
    console.print(f"toolkit overhead ({o['stage']} step): {o['toolkit_ms']:.0f} ms vs plain PyTorch "
                  f"{o['plain_pytorch_ms']:.0f} ms: ratio {o['overhead_ratio']:.3f}")
    table = Table("path", "batch", "ms/image", "speedup vs fp32 eager", "note", title="Inference (generator)")
    for r in results["inference"]:
        ms = r["ms_per_image"]
        table.add_row(r["path"], str(r["batch"]), f"{ms:.1f}" if ms else "–",
                      f"{r['speedup']:.2f}×" if ms else "–", r["note"])
    console.print(table)
    best = max((r for r in results["inference"] if r["ms_per_image"] and r["batch"] == max(
        x["batch"] for x in results["inference"])), key=lambda r: r["speedup"])
    console.print(f"fastest inference at batch {best['batch']}: {best['path']}, {best['speedup']:.2f}× fp32 eager")
    d = results["data_loader"]
    console.print(f"data loader ({d['dataset']}): " + (d.get("note") or
                  f"{d['images_per_s']:.0f} images/s with {d['num_workers']} workers"))
    console.print(f"peak memory: {results['peak_mb']:.0f} MB")
    if json_file is not None:
        json_file.write_text(json.dumps(results, indent=1))
        console.print(f"wrote {json_file}")
    return results

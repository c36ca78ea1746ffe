"""The trainer (DESIGN.md section 7) and completion with what it trains, on a tiny recipe.

The tiny recipe is in tiny_recipe.py: the paper's at 32×32 with every network an eighth wide.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import gfc_kit
import torch
from click.testing import CliRunner
from PIL import Image, ImageOps
from safetensors.torch import load_file
from torch.utils.data import default_collate

from gfc_kit import ModelCompleter, create
from gfc_kit import recipe as recipes
from gfc_kit.commands import cli
from gfc_kit.components import losses
from gfc_kit.errors import GfcError
from gfc_kit.components.views import hole_boxes
from gfc_kit.interfaces import composite, generator_input
from gfc_kit.inference.pipeline import crop_face, region_hole
from gfc_kit.training.batches import step_generator
from gfc_kit.training.stages import GeneratorStage, NonFiniteLoss, loss_value, step_context
from gfc_kit.training.trainer import Trainer
from tiny_recipe import write_recipe

STAGES = ("parser", "reconstruction", "local", "global")
NETWORKS = ("generator", "discriminator.local", "discriminator.global", "parser")


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items())


def all_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def gfc_env() -> dict[str, str]:
    """Subprocess environment: built-ins only, one thread (bitwise reproducible CPU kernels)."""
    return {**os.environ, "GFC_KIT_DISABLE_PLUGINS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def spawn(*args: str, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, env=gfc_env())


def finish(process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    assert process.wait(timeout) == 0, log.read_text()[-3000:]


# ------------------------------------------------------------------------------ gradient routing
@pytest.mark.parametrize(("role", "overrides", "reaches_known_pixels"), [
    ("local_adversarial", [], False),
    ("parsing", [], False),
    ("global_adversarial", [], True),  # the paper: the composite, its gradient passed to every pixel
    ("global_adversarial", ["model.discriminators.global.gradient=hole"], False),
    ("global_adversarial", ["model.discriminators.global.fake=output", "model.discriminators.global.gradient=all"],
     True),
    ("reconstruction", [], True),
])
def test_each_generator_term_sends_gradient_where_the_paper_does(tmp_path, role, overrides, reaches_known_pixels):
    """DESIGN.md section 7: the local-adversarial and parsing terms reach the generator output only
    inside the hole; the global one everywhere (the composite passed straight through, as
    gradstack.m does), or only inside the hole with ``gradient: hole``; the reconstruction loss
    (region ``all``) everywhere. The holes (12×12) are smaller than the local patch (16×16), so
    the patch holds known pixels too."""
    recipe = recipes.load(write_recipe(tmp_path), [*overrides, "masks.train.size=12"])
    trainer = Trainer(recipe, tmp_path / "run")
    trainer.enter_stage(len(recipe.stages) - 1)
    parts = trainer.parts
    batch = default_collate([parts.datasets["train"][i] for i in range(4)])
    image, rng = batch["image"], step_generator(0, 1)
    mask = parts.sampler(batch, rng)
    output = parts.generator(generator_input(image, mask, "noise", rng)).detach().requires_grad_()
    loss_value(parts, parts.terms[role], step_context(parts, batch, mask, output)).backward()
    grad = output.grad.abs().sum(1, keepdim=True)  # N×1×H×W
    hole, known = mask > 0, mask == 0
    assert ((grad * hole).flatten(1).sum(1) > 0).all(), "no gradient inside some image's hole"
    if role == "local_adversarial":  # its patch is the whole hole: every hole pixel is judged
        assert (grad[hole] > 0).all()
    if reaches_known_pixels:
        assert ((grad * known).flatten(1).sum(1) > 0).all()
    else:
        assert (grad[known] == 0).all()


def test_the_paper_global_discriminator_judges_exactly_the_composite_in_both_steps(tmp_path):
    """GFC_Gen_input_of_D1.m: the global discriminator sees the generated hole pasted into the real
    image, in the discriminator step (after the real images) and in the generator step, and its
    gradient reaches output pixels outside the hole (gradstack.m)."""
    recipe = recipes.load(write_recipe(tmp_path))
    trainer = Trainer(recipe, tmp_path / "run")
    stage = recipe.stages[-1]
    trainer.enter_stage(len(recipe.stages) - 1)
    parts = trainer.parts
    batch = default_collate([parts.datasets["train"][i] for i in range(3)])
    seen, outputs = [], []
    trainer.modules["discriminator.global"].register_forward_pre_hook(lambda m, args: seen.append(args[0]))

    def keep(module, args, out):
        outputs.append(out)
        out.register_hook(outputs.append)  # the gradient reaching the output

    parts.generator.register_forward_hook(keep)
    mask = parts.sampler(batch, step_generator(0, 1))
    parts.stages[-1].step(parts, stage, batch, step_generator(0, 1))
    output, gradient = outputs[0].detach(), outputs[1]
    comp = composite(output, batch["image"], mask)
    d_step, g_step = seen
    assert torch.equal(d_step, torch.cat([batch["image"], comp]))
    assert torch.equal(g_step.detach(), comp)
    known = (mask == 0).expand_as(gradient)
    assert gradient[known].abs().sum() > 0


def test_the_hole_view_sees_the_whole_hole_whatever_its_size():
    """A hole larger than the local discriminator's patch is seen whole (resampled); one of the
    patch's size is its exact pixels, as the paper's 64×64 crop."""
    views = create("view", "hole")
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    image[0] = -1
    image[0, :, 27, 21] = image[0, :, 4, 2] = 1  # markers at the big hole's far corners
    mask = torch.zeros(2, 1, 32, 32)
    mask[0, :, 4:28, 2:22] = 1  # 24×20: bigger than the 16×16 patch
    mask[1, :, 8:24, 10:26] = 1  # exactly 16×16
    boxes = hole_boxes(mask, 16)
    assert boxes[0, 1:].tolist() == [0.0, 4.0, 24.0, 28.0]  # a 24-pixel square holding rows 4-27, cols 2-21
    seen = views(image, mask, 16)
    assert seen.shape == (2, 3, 16, 16)
    assert torch.equal(seen[1], image[1, :, 8:24, 10:26])
    corners = seen[0, 0] > -1
    assert corners[:2, :3].any() and corners[-2:, -3:].any()  # both corners of the hole are in view


# ------------------------------------------------------------------------------ what a step trains
@pytest.mark.parametrize(("stage", "trained"), [
    (0, {"parser"}),
    (1, {"generator"}),
    (2, {"generator", "discriminator.local"}),
    (3, {"generator", "discriminator.local", "discriminator.global"}),
])
def test_one_step_of_each_stage_changes_only_what_it_trains(tmp_path, stage, trained):
    """The parser stage trains the parser alone; generator stages never touch the parser, and a
    discriminator changes only in stages whose losses use it."""
    recipe = recipes.load(write_recipe(tmp_path))
    trainer = Trainer(recipe, tmp_path / "run")
    spec, parts = recipe.stages[stage], trainer.parts
    trainer.enter_stage(stage)
    data = parts.stage_data(stage)
    batch = default_collate([data[i] for i in range(2)])
    before = {name: weights(trainer.modules[name]) for name in NETWORKS}
    values = parts.stages[stage].step(parts, spec, batch, step_generator(0, 1))
    assert {name for name in NETWORKS if changed(before[name], trainer.modules[name])} == trained
    discriminators = {n for n in trained if n.startswith("discriminator.")}
    expected = {"parser"} if spec.train.type == "parser" else {*spec.losses, "total"} | (
        {"discriminator", *discriminators} if discriminators else set())
    assert set(values) == expected  # one value per discriminator beside their sum
    if discriminators:
        assert float(values["discriminator"]) == pytest.approx(sum(float(values[n]) for n in discriminators))
    assert all(math.isfinite(float(v)) for v in values.values())


def test_a_stage_lr_holds_for_that_stage_only(tmp_path, monkeypatch):
    """``stages.N.lr`` replaces optim's rate for what the stage trains; the next stage without one
    goes back to optim's (set at every stage start, so a resumed run agrees)."""
    recipe = recipes.load(write_recipe(tmp_path, steps=1), ["stages.2.lr=3.0e-5", "stages.0.lr=0.5"])
    trainer = Trainer(recipe, tmp_path / "run")
    seen = []
    step = GeneratorStage.step

    def recording(self, parts, stage, batch, rng):
        seen.append((stage.name, parts.optimizers["generator"].param_groups[0]["lr"]))
        return step(self, parts, stage, batch, rng)

    monkeypatch.setattr(GeneratorStage, "step", recording)
    trainer.run()
    assert seen == [("reconstruction", 1e-4), ("local", 3e-5), ("global", 1e-4)]
    assert trainer.parts.optimizers["parser"].param_groups[0]["lr"] == 0.5


def test_channels_last_trains_the_same_weights_in_nhwc_memory(tmp_path):
    results = {}
    for channels_last in (True, False):
        recipe = recipes.load(write_recipe(tmp_path), [f"train.channels_last={str(channels_last).lower()}"])
        trainer = Trainer(recipe, tmp_path / f"run{channels_last}")
        conv = next(p for p in trainer.modules["generator"].parameters() if p.dim() == 4)
        assert conv.is_contiguous(memory_format=torch.channels_last) == channels_last
        parts = trainer.parts
        trainer.enter_stage(3)
        batch = default_collate([parts.datasets["train"][i] for i in range(2)])
        parts.stages[3].step(parts, recipe.stages[3], batch, step_generator(0, 1))
        results[channels_last] = weights(trainer.modules["generator"])
    assert all(torch.allclose(results[True][k], results[False][k], atol=1e-5) for k in results[True])


# ------------------------------------------------------------------------------ the run folder
def test_a_finished_run_folder_has_everything(tiny_run):
    """recipe.yaml, metrics.jsonl, a sample grid per stage, checkpoints, and the exported networks."""
    recipe = recipes.load(tiny_run / "recipe.yaml")
    assert (tiny_run / "recipe.yaml").read_text() == recipes.dump(recipe)
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    for index, stage in enumerate(recipe.stages):
        logged = [r for r in rows if r["stage"] == stage.name and "images_per_s" in r]
        assert [r["step"] for r in logged] == [1, 2]
        assert [r["global_step"] for r in logged] == [2 * index + 1, 2 * index + 2]
        for row in logged:
            names = ["parser"] if stage.train.type == "parser" else [*stage.losses, "total"]
            assert all(math.isfinite(row[name]) for name in names) and row["images_per_s"] > 0
        validation = [r for r in rows if r["stage"] == stage.name and "val_hole_l1" in r]
        if stage.train.type == "generator":
            assert len(validation) == 1 and validation[0]["step"] == 2
            assert 0 < validation[0]["val_hole_l1"] and 0 < validation[0]["val_hole_l1_input"] <= 1
        else:
            assert validation == []
    samples = sorted(p.name for p in (tiny_run / "samples").glob("*.png"))
    assert samples == [f"stage{i + 1}_{name}_step000002.png" for i, name in enumerate(STAGES)]
    last = json.loads((tiny_run / "checkpoints" / "last.json").read_text())
    assert (last["stage"], last["step"], last["global_step"]) == (3, 2, 8)
    checkpoint = load_file(str(tiny_run / "checkpoints" / last["weights"]))
    assert {n for n in NETWORKS if any(key.startswith(f"model.{n}.") for key in checkpoint)} == set(NETWORKS)
    assert {key.split(".")[1] for key in checkpoint if key.startswith("optim.")} == {
        "generator", "discriminator", "parser"}
    generator = load_file(str(tiny_run / "generator.safetensors"))
    assert all(torch.equal(v, checkpoint[f"model.generator.{k}"]) for k, v in generator.items())
    parser = load_file(str(tiny_run / "parser.safetensors"))
    assert all(torch.equal(v, checkpoint[f"model.parser.{k}"]) for k, v in parser.items())
    model = json.loads((tiny_run / "model.json").read_text())
    assert model["image_size"] == 32 and model["hole_fill"] == "noise" and model["recipe"] == "tiny"
    assert model["generator"]["type"] == "gfc_generator" and model["generator"]["bottleneck"] == 64


# ------------------------------------------------------------------------------ resume
def _global_step(last: Path) -> int:
    try:
        return json.loads(last.read_text())["global_step"]
    except FileNotFoundError:
        return -1


def test_a_killed_run_resumes_to_exactly_the_weights_of_an_uninterrupted_one(tmp_path):
    """The acceptance test of ``--resume``: run A goes straight through; run B is killed with SIGKILL
    in the third stage (mid-write, maybe) and resumed. Weights and optimiser state end bitwise equal."""
    steps, kill_at = 5, 12  # 20 steps; 12 is step 2 of the 'local' stage (discriminator state too)
    recipe = write_recipe(tmp_path, steps=steps, sample_every=5)
    run_a, run_b = tmp_path / "A", tmp_path / "B"
    a = spawn("-m", "gfc_kit", "run", str(recipe), "--output", str(run_a), log=tmp_path / "a.log")
    b = spawn("-m", "gfc_kit", "run", str(recipe), "--output", str(run_b), log=tmp_path / "b.log")
    last = run_b / "checkpoints" / "last.json"
    deadline = time.monotonic() + 120
    while b.poll() is None and _global_step(last) < kill_at and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(b.pid, signal.SIGKILL)
    b.wait()
    assert b.returncode == -signal.SIGKILL, "run B ended before it could be killed"
    assert kill_at <= _global_step(last) < 4 * steps
    resumed = spawn("-m", "gfc_kit", "run", str(recipe), "--output", str(run_b), "--resume", log=tmp_path / "b2.log")
    finish(resumed, tmp_path / "b2.log")
    finish(a, tmp_path / "a.log")

    for name in ("generator.safetensors", "parser.safetensors"):
        assert all_equal(load_file(str(run_a / name)), load_file(str(run_b / name))), name
    record_a = json.loads((run_a / "checkpoints" / "last.json").read_text())
    record_b = json.loads((run_b / "checkpoints" / "last.json").read_text())
    assert record_a == record_b  # stage, step, optimiser hyper-parameters, file name
    final_a = load_file(str(run_a / "checkpoints" / record_a["weights"]))
    final_b = load_file(str(run_b / "checkpoints" / record_b["weights"]))
    assert any(key.startswith("optim.discriminator.") for key in final_a)
    assert all_equal(final_a, final_b)
    assert logged(run_a) == logged(run_b)  # no row twice: rows after the checkpoint were dropped, then relogged


def logged(run: Path) -> list[dict]:
    """A run's metrics.jsonl rows without their timing."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "images_per_s"} for row in rows]


class Interrupted(Exception):
    pass


def augmented_faces(folder: Path) -> str:
    """12 face PNGs and a ``--set`` that trains on them with the paper's kind of augmentation."""
    folder.mkdir()
    faces = create("dataset", "synthetic_faces", image_size=40, length=12)
    for i in range(len(faces)):
        pixels = ((faces[i]["image"].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return f"data.train={{type: image_folder, root: {folder}, augment: {{shift: 0.05, rotation: 10.0, flip: true}}}}"


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_replays_the_augmentation_of_an_uninterrupted_run(tmp_path, fresh_plugins, workers):
    """Augmentation draws are a function of ``(seed, step)`` too, read in the main process or in
    loader workers: a run stopped right after a checkpoint and resumed ends bitwise equal. The
    stop comes from a plugin's ``gfc_checkpoint_saved`` hook, as an early-stopping callback's would."""
    recipe = recipes.load(write_recipe(tmp_path, steps=3), [augmented_faces(tmp_path / "faces"),
                                                           f"train.num_workers={workers}"])
    Trainer(recipe, tmp_path / "A").run()

    class StopAtStep7:
        @gfc_kit.hookimpl
        def gfc_checkpoint_saved(self, run, path):
            if path.name == "checkpoint-00000007.safetensors":
                raise Interrupted

    fresh_plugins.register(StopAtStep7(), "stop_at_7")
    with pytest.raises(Interrupted):
        Trainer(recipe, tmp_path / "B").run()
    fresh_plugins.unregister("stop_at_7")
    Trainer(recipe, tmp_path / "B").run(resume=True)
    for name in ("generator.safetensors", "checkpoints/checkpoint-00000012.safetensors"):
        assert all_equal(load_file(str(tmp_path / "A" / name)), load_file(str(tmp_path / "B" / name))), name


# ------------------------------------------------------------------------------ errors
def test_a_run_folder_with_checkpoints_needs_resume(tiny_run):
    recipe = recipes.load(tiny_run / "recipe.yaml")
    with pytest.raises(GfcError, match="already has checkpoints; continue it with --resume"):
        Trainer(recipe, tiny_run).run()


def test_resume_with_a_changed_recipe_is_refused(tiny_run):
    recipe = recipes.load(tiny_run / "recipe.yaml", ["optim.generator.lr=0.001"])
    with pytest.raises(GfcError, match="started with a different recipe"):
        Trainer(recipe, tiny_run).run(resume=True)


def test_resume_with_nothing_to_resume_is_an_error(tmp_path):
    recipe = recipes.load(write_recipe(tmp_path))
    with pytest.raises(GfcError, match="nothing to resume"):
        Trainer(recipe, tmp_path / "empty").run(resume=True)


def test_cli_run_errors_are_one_line_exit_2(tiny_run):
    result = CliRunner().invoke(cli, ["run", str(tiny_run / "recipe.yaml"), "--output", str(tiny_run)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith(f"error: {tiny_run}: this run folder already")


def nan_at_second_call(original):
    """``original`` (a loss method), returning NaN at its second call."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        value = original(*args, **kwargs)
        return value * float("nan") if len(calls) == 2 else value

    return wrapped


def test_a_nan_loss_stops_the_run_naming_stage_and_step_without_applying_it(tmp_path, monkeypatch):
    """The reconstruction loss turns NaN at its second step: NonFiniteLoss names stage and step, and
    the saved checkpoint holds the weights of the step before, not NaNs."""
    monkeypatch.setattr(losses.CharbonnierL1, "__call__", nan_at_second_call(losses.CharbonnierL1.__call__))
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLoss, match=r"stage reconstruction step 2: loss reconstruction, total is not finite"):
        Trainer(recipes.load(write_recipe(tmp_path)), run).run()
    saved = load_file(str(run / "checkpoints" / "checkpoint-nonfinite.safetensors"))
    before = load_file(str(run / "checkpoints" / "checkpoint-00000003.safetensors"))  # after stage 2 step 1
    assert all(torch.isfinite(v).all() for v in saved.values())
    assert all_equal(saved, before)
    last = json.loads((run / "checkpoints" / "last.json").read_text())
    assert (last["stage"], last["step"], last["weights"]) == (1, 1, "checkpoint-00000003.safetensors")  # resume point


def test_a_nan_discriminator_loss_stops_with_no_network_updated(tmp_path, monkeypatch):
    """The discriminators' loss is checked before their update: at a NaN nothing has changed in that
    step (the generator's update comes after), so the saved weights are the previous step's."""
    monkeypatch.setattr(losses.BCEAdversarial, "discriminator", nan_at_second_call(losses.BCEAdversarial.discriminator))
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLoss, match=r"stage local step 2: loss discriminator is not finite"):
        Trainer(recipes.load(write_recipe(tmp_path)), run).run()
    saved = load_file(str(run / "checkpoints" / "checkpoint-nonfinite.safetensors"))
    before = load_file(str(run / "checkpoints" / "checkpoint-00000005.safetensors"))  # after stage 3 step 1
    assert all_equal(saved, before)


# ------------------------------------------------------------------------------ smoke and DDP
def test_quickstart_smoke_runs_every_stage_with_a_sample_grid(tmp_path):
    """``gfc-kit run quickstart --smoke``: the real quickstart networks, two steps a stage."""
    out = tmp_path / "smoke"
    result = CliRunner().invoke(cli, ["run", "quickstart", "--smoke", "--output", str(out)])
    assert result.exit_code == 0, result.output
    names = [stage.name for stage in recipes.load("quickstart").stages]
    samples = sorted(p.name for p in (out / "samples").glob("*.png"))
    assert samples == [f"stage{i + 1}_{name}_step000002.png" for i, name in enumerate(names)]
    assert (out / "generator.safetensors").is_file() and (out / ".smoke").is_file()


DDP_LAUNCHER = """\
import sys
from safetensors.torch import save_file
from gfc_kit.commands import main
from gfc_kit.training.trainer import Trainer

run = Trainer.run

def run_and_keep_this_ranks_weights(self, resume=False):
    folder = run(self, resume)
    state = {f"{name}.{key}": value.detach().contiguous()
             for name, module in self.modules.items() for key, value in module.state_dict().items()}
    save_file(state, str(folder.parent / f"rank{self.rt.rank}.safetensors"))
    return folder

Trainer.run = run_and_keep_this_ranks_weights
sys.argv[0] = "gfc-kit"
main()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_with_two_cpu_processes_keeps_the_ranks_in_step(tmp_path):
    """``torchrun --nproc_per_node 2 … gfc-kit run`` on gloo: exit 0; rank 0 alone writes the run
    folder (one metrics row per step, images/s counted over both ranks); and at the end both ranks
    hold identical weights for every network (each rank saves its own copy beside the run, through
    a launcher that wraps ``Trainer.run`` and then calls the ``gfc-kit`` CLI as ``-m gfc_kit`` does)."""
    recipe = write_recipe(tmp_path, sample_every=2, checkpoint_every=2)
    launcher = tmp_path / "launch.py"
    launcher.write_text(DDP_LAUNCHER)
    run = tmp_path / "D"
    ddp = spawn("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(free_port()), str(launcher), "run", str(recipe), "--output", str(run),
                log=tmp_path / "ddp.log")
    finish(ddp, tmp_path / "ddp.log", timeout=150)
    rank0, rank1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1))
    assert {n for n in NETWORKS if any(key.startswith(f"{n}.") for key in rank0)} == set(NETWORKS)
    assert all_equal(rank0, rank1)
    generator = load_file(str(run / "generator.safetensors"))
    assert all(torch.equal(v, rank0[f"generator.{k}"]) for k, v in generator.items())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [(r["global_step"], r["images_per_s"]) for r in rows if "images_per_s" in r]
    assert [step for step, _ in logged] == list(range(1, 9))
    assert all(rate > 0 for _, rate in logged)
    assert len([r for r in rows if "val_hole_l1" in r]) == 3


# ------------------------------------------------------------------------------ completion
def test_completer_fills_a_batch_at_another_size_and_keeps_known_pixels(tiny_run):
    completer = ModelCompleter.from_run(tiny_run)
    image = torch.rand(2, 3, 48, 40, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mask = torch.zeros(2, 1, 48, 40)
    mask[0, :, 10:30, 8:24] = 1
    mask[1, :, 20:44, 20:36] = 1
    done = completer(image, mask)
    assert done.shape == image.shape and done.dtype == torch.float32
    known, hole = (mask == 0).expand_as(image), (mask == 1).expand_as(image)
    assert torch.equal(done[known], image[known])
    assert not torch.equal(done[hole], image[hole]) and done.abs().max() <= 1


def test_completer_from_a_checkpoint_matches_the_exported_generator(tiny_run):
    """The final checkpoint holds the generator that was exported, so both complete alike."""
    last = json.loads((tiny_run / "checkpoints" / "last.json").read_text())
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    from_run = ModelCompleter.from_run(tiny_run)(image, mask)
    from_checkpoint = ModelCompleter.from_checkpoint(tiny_run / "checkpoints" / last["weights"])(image, mask)
    assert torch.equal(from_run, from_checkpoint)


def synthetic_photo(folder: Path) -> Path:
    """A 178×218 (CelebA-sized) photo of a synthetic face, as a lossless PNG."""
    face = create("dataset", "synthetic_faces", image_size=128, length=1)[0]["image"]
    pixels = ((face.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "000001.png"
    Image.fromarray(pixels).resize((178, 218), Image.BICUBIC).save(path)
    return path


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as opened:
        return np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))


def test_completer_takes_pil_and_numpy_photos_and_returns_the_same_type_and_size(tiny_run, tmp_path):
    photo = Image.open(synthetic_photo(tmp_path)).convert("RGB")
    hole = np.zeros((218, 178), dtype=np.uint8)
    hole[80:120, 60:110] = 255
    completer = ModelCompleter.from_run(tiny_run)
    done = completer(photo, Image.fromarray(hole))
    assert isinstance(done, Image.Image) and done.size == photo.size
    as_array = completer(np.asarray(photo), hole)
    assert isinstance(as_array, np.ndarray) and as_array.shape == (218, 178, 3)
    assert np.array_equal(as_array, np.asarray(done))
    assert np.array_equal(as_array[hole == 0], np.asarray(photo)[hole == 0])


def complete(*args: str) -> object:
    return CliRunner().invoke(cli, ["complete", *args])


def test_complete_a_real_face_with_a_box_and_a_panel(tiny_run, shared_data, tmp_path):
    """A CelebA photo keeps its 178×218 size and every pixel outside the box; a panel is written."""
    face = shared_data / "faces" / "celeba" / "000001.jpg"
    if not face.is_file():
        pytest.skip(f"{face} not found")
    out = tmp_path / "out"
    result = complete("--run", str(tiny_run), "--input", str(face), "--box", "40,60,50,50", "--blend", "paste",
                      "--output", str(out), "--panel")
    assert result.exit_code == 0, result.output
    before, after = read_rgb(face), read_rgb(out / "000001.png")
    assert after.shape == before.shape == (218, 178, 3)
    box = np.zeros(before.shape[:2], dtype=bool)
    box[60:110, 40:90] = True
    assert np.array_equal(after[~box], before[~box])
    assert not np.array_equal(after[box], before[box])
    with Image.open(out / "000001_panel.png") as panel:
        assert panel.size == (3 * 178, 218)


@pytest.mark.parametrize("hole", ["region", "mask"])
def test_complete_changes_only_the_region_or_mask_hole(tiny_run, tmp_path, hole):
    """``--region O3`` and ``--mask FILE --mask-polarity black_hole`` (black = hole) mark the pixels
    that may change; all others are kept exactly."""
    photo = synthetic_photo(tmp_path / "in")
    if hole == "region":
        args = ["--region", "O3"]
        inside = region_hole(crop_face((178, 218), "auto"), "O3", (218, 178))
    else:
        inside = np.zeros((218, 178), dtype=bool)
        inside[100:150, 50:120] = True
        mask_file = tmp_path / "mask.png"
        Image.fromarray(np.where(inside, 0, 255).astype(np.uint8)).save(mask_file)
        args = ["--mask", str(mask_file), "--mask-polarity", "black_hole"]
    out = tmp_path / "out"
    result = complete("--run", str(tiny_run), "--input", str(photo), "--output", str(out), "--blend", "paste", *args)
    assert result.exit_code == 0, result.output
    before, after = read_rgb(photo), read_rgb(out / "000001.png")
    assert inside.any() and not inside.all()
    assert np.array_equal(after[~inside], before[~inside])
    assert not np.array_equal(after[inside], before[inside])


@pytest.mark.parametrize(("args", "message"), [
    (["--checkpoint", "CHECKPOINT", "--box", "40,60,50,50"], "give one of --run"),
    (["--box", "40,60,50,50", "--region", "O1"], "give exactly one hole"),
    (["--box", "150,200,50,50"], "must lie inside the 178×218 photo"),
])
def test_complete_input_problems_are_one_line_exit_2(tiny_run, tmp_path, args, message):
    photo = synthetic_photo(tmp_path / "in")
    last = json.loads((tiny_run / "checkpoints" / "last.json").read_text())
    args = [str(tiny_run / "checkpoints" / last["weights"]) if a == "CHECKPOINT" else a for a in args]
    result = complete("--run", str(tiny_run), "--input", str(photo), "--output", str(tmp_path / "out"), *args)
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and result.output.startswith("error: ") and message in result.output


def test_complete_without_a_model_uses_the_default_one(tmp_path):
    from gfc_kit.inference.model_folder import DEFAULT_MODEL

    photo = synthetic_photo(tmp_path / "in")
    result = complete("--input", str(photo), "--region", "O1", "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    by_name = complete("--model", DEFAULT_MODEL, "--input", str(photo), "--region", "O1", "--output",
                       str(tmp_path / "named"))
    assert by_name.exit_code == 0
    assert np.array_equal(read_rgb(tmp_path / "out" / "000001.png"), read_rgb(tmp_path / "named" / "000001.png"))


def test_models_registered_by_a_plugin_load_by_name(tiny_run, tmp_path, fresh_plugins):
    from gfc_kit import inference as completion

    class ShipsAModel:
        @gfc_kit.hookimpl
        def gfc_register(self, registry):
            registry.add_model("tiny_faces", tiny_run)

    fresh_plugins.register(ShipsAModel(), "tiny_models")
    assert completion.pretrained_models()["tiny_faces"] == tiny_run
    assert ModelCompleter.pretrained("tiny_faces").image_size == 32
    photo = synthetic_photo(tmp_path / "in")
    result = complete("--model", "tiny_faces", "--input", str(photo), "--region", "O3", "--output", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o" / photo.with_suffix(".png").name).size == Image.open(photo).size
    result = complete("--model", "nope", "--input", str(photo), "--region", "O3", "--output", str(tmp_path / "o"))
    assert result.exit_code == 2 and "unknown model 'nope'" in result.output
    listing = CliRunner().invoke(cli, ["models"]).output.splitlines()
    assert any(line.startswith("tiny_faces  32×32  faces (celeba_crop)  generator + parser, fp32 ") and "from tiny_models" in line
               for line in listing), listing


def test_a_run_without_a_parser_stage_exports_no_untrained_parser(tmp_path):
    recipe = recipes.load(write_recipe(tmp_path), ["stages=[{name: reconstruction, steps: 1, losses: [reconstruction]}]"])
    run = Trainer(recipe, tmp_path / "run").run()
    assert (run / "generator.safetensors").is_file() and not (run / "parser.safetensors").exists()
    assert "parser" not in json.loads((run / "model.json").read_text())


def test_export_packs_a_run_as_a_half_size_model_folder_that_completes_the_same(tiny_run, tmp_path):
    result = CliRunner().invoke(cli, ["export", str(tiny_run), "--output", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    exported = load_file(str(tmp_path / "model" / "generator.safetensors"))
    original = load_file(str(tiny_run / "generator.safetensors"))
    assert all(exported[k].dtype == torch.float16 for k in original if original[k].is_floating_point())
    assert (tmp_path / "model" / "parser.safetensors").is_file()
    size = (tmp_path / "model" / "generator.safetensors").stat().st_size
    assert size < 0.6 * (tiny_run / "generator.safetensors").stat().st_size
    image = create("dataset", "synthetic_faces", image_size=32, length=4)
    batch = torch.stack([image[i]["image"] for i in range(4)])
    mask = create("mask_sampler", "center", size=16)({"image": batch})
    full, half = ModelCompleter.from_run(tiny_run)(batch, mask), ModelCompleter.from_run(tmp_path / "model")(batch, mask)
    assert (full - half).abs().mean() < 1e-3


def test_weights_are_written_as_the_umask_says_not_0600(tiny_run, tmp_path):
    """safetensors creates files 0600; a run's and an export's weights follow the user's umask."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        assert CliRunner().invoke(cli, ["export", str(tiny_run), "--output", str(tmp_path / "m")]).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m" / "generator.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((tiny_run / "generator.safetensors").stat().st_mode) == 0o666 & ~old


def test_a_cosine_stage_ends_settled_and_resumes_on_the_same_rate(tmp_path):
    """``lr_decay: cosine`` is a function of the step: half a cosine from the stage's rate to 0."""
    recipe = recipes.load(write_recipe(tmp_path, steps=4), ["stages.1.lr_decay=cosine", "stages.1.lr=0.002"])
    trainer = Trainer(recipe, tmp_path / "run")
    stage, optimizers = recipe.stages[1], trainer.parts.optimizers
    rates = []
    for step in range(stage.steps):
        trainer.set_lr(1, step)
        rates.append(optimizers["generator"].param_groups[0]["lr"])
    assert rates[0] == pytest.approx(0.002) and rates == sorted(rates, reverse=True)
    assert rates[2] == pytest.approx(0.001) and 0 < rates[-1] < 0.0003
    trainer.enter_stage(2)  # the next stage is back on optim's constant rate
    assert optimizers["generator"].param_groups[0]["lr"] == pytest.approx(1e-4)


def test_a_checkpoint_keeps_the_fp16_loss_scaler_state(tmp_path):
    """Under fp16 the loss scale has grown or shrunk during the run: resuming must continue from
    it, not from the initial scale (GradScaler on the CPU stands in for CUDA's here)."""
    from gfc_kit.training import checkpoint

    module = torch.nn.Linear(2, 2)
    optimizer = torch.optim.Adam(module.parameters())
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaler.scale(torch.ones(()))  # the scale is made on first use
    scaler.update(new_scale=96.0)
    state = {"stage": 0, "step": 1, "global_step": 1}
    checkpoint.save(tmp_path, "00000001", {"m": module}, {"o": optimizer}, state, scalers={"o": scaler})
    fresh = torch.amp.GradScaler("cpu", init_scale=1024.0)
    checkpoint.load(tmp_path, {"m": torch.nn.Linear(2, 2)}, {"o": torch.optim.Adam(module.parameters())}, {"o": fresh})
    assert fresh.get_scale() == 96.0


PROGRESSIVE = ["image_size=64", "model.generator={type: timm_generator, encoder: resnet18, decoder_channels: [8, 8, 8, 8, 8]}",
               "stages.1.image_size=32", "stages.1.data={type: synthetic_faces, length: 16, seed: 3}"]


def test_a_stage_trains_at_its_own_size_on_its_own_data(tmp_path, monkeypatch):
    """Progressive resizing: the reconstruction stage reads its own faces at 32 px, the later
    stages data.train at the recipe's 64, and the one generator learns from both."""
    recipe = recipes.load(write_recipe(tmp_path), PROGRESSIVE)
    trainer = Trainer(recipe, tmp_path / "run")
    parts = trainer.parts
    assert len(parts.stage_data(1)) == 16 and parts.stage_data(1)[0]["image"].shape[-1] == 32
    assert parts.stage_data(2) is parts.datasets["train"] and parts.stage_data(0) is parts.datasets["parsing"]
    seen = []
    step = GeneratorStage.step
    monkeypatch.setattr(GeneratorStage, "step",
                        lambda self, parts, stage, batch, rng: seen.append((stage.name, batch["image"].shape[-1]))
                        or step(self, parts, stage, batch, rng))
    trainer.run(resume=False)
    assert seen == [("reconstruction", 32)] * 2 + [("local", 64)] * 2 + [("global", 64)] * 2
    assert (tmp_path / "run" / "generator.safetensors").is_file()


@pytest.mark.parametrize("overrides, message", [
    (["stages.2.image_size=32"], "stages.2.image_size: 32 is not the recipe's 64, but loss 'local_adversarial' reads"),
    (["stages.0.image_size=32"], "stages.0: a parser stage reads data.parsing at the recipe's image_size"),
])
def test_a_stage_size_that_cannot_work_is_a_recipe_error(tmp_path, overrides, message):
    with pytest.raises(GfcError, match=re.escape(message)):
        recipes.load(write_recipe(tmp_path), PROGRESSIVE[:2] + overrides)


def test_a_generator_that_cannot_take_a_stage_size_fails_before_training(tmp_path):
    """The paper's generator has a fully connected bottleneck sized for the recipe's image_size."""
    recipe = recipes.load(write_recipe(tmp_path), ["image_size=64", "stages.1.image_size=32"])
    with pytest.raises(GfcError, match=r"^stages\.1: the generator or masks\.train fail on its 1×3×32×32 images"):
        Trainer(recipe, tmp_path / "run")


def test_a_run_can_start_from_another_runs_generator(tiny_run, tmp_path):
    """``model.generator_weights``: a second phase (e.g. a long adversarial one) continues a
    trained generator; weights that do not fit are a one-line error naming the key."""
    recipe = recipes.load(write_recipe(tmp_path), [f"model.generator_weights={tiny_run / 'generator.safetensors'}",
                                                    "stages=[{name: local, steps: 1, losses: [reconstruction]}]"])
    trainer = Trainer(recipe, tmp_path / "run")
    trained = load_file(str(tiny_run / "generator.safetensors"))
    assert all(torch.equal(v, trained[k]) for k, v in trainer.parts.generator.state_dict().items())
    wider = recipes.load(write_recipe(tmp_path), [f"model.generator_weights={tiny_run / 'generator.safetensors'}",
                                                   "model.generator.width=0.25"])
    with pytest.raises(GfcError, match=r"^model\.generator_weights: .* does not fit model\.generator: "):
        Trainer(wider, tmp_path / "run2")


def test_kaiming_discriminators_learn_from_the_first_steps():
    """The released std-0.02 init (no BatchNorm) starts with logits near 0 on any input: the
    discriminator's loss sits at 2 ln 2. He init starts with logits that tell images apart."""
    images = torch.randn(8, 3, 32, 32)
    for init, spread in (("gaussian", 1e-3), ("kaiming", 1e-1)):
        torch.manual_seed(0)
        network = create("discriminator", "gfc_local_discriminator", patch_size=32, width=0.25, init=init)
        logits = network(images)
        assert (logits.std() > spread) == (init == "kaiming"), (init, float(logits.std()))


def test_model_json_says_which_sizes_the_generator_takes(tiny_run, tmp_path):
    assert json.loads((tiny_run / "model.json").read_text())["fully_convolutional"] is False  # the FC bottleneck
    recipe = recipes.load(write_recipe(tmp_path), PROGRESSIVE[:2] + ["stages=[{name: r, steps: 1, losses: [reconstruction]}]"])
    meta = json.loads((Trainer(recipe, tmp_path / "run").run(resume=False) / "model.json").read_text())
    assert meta["fully_convolutional"] is True and meta["size_multiple"] == 32
    completer = ModelCompleter.from_run(tmp_path / "run")
    image = torch.rand(1, 3, 48, 80) * 2 - 1
    mask = torch.zeros(1, 1, 48, 80)
    mask[..., 10:30, 20:50] = 1
    done = completer.complete_tensor(image, mask, own_size=True)  # padded to 64×96 and cut back
    assert done.shape == image.shape and torch.equal(done[mask.expand_as(done) == 0], image[mask.expand_as(image) == 0])
    with pytest.raises(GfcError, match="not fully convolutional"):
        ModelCompleter.from_run(tiny_run).complete_tensor(image, mask, own_size=True)


def test_model_json_records_the_face_layout_its_data_declares(tiny_run, tmp_path):
    """Face datasets declare the CelebA crop; a folder of photos declares none unless told, so a
    model trained on scenes never claims a face layout (and is completed around its holes)."""
    assert json.loads((tiny_run / "model.json").read_text())["face_layout"]["name"] == "celeba_crop"
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    for layout, expected in (("none", None), ("celeba_crop", "celeba_crop")):
        recipe = recipes.load(write_recipe(tmp_path), PROGRESSIVE[:2] + [
            f"data.train={{type: image_folder, root: {photos}, face_layout: {layout}}}", "model.parser=null",
            "losses={reconstruction: {type: charbonnier_l1}}", "masks.eval=[{type: center}]",
            "stages=[{name: r, steps: 1, losses: [reconstruction]}]"])
        meta = json.loads((Trainer(recipe, tmp_path / layout).run(resume=False) / "model.json").read_text())
        assert (meta["face_layout"] and meta["face_layout"]["name"]) == expected
    scenes = ModelCompleter.from_run(tmp_path / "none")
    assert scenes.layout is None
    image = torch.rand(1, 3, 96, 160) * 2 - 1
    mask = torch.zeros(1, 1, 96, 160)
    mask[..., 30:60, 40:90] = 1
    # a scene model sees a batch at its own size (no layout to fit): the same as asking for it
    assert torch.equal(scenes.complete_tensor(image, mask), scenes.complete_tensor(image, mask, own_size=True))
    faces = ModelCompleter.from_run(tmp_path / "celeba_crop")
    assert not torch.equal(faces.complete_tensor(image, mask), faces.complete_tensor(image, mask, own_size=True))


def test_a_model_without_a_face_layout_crops_around_the_holes(tiny_run, tmp_path):
    from gfc_kit.inference import PhotoCompleter

    completer = ModelCompleter.from_run(tiny_run)
    completer.layout, completer.size_multiple = None, 32  # as a fully convolutional scene model's folder says
    assert PhotoCompleter(completer).crop == "hole"
    with pytest.raises(GfcError, match="^--align: this model has no face layout"):
        PhotoCompleter(completer, aligner=lambda photo, layout: [])
    with pytest.raises(GfcError, match="^--crop celeba: this model has no face layout"):
        PhotoCompleter(completer, crop="celeba")
    completer.size_multiple = None
    assert PhotoCompleter(completer).crop == "resize"


def test_a_tiny_run_learns_to_fill_holes(tmp_path):
    """The whole loop, not only its parts: a reconstruction stage of 200 steps on the tiny recipe
    brings the validation hole error well below that of the noise the generator starts from
    (about 0.57 of it here), and it still falls between the two validations."""
    recipe = recipes.load(write_recipe(tmp_path, batch_size=8, log_every=200, sample_every=100, checkpoint_every=200),
                          ["stages=[{name: reconstruction, steps: 200, losses: [reconstruction]}]",
                           "optim.generator.lr=0.002", "train.report_images=0"])
    Trainer(recipe, tmp_path / "run").run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    middle, last = [(r["val_hole_l1"], r["val_hole_l1_input"]) for r in rows if r.get("split") == "val"]
    assert last[0] < middle[0] and last[0] < 0.65 * last[1], (middle, last)


def test_a_runs_callbacks_are_the_default_ones_less_those_turned_off(tmp_path, monkeypatch):
    """Callbacks on by default run unless the recipe turns them off (``NAME: false``) or
    GFC_KIT_BLOCK names them; a turned-off one receives no hook."""
    from gfc_kit.training.callbacks import run_callbacks

    recipe = recipes.load(write_recipe(tmp_path), ["callbacks.progress=false"])
    assert set(run_callbacks(recipe)) == {"metrics_log", "sample_grids"}
    monkeypatch.setenv("GFC_KIT_BLOCK", "sample_grids")
    assert set(run_callbacks(recipe)) == {"metrics_log"}
    Trainer(recipe, tmp_path / "run").run()
    assert (tmp_path / "run" / "metrics.jsonl").read_text() and not (tmp_path / "run" / "samples").exists()

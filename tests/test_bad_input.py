"""Bad input, family by family: each case must end in ``error: …`` lines that name the culprit (the
file, the recipe key or the option), exit status 2, and no traceback; run errors must come fast."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from PIL import Image

from gfc_kit.commands import cli
from gfc_kit.errors import GfcError

FAST_S = 30
"""A run whose input is bad must fail within this many seconds (before building the networks)."""

Case = Callable[[Path], tuple[list[str], list[str]]]
"""Given ``tmp_path``: the CLI arguments, and the strings one ``error:`` line must contain."""


def invoke(args: list[str]) -> tuple[Result, float]:
    """Run the CLI in-process; the result and the seconds it took."""
    start = time.perf_counter()
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result, time.perf_counter() - start


def assert_input_error(result: Result, culprits: list[str]) -> None:
    """Exit status 2, no traceback, and one ``error:`` line naming every culprit."""
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"escaped as {type(result.exception).__name__}: {result.exception}\n{output}")
    assert "Traceback" not in output, output
    assert result.exit_code == 2, f"exit {result.exit_code}:\n{output}"
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert not any(line.startswith("error:  ") for line in errors), f"a message spans lines:\n{output}"
    assert errors, f"no error: line in\n{output}"
    assert any(all(c in line for c in culprits) for line in errors), (
        f"no error: line names all of {culprits}:\n" + "\n".join(errors))


def face_png(path: Path, size: tuple[int, int] = (48, 48)) -> Path:
    """A small, real RGB image (a smooth gradient with noise), saved as ``path``."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    rgb = np.stack([x * 255 // size[0], y * 255 // size[1], (x + y) * 127 // sum(size)], -1)
    noisy = np.clip(rgb + rng.integers(-20, 20, rgb.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(noisy).save(path)
    return path


def folder(path: Path, *masks: str) -> Path:
    """``path``, made a folder (empty, or with a white-hole mask file of each name in ``masks``)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in masks:
        hole = np.zeros((48, 48), np.uint8)
        hole[10:20, 10:20] = 255
        Image.fromarray(hole).save(path / name)
    return path


def removed(path: Path) -> Path:
    """``path``, deleted."""
    path.unlink()
    return path


def write(path: Path, content: str | bytes) -> Path:
    """``path``, holding ``content``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# ------------------------------------------------------------------------------------------ recipes
def _cycle(tmp: Path) -> tuple[list[str], list[str]]:
    a = write(tmp / "a.yaml", "base: b.yaml\nname: a\n")
    write(tmp / "b.yaml", "base: a.yaml\nname: b\n")
    return ["recipe", "check", a], [str(tmp / "b.yaml"), "a.yaml", "cycle"]


def _tiny(tmp: Path) -> Path:
    from tiny_recipe import write_recipe

    return write_recipe(tmp)


def _tiny_plus(tmp: Path, extra: str) -> Path:
    path = _tiny(tmp)
    path.write_text(path.read_text() + extra)
    return path


RECIPE_CASES: dict[str, Case] = {
    "empty-file": lambda t: (["recipe", "check", write(t / "r.yaml", "")], [str(t / "r.yaml"), "is empty"]),
    "comments-only": lambda t: (["recipe", "check", write(t / "r.yaml", "# nothing\n")],
                                [str(t / "r.yaml"), "is empty"]),
    "yaml-list": lambda t: (["recipe", "check", write(t / "r.yaml", "- a\n- b\n")], [str(t / "r.yaml"), "mapping"]),
    "yaml-scalar": lambda t: (["recipe", "check", write(t / "r.yaml", "just words\n")], [str(t / "r.yaml")]),
    "invalid-yaml": lambda t: (["recipe", "check", write(t / "r.yaml", "name: [unclosed\nseed: 1\n")],
                               [str(t / "r.yaml"), "invalid YAML"]),
    "binary-file": lambda t: (["recipe", "check", write(t / "r.yaml", b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01garbage")],
                              [str(t / "r.yaml")]),
    "unknown-top-level-key": lambda t: (["recipe", "check", _tiny_plus(t, "colour: red\n")], ["colour", "unknown key"]),
    "unknown-top-level-key-set": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "colour=red"], ["colour"]),
    "unknown-nested-key": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "train.batchsize=4"],
                                     ["train.batchsize"]),
    "wrong-type": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "image_size=big"], ["image_size"]),
    "negative-steps": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "stages.0.steps=-1"], ["stages.0.steps"]),
    "unknown-component-type": lambda t: (
        ["recipe", "check", "gfc_cvpr17", "--set", "model.generator.type=gfc_generatr"],
        ["model.generator.type", "'gfc_generator'"]),
    "unknown-component-param": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "model.generator.widht=2"],
                                          ["model.generator.widht"]),
    "missing-base": lambda t: (["recipe", "check", write(t / "r.yaml", "base: nothere.yaml\nname: x\n")],
                               [str(t / "r.yaml"), "nothere.yaml"]),
    "base-cycle": _cycle,
    "set-without-equals": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "image_size"], ["--set image_size"]),
    "set-bad-yaml-value": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "seed=[1"], ["--set seed=[1"]),
    "set-into-a-value": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "seed.x=1"], ["--set seed.x"]),
    "set-list-out-of-range": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "stages.9.steps=1"], ["stages.9"]),
    "stage-undefined-loss": lambda t: (["recipe", "check", "gfc_cvpr17", "--set",
                                        "stages.1.losses=[reconstruction, perceptual]"],
                                       ["stages.1.losses.1", "perceptual"]),
    "adversarial-missing-discriminator": lambda t: (
        ["recipe", "check", "gfc_cvpr17", "--set", "losses.local_adversarial.discriminator=nope"],
        ["losses.local_adversarial.discriminator", "nope"]),
    "parsing-loss-without-parser": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "model.parser=null"],
                                              ["losses.parsing", "model.parser"]),
    "parser-stage-without-parsing-data": lambda t: (["recipe", "check", "gfc_cvpr17", "--set", "data.parsing=null"],
                                                    ["stages.0", "data.parsing"]),
    "check-a-folder": lambda t: (["recipe", "check", t], [str(t), "is a folder"]),
    "check-a-missing-file": lambda t: (["recipe", "check", t / "nope.yaml"], [str(t / "nope.yaml")]),
    "show-a-missing-file": lambda t: (["recipe", "show", t / "nope.yaml"], [str(t / "nope.yaml")]),
}


@pytest.mark.parametrize("case", RECIPE_CASES.values(), ids=RECIPE_CASES.keys())
def test_bad_recipes(case: Case, tmp_path: Path) -> None:
    args, culprits = case(tmp_path)
    result, _ = invoke(args)
    assert_input_error(result, culprits)


# ------------------------------------------------------------------------------------------ runs
def _paper(tmp: Path, *sets: str) -> list[str]:
    """``gfc-kit run gfc_cvpr17`` (the 137M-parameter paper model) into a temporary folder."""
    args = ["run", "gfc_cvpr17", "--output", tmp / "out"]
    for s in sets:
        args += ["--set", s]
    return args


def _corrupt_folder(tmp: Path, files: dict[str, bytes]) -> Path:
    """``tmp/faces`` holding ``files`` (name: bytes)."""
    for name, data in files.items():
        write(tmp / "faces" / name, data)
    return tmp / "faces"


def _existing_output_file(tmp: Path) -> tuple[list[str], list[str]]:
    target = write(tmp / "taken.txt", "a file\n")
    return ["run", _tiny(tmp), "--output", target], [str(target), "file"]


def _resume_nothing(tmp: Path) -> tuple[list[str], list[str]]:
    return ["run", _tiny(tmp), "--output", tmp / "fresh", "--resume"], [str(tmp / "fresh"), "resume"]


TEXT_JPG = b"this is not a JPEG at all\n"


def _half(path: Path) -> bytes:
    """The first half of a real image file's bytes: its header reads, its pixels do not."""
    data = path.read_bytes()
    return data[: len(data) // 2]


RUN_CASES: dict[str, Case] = {
    "train-root-missing": lambda t: (_paper(t, f"data.train.root={t / 'missing'}/"),
                                     ["data.train.root", str(t / "missing")]),
    "train-root-empty-folder": lambda t: (_paper(t, f"data.train.root={folder(t / 'empty')}"),
                                          ["data.train.root", str(t / "empty")]),
    "train-root-is-a-file": lambda t: (_paper(t, f"data.train.root={write(t / 'x.jpg', TEXT_JPG)}"),
                                       ["data.train.root", str(t / "x.jpg")]),
    "train-root-text-jpgs": lambda t: (
        _paper(t, f"data.train.root={_corrupt_folder(t, {'000001.jpg': TEXT_JPG, '000002.jpg': TEXT_JPG})}"),
        ["data.train", str(t / "faces")]),
    "train-root-zero-byte-pngs": lambda t: (
        _paper(t, f"data.train.root={_corrupt_folder(t, {'000001.png': b'', '000002.png': b''})}"),
        ["data.train", str(t / "faces")]),
    "train-root-text-and-zero-byte": lambda t: (
        _paper(t, f"data.train.root={_corrupt_folder(t, {'000001.jpg': TEXT_JPG, '000002.png': b''})}"),
        ["data.train", str(t / "faces")]),
    "train-root-truncated-pngs": lambda t: (
        _paper(t, f"data.train.root={_corrupt_folder(t, {'000001.png': _half(face_png(t / 'a.png'))})}"),
        ["data.train", str(t / "faces")]),
    "train-root-no-image-of-split": lambda t: (_paper(t, f"data.train.root={face_png(t / 'faces' / 'a.png').parent}"),
                                               ["data.train.root", str(t / "faces"), "split"]),
    "image-folder-missing": lambda t: (["run", _tiny(t), "--output", t / "out", "--set",
                                        f"data.train={{type: image_folder, root: {t / 'nope'}}}"],
                                       ["data.train.root", str(t / "nope")]),
    "val-root-missing": lambda t: (["run", _tiny(t), "--output", t / "out", "--set",
                                    f"data.val={{type: image_folder, root: {t / 'nope'}}}"],
                                   ["data.val.root", str(t / "nope")]),
    "device-nonsense": lambda t: (_paper(t, "train.device=nonsense"), ["train.device", "nonsense"]),
    "precision-fp16-on-cpu": lambda t: (_paper(t, "train.device=cpu", "train.precision=fp16"), ["train.precision"]),
    "precision-unknown": lambda t: (_paper(t, "train.precision=fp8"), ["train.precision"]),
    "output-is-a-file": _existing_output_file,
    "resume-nothing": _resume_nothing,
    "device-cuda-without-cuda": lambda t: (_paper(t, "train.device=cuda"), ["train.device", "CUDA"]),
}
NEEDS_NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")


@pytest.mark.parametrize("case", [pytest.param(case, id=name, marks=[NEEDS_NO_CUDA] if "cuda" in name else [])
                                  for name, case in RUN_CASES.items()])
def test_bad_runs_fail_fast(case: Case, tmp_path: Path) -> None:
    args, culprits = case(tmp_path)
    result, seconds = invoke(args)
    assert_input_error(result, culprits)
    assert seconds < FAST_S, f"took {seconds:.1f} s to report bad input"


# ------------------------------------------------------------------------------------------ complete
@pytest.fixture
def model_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A copy of the finished tiny run, free to break."""
    return Path(shutil.copytree(tiny_run, tmp_path / "model"))


def _complete(run: Path, tmp: Path, image: Path, *hole: str) -> list[str]:
    return ["complete", "--run", run, "--input", image, "--output", tmp / "done", *(hole or ("--box", "8,8,16,16"))]


def _truncated_png(tmp: Path) -> Path:
    return write(tmp / "half.png", _half(face_png(tmp / "whole.png")))


def _good_and_bad(path: Path) -> Path:
    """A folder with a good photo ``a.png`` and a text file ``b.jpg``."""
    face_png(path / "a.png")
    write(path / "b.jpg", TEXT_JPG)
    return path


def _mask(tmp: Path, value: int, name: str = "mask.png") -> Path:
    path = tmp / name
    Image.new("L", (48, 48), value).save(path)
    return path


COMPLETE_CASES: dict[str, Callable[[Path, Path], tuple[list[str], list[str]]]] = {
    "input-text-as-jpg": lambda r, t: (_complete(r, t, write(t / "f.jpg", TEXT_JPG)), [str(t / "f.jpg")]),
    "input-zero-byte": lambda r, t: (_complete(r, t, write(t / "f.png", b"")), [str(t / "f.png")]),
    "input-truncated-png": lambda r, t: (_complete(r, t, _truncated_png(t)), [str(t / "half.png")]),
    "input-missing": lambda r, t: (_complete(r, t, t / "nope.png"), ["--input", str(t / "nope.png")]),
    "input-empty-folder": lambda r, t: (_complete(r, t, folder(t / "in")), [str(t / "in")]),
    "input-folder-with-a-corrupt-image": lambda r, t: (
        _complete(r, t, _good_and_bad(t / "in")), [str(t / "in" / "b.jpg")]),
    "mask-corrupt": lambda r, t: (_complete(r, t, face_png(t / "f.png"), "--mask", write(t / "m.png", TEXT_JPG)),
                                  ["--mask", str(t / "m.png")]),
    "mask-missing": lambda r, t: (_complete(r, t, face_png(t / "f.png"), "--mask", t / "nope.png"),
                                  ["--mask", str(t / "nope.png")]),
    "mask-all-black": lambda r, t: (_complete(r, t, face_png(t / "f.png"), "--mask", _mask(t, 0)),
                                    ["--mask", str(t / "mask.png"), "no hole"]),
    "mask-all-white-black-hole": lambda r, t: (
        _complete(r, t, face_png(t / "f.png"), "--mask", _mask(t, 255), "--mask-polarity", "black_hole"),
        ["--mask", str(t / "mask.png"), "no hole"]),
    "box-outside-the-photo": lambda r, t: (_complete(r, t, face_png(t / "f.png"), "--box", "40,40,20,20"), ["--box"]),
    "box-three-numbers": lambda r, t: (_complete(r, t, face_png(t / "f.png"), "--box", "1,2,3"), ["--box 1,2,3"]),
    "box-not-numbers": lambda r, t: (_complete(r, t, face_png(t / "f.png"), "--box", "a,b,c,d"), ["--box a,b,c,d"]),
    "box-zero-width": lambda r, t: (_complete(r, t, face_png(t / "f.png"), "--box", "4,4,0,8"), ["--box 4,4,0,8"]),
    "two-holes": lambda r, t: (_complete(r, t, face_png(t / "f.png"), "--box", "8,8,8,8", "--region", "O1"),
                               ["--box", "--region"]),
    "no-hole": lambda r, t: (["complete", "--run", r, "--input", face_png(t / "f.png"), "--output", t / "o"],
                             ["--box"]),
    "checkpoint-and-model-options": lambda r, t: (
        ["complete", "--checkpoint", t / "c.safetensors", "--model", "gfc_celeba_cpu", "--input",
         face_png(t / "f.png"), "--box", "8,8,8,8"], ["--run", "--model", "not several"]),
    "run-and-model-options": lambda r, t: (_complete(r, t, face_png(t / "f.png")) + ["--model", "gfc_celeba_cpu"],
                                           ["--run", "--model"]),
    "run-without-model-json": lambda r, t: (_complete(folder(t / "run"), t, face_png(t / "f.png")),
                                            [str(t / "run"), "model.json"]),
    "run-missing": lambda r, t: (_complete(t / "norun", t, face_png(t / "f.png")), [str(t / "norun")]),
    "checkpoint-random-text": lambda r, t: (
        ["complete", "--checkpoint", write(t / "c.safetensors", "hello\n"), "--input", face_png(t / "f.png"),
         "--box", "8,8,8,8", "--output", t / "o"], [str(t / "c.safetensors")]),
    "checkpoint-random-text-in-a-run": lambda r, t: (
        ["complete", "--checkpoint", write(r / "checkpoints" / "checkpoint-x.safetensors", "hello\n"),
         "--input", face_png(t / "f.png"), "--box", "8,8,8,8", "--output", t / "o"],
        [str(r / "checkpoints" / "checkpoint-x.safetensors")]),
    "output-is-a-file": lambda r, t: (["complete", "--run", r, "--input", face_png(t / "f.png"), "--box", "8,8,8,8",
                                       "--output", write(t / "taken.txt", "x")], ["--output", str(t / "taken.txt")]),
    "blend-unknown": lambda r, t: (_complete(r, t, face_png(t / "f.png")) + ["--blend", "smudge"],
                                   ["--blend smudge", "unknown blender"]),
    "blend-bad-option": lambda r, t: (_complete(r, t, face_png(t / "f.png")) + ["--blend", "feather:width=0"],
                                      ["--blend feather:width=0", "width"]),
    "align-not-installed": lambda r, t: (_complete(r, t, face_png(t / "f.png")) + ["--align", "dlib"],
                                         ["--align dlib", "gfc-align"]),
    "mask-folder-without-this-photo": lambda r, t: (
        _complete(r, t, face_png(t / "f.png"), "--mask", folder(t / "masks", "other.png")),
        [str(t / "f.png"), "no mask named f.*", str(t / "masks")]),
    "mask-folder-with-two-for-one-photo": lambda r, t: (
        _complete(r, t, face_png(t / "f.png"), "--mask", folder(t / "masks", "f.png", "f.jpg")),
        [str(t / "f.png"), "several masks"]),
    "hole-outside-the-crop": lambda r, t: (
        _complete(r, t, face_png(t / "f.png", (96, 48)), "--box", "0,10,10,10"), ["reaches outside", "--crop"]),
}


@pytest.mark.parametrize("case", COMPLETE_CASES.values(), ids=COMPLETE_CASES.keys())
def test_bad_complete_inputs(case: Callable, model_copy: Path, tmp_path: Path) -> None:
    args, culprits = case(model_copy, tmp_path)
    result, _ = invoke(args)
    assert_input_error(result, culprits)


def test_complete_works_on_the_good_input(model_copy: Path, tmp_path: Path) -> None:
    """The control for the cases above: the same call with nothing wrong completes the photo."""
    photo = face_png(tmp_path / "f.png")
    result, _ = invoke(_complete(model_copy, tmp_path, photo, "--mask", _mask(tmp_path, 255)))
    assert result.exit_code == 0, result.output
    done = np.asarray(Image.open(tmp_path / "done" / "f.png"))
    assert done.shape == (48, 48, 3)


# ------------------------------------------------------------------------------------------ model folders
def _edit_model_json(run: Path, edit: Callable[[dict], object]) -> Path:
    meta = json.loads((run / "model.json").read_text())
    edit(meta)
    (run / "model.json").write_text(json.dumps(meta))
    return run


MODEL_CASES: dict[str, Callable[[Path, Path], tuple[list[str], list[str]]]] = {
    "model-json-invalid": lambda r, t: (_complete(write(r / "model.json", "{oops").parent, t, face_png(t / "f.png")),
                                        [str(r / "model.json"), "JSON"]),
    "model-json-without-generator": lambda r, t: (
        _complete(_edit_model_json(r, lambda m: m.pop("generator")), t, face_png(t / "f.png")),
        [str(r / "model.json"), "generator"]),
    "model-json-a-list": lambda r, t: (_complete(write(r / "model.json", "[1, 2]").parent, t, face_png(t / "f.png")),
                                       [str(r / "model.json")]),
    "model-json-unknown-generator": lambda r, t: (
        _complete(_edit_model_json(r, lambda m: m["generator"].update(type="gfc_generatr")), t, face_png(t / "f.png")),
        [str(r / "model.json"), "gfc_generator"]),
    "model-json-bad-generator-param": lambda r, t: (
        _complete(_edit_model_json(r, lambda m: m["generator"].update(width="wide")), t, face_png(t / "f.png")),
        [str(r / "model.json"), "width"]),
    "generator-weights-missing": lambda r, t: (
        _complete(removed(r / "generator.safetensors").parent, t, face_png(t / "f.png")),
        [str(r / "generator.safetensors")]),
    "generator-weights-zero-bytes": lambda r, t: (
        _complete(write(r / "generator.safetensors", b"").parent, t, face_png(t / "f.png")),
        [str(r / "generator.safetensors")]),
    "generator-weights-random-bytes": lambda r, t: (
        _complete(write(r / "generator.safetensors", np.random.default_rng(1).bytes(4096)).parent, t,
                  face_png(t / "f.png")),
        [str(r / "generator.safetensors")]),
    "generator-weights-another-shape": lambda r, t: (
        _complete(_edit_model_json(r, lambda m: m["generator"].update(width=0.25)), t, face_png(t / "f.png")),
        [str(r / "generator.safetensors"), "do not fit"]),
    "export-without-model-json": lambda r, t: (["export", folder(t / "empty"), "--output", t / "x"],
                                               [str(t / "empty"), "model.json"]),
    "export-weights-missing": lambda r, t: (
        ["export", removed(r / "generator.safetensors").parent, "--output", t / "x"],
        [str(r / "generator.safetensors")]),
    "export-output-is-a-file": lambda r, t: (["export", r, "--output", write(t / "taken.txt", "x")],
                                             ["--output", str(t / "taken.txt")]),
    "model-name-unknown": lambda r, t: (["complete", "--model", "nope", "--input", face_png(t / "f.png"),
                                         "--box", "8,8,8,8", "--output", t / "o"], ["--model", "nope"]),
}


@pytest.mark.parametrize("case", MODEL_CASES.values(), ids=MODEL_CASES.keys())
def test_bad_model_folders(case: Callable, model_copy: Path, tmp_path: Path) -> None:
    args, culprits = case(model_copy, tmp_path)
    result, _ = invoke(args)
    assert_input_error(result, culprits)


# ------------------------------------------------------------------------------------------ resume
def _edit_last(run: Path, edit: Callable[[dict], object]) -> Path:
    last = run / "checkpoints" / "last.json"
    record = json.loads(last.read_text())
    edit(record)
    last.write_text(json.dumps(record))
    return last


RESUME_CASES: dict[str, Callable[[Path], list[str]]] = {
    "last-json-corrupt": lambda r: [str(write(r / "checkpoints" / "last.json", "{not json"))],
    "last-json-a-list": lambda r: [str(write(r / "checkpoints" / "last.json", "[]"))],
    "last-json-without-weights": lambda r: [str(_edit_last(r, lambda x: x.pop("weights")))],
    "last-json-without-optimizers": lambda r: [str(_edit_last(r, lambda x: x.pop("optimizers")))],
    "last-json-without-stage": lambda r: [str(_edit_last(r, lambda x: x.pop("stage")))],
    "last-json-stage-out-of-range": lambda r: [str(_edit_last(r, lambda x: x.update(stage=9)))],
    "last-json-names-a-missing-file": lambda r: [
        str(_edit_last(r, lambda x: x.update(weights="gone.safetensors")).parent / "gone.safetensors")],
    "checkpoint-random-bytes": lambda r: [
        str(write(r / "checkpoints" / json.loads((r / "checkpoints" / "last.json").read_text())["weights"],
                  b"\x00garbage" * 64))],
}


@pytest.mark.parametrize("case", RESUME_CASES.values(), ids=RESUME_CASES.keys())
def test_bad_checkpoints_on_resume(case: Callable, model_copy: Path, tiny_run: Path) -> None:
    culprits = case(model_copy)
    recipe = tiny_run.parent / "tiny.yaml"  # the recipe the run was trained with: resuming checks it
    result, seconds = invoke(["run", recipe, "--output", model_copy, "--resume"])
    assert_input_error(result, culprits)
    assert seconds < FAST_S


# ------------------------------------------------------------------------------------------ Python API
@pytest.mark.parametrize("mask", ["bool", "float01", "uint8_01", "uint8_255", "pil"])
def test_completer_masks_of_every_form(mask: str, tiny_run: Path) -> None:
    from gfc_kit import ModelCompleter

    completer = ModelCompleter.from_run(tiny_run)
    photo = Image.open(face_png(Path(tiny_run.parent / "api.png"))).convert("RGB")
    hole = np.zeros((48, 48), dtype=bool)
    hole[10:26, 12:30] = True
    given = {"bool": hole, "float01": hole.astype(np.float32), "uint8_01": hole.astype(np.uint8),
             "uint8_255": hole.astype(np.uint8) * 255, "pil": Image.fromarray(hole.astype(np.uint8) * 255)}[mask]
    done = np.asarray(completer(photo, given))
    before = np.asarray(photo)
    assert done.shape == before.shape
    assert (done[~hole] == before[~hole]).all(), "a known pixel changed"
    assert (done[hole] != before[hole]).any(), "the hole was not filled"


@pytest.mark.parametrize("mask", [np.zeros((48, 48), np.uint8), np.zeros((48, 48), bool),
                                  np.zeros((48, 48), np.float32), Image.new("L", (48, 48), 0)],
                         ids=["uint8", "bool", "float", "pil"])
def test_completer_empty_mask_is_an_error(mask: object, tiny_run: Path) -> None:
    from gfc_kit import ModelCompleter

    photo = Image.open(face_png(Path(tiny_run.parent / "api.png"))).convert("RGB")
    with pytest.raises(GfcError, match="mask"):
        ModelCompleter.from_run(tiny_run)(photo, mask)


# ------------------------------------------------------------------------------------------ partly corrupt data
def test_training_skips_and_counts_corrupt_images(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two corrupt files among six good ones: the run trains (2 steps) and says 2 of 8 were left out."""
    folder = tmp_path / "faces"
    for i in range(6):
        face_png(folder / f"{i}.png", (40, 40))
    write(folder / "bad.jpg", TEXT_JPG)
    write(folder / "empty.png", b"")
    stage = "[{name: reconstruction, steps: 2, losses: [reconstruction]}]"
    args = ["run", _tiny(tmp_path), "--output", tmp_path / "out",
            "--set", f"data.train={{type: image_folder, root: {folder}}}", "--set", f"stages={stage}",
            "--set", "data.val=null", "--set", "train.report_images=0"]
    with caplog.at_level(logging.WARNING, logger="gfc_kit"):
        result, _ = invoke(args)
    assert result.exit_code == 0, result.output
    assert "left out 2 unreadable file(s) of 8" in caplog.text
    assert (tmp_path / "out" / "generator.safetensors").is_file()


def test_subprocess_error_is_one_line(tmp_path: Path) -> None:
    """The installed entry point, not only the in-process one, prints the one line and exits 2."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "GFC_KIT_DISABLE_PLUGINS": "1"}
    path = write(tmp_path / "r.yaml", b"\xff\xfe\x00binary")
    done = subprocess.run([sys.executable, "-m", "gfc_kit", "recipe", "check", str(path)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [line for line in done.stderr.strip().splitlines()
                                               if line.startswith("error:")]
    assert str(path) in done.stderr



@pytest.mark.parametrize("output", ["folder", "preview.txt", "file.png/preview.png"])
def test_recipe_preview_output_that_is_not_a_picture_file_is_one_line(tmp_path, output):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.png").write_bytes(b"x")
    result, _ = invoke(["recipe", "preview", "quickstart", "--output", tmp_path / output])
    assert_input_error(result, ["--output", str(tmp_path / output)])


@pytest.mark.parametrize("value, disabled", [("1", True), ("True", True), ("on", True), ("0", False),
                                             ("false", False), ("", False)])
def test_disable_plugins_reads_the_usual_spellings(value, disabled):
    from gfc_kit.plugins import plugins_disabled

    assert plugins_disabled({"GFC_KIT_DISABLE_PLUGINS": value}) is disabled


def test_an_odd_disable_plugins_value_is_one_line_not_ignored():
    import os
    import subprocess
    import sys

    env = {**os.environ, "GFC_KIT_DISABLE_PLUGINS": "maybe"}
    done = subprocess.run([sys.executable, "-m", "gfc_kit", "models"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == ["error: GFC_KIT_DISABLE_PLUGINS='maybe': use 1 to load only the "
                                                "built-ins, or 0 (or leave it unset) to load installed plugins"]


def _photo(tmp_path: Path, size: tuple[int, int] = (64, 64), hole: bool | None = None) -> tuple[Path, Path]:
    """A photo of ``size`` and a mask: a box hole, or all hole (``True``)."""
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    Image.fromarray(np.full((size[1], size[0], 3), 120, np.uint8)).save(photo)
    holes = np.zeros((size[1], size[0]), np.uint8)
    holes[size[1] // 4:size[1] // 2 + 1, size[0] // 4:size[0] // 2 + 1] = 255
    Image.fromarray(np.full_like(holes, 255) if hole else holes).save(mask)
    return photo, mask


@pytest.mark.parametrize("option, value, culprits", [
    ("--blend", "feather:width=", ["--blend", "'width='", "no value"]),
    ("--blend", ":width=3", ["--blend", "needs a component name"]),
    ("--refine", "residual:strength", ["--refine", "'strength'", "not key=value"]),
    ("--refine", "residual:strength=2,,band=1", ["--refine", "not key=value"]),
])
def test_malformed_component_specs_are_one_line(tmp_path, option, value, culprits):
    photo, mask = _photo(tmp_path)
    result, _ = invoke(["complete", "--model", "gfc_celeba_cpu", "--input", photo, "--mask", mask, option, value,
                        "--output", tmp_path / "out"])
    assert_input_error(result, culprits)


def test_a_data_folder_that_does_not_exist_is_named_as_a_folder(tmp_path):
    result, _ = invoke(["evaluate", "--model", "gfc_celeba_cpu", "--data", tmp_path / "no_such" / "photos",
                        "--output", tmp_path / "report"])
    assert_input_error(result, ["--data", str(tmp_path / "no_such" / "photos"), "no such folder"])


@pytest.mark.parametrize("size, whole, culprit", [((1, 1), True, "1×1 px"), ((5, 40), False, "5×40 px")])
def test_degenerate_photos_are_one_line(tmp_path, size, whole, culprit):
    photo, mask = _photo(tmp_path, size, whole)
    result, _ = invoke(["complete", "--model", "gfc_celeba_cpu", "--input", photo, "--mask", mask,
                        "--output", tmp_path / "out"])
    assert_input_error(result, ["photo.png", culprit])


OUTPUT_UNDER_A_FILE = {
    "run": lambda t, p, m: ["run", "quickstart", "--smoke", "--output", t / "a_file" / "run"],
    "complete": lambda t, p, m: ["complete", "--model", "gfc_celeba_cpu", "--input", p, "--mask", m,
                                 "--output", t / "a_file" / "out"],
    "evaluate": lambda t, p, m: ["evaluate", "--model", "gfc_celeba_cpu", "--data", "synthetic_faces:length=2",
                                 "--output", t / "a_file" / "report"],
    "export": lambda t, p, m: ["export", "--model", "gfc_celeba_cpu", "--output", t / "a_file" / "model"],
    "export_onnx": lambda t, p, m: ["export", "--model", "gfc_celeba_cpu", "--format", "onnx",
                                    "--output", t / "a_file" / "m.onnx"],
    "recipe_preview": lambda t, p, m: ["recipe", "preview", "quickstart", "--output", t / "a_file" / "p.png"],
}


@pytest.mark.parametrize("command", OUTPUT_UNDER_A_FILE.values(), ids=OUTPUT_UNDER_A_FILE.keys())
def test_an_output_under_a_file_is_one_line_before_any_work(tmp_path, command):
    (tmp_path / "a_file").write_text("not a folder")
    photo, mask = _photo(tmp_path)
    result, seconds = invoke(command(tmp_path, photo, mask))
    assert_input_error(result, ["--output", "a_file"])
    assert seconds < FAST_S


def test_an_output_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "report").write_text("a file")
    result, _ = invoke(["evaluate", "--model", "gfc_celeba_cpu", "--data", "synthetic_faces:length=2",
                        "--output", tmp_path / "report"])
    assert_input_error(result, ["--output", "is a file, not a folder"])


@pytest.mark.parametrize("change, culprit", [
    ({"hole_fill": "bogus"}, "hole_fill"), ({"image_size": 0}, "image_size"), ({"max_side": "big"}, "max_side"),
    ({"face_layout": {"name": "x", "points": [[1, 2]]}}, "5 (x, y) points"), ({"face_layout": "celeba"}, "face_layout"),
])
def test_invalid_values_in_a_model_json_name_the_file_and_key(tmp_path, change, culprit):
    from gfc_kit.inference import pretrained_models

    folder = tmp_path / "model"
    shutil.copytree(pretrained_models()["gfc_celeba_cpu"], folder)
    meta = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, **change}))
    photo, mask = _photo(tmp_path)
    result, _ = invoke(["complete", "--run", folder, "--input", photo, "--mask", mask, "--output", tmp_path / "out"])
    assert_input_error(result, [str(folder / "model.json"), culprit])


def _resnet_weights(path: Path, encoder: str) -> Path:
    import timm
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in timm.create_model(encoder).state_dict().items()}, str(path))
    return path


@pytest.mark.parametrize("weights, culprit", [
    (lambda t: write(t / "corrupt.safetensors", b"garbage" * 10), "not a readable safetensors file"),
    (lambda t: write(t / "photo.pth", b"\x89PNG not weights"), "not a readable weights file"),
    (lambda t: _resnet_weights(t / "r34.safetensors", "resnet34"), "not weights of resnet18"),
    (lambda t: _resnet_weights(t / "mnv3.safetensors", "mobilenetv3_small_050"), "not weights of resnet18"),
])
def test_corrupt_or_foreign_encoder_weights_are_refused_before_training(tmp_path, weights, culprit):
    path = weights(tmp_path)
    result, seconds = invoke(["run", "quickstart", "--smoke", "--output", tmp_path / "run", "--set",
                              f"model.generator={{type: timm_generator, encoder: resnet18, weights: {path}}}"])
    assert_input_error(result, [str(path), culprit])
    assert seconds < FAST_S and not (tmp_path / "run" / "checkpoints").exists()


# ------------------------------------------------------------------------------------------ issue #20's classes
# One case or more per class of bad input the issue names, each a single ``error:`` line naming the culprit.

def assert_one_error(result: Result, culprits: list[str]) -> None:
    """:func:`assert_input_error`, and that the ``error:`` line is the only one."""
    assert_input_error(result, culprits)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, "more than one error: line:\n" + "\n".join(errors)


def assert_one_error_from(done: subprocess.CompletedProcess[str], culprits: list[str]) -> None:
    """As :func:`assert_one_error`, for a command run in its own process."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(errors) == 1 and all(c in errors[0] for c in culprits), done.stderr


def gfc_kit_process(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m gfc_kit ARGS`` in a fresh process (plugins and environment read as a user's
    shell would), with ``env`` added; ``GFC_KIT_DISABLE_PLUGINS`` is unset unless ``env`` sets it."""
    environ = {k: v for k, v in os.environ.items() if k != "GFC_KIT_DISABLE_PLUGINS"}
    return subprocess.run([sys.executable, "-m", "gfc_kit", *map(str, args)], capture_output=True, text=True,
                          env={**environ, **env}, timeout=300)


@pytest.fixture
def read_only(tmp_path: Path):
    """A folder this process may not write into. Skipped where the process may write anywhere
    (root, as CI runs): there the same commands are covered by the unwritable outputs that hold
    for root too (a path under a file, a file where a folder is needed)."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").touch()
    except PermissionError:
        yield folder
        folder.chmod(0o755)  # so the temporary folder can be removed
        return
    pytest.skip("this process may write anywhere (root): a read-only folder cannot be tested")


OUTPUT_IN_A_READ_ONLY_FOLDER = {
    "run": lambda r, p, m: ["run", "quickstart", "--smoke", "--output", r / "run"],
    "run_into_it": lambda r, p, m: ["run", "quickstart", "--smoke", "--output", r],
    "complete": lambda r, p, m: ["complete", "--model", "gfc_celeba_cpu", "--input", p, "--mask", m,
                                 "--output", r / "out"],
    "evaluate": lambda r, p, m: ["evaluate", "--model", "gfc_celeba_cpu", "--data", "synthetic_faces:length=2",
                                 "--output", r / "report"],
    "export": lambda r, p, m: ["export", "--model", "gfc_celeba_cpu", "--output", r / "model"],
    "export_onnx": lambda r, p, m: ["export", "--model", "gfc_celeba_cpu", "--format", "onnx",
                                    "--output", r / "m.onnx"],
    "recipe_preview": lambda r, p, m: ["recipe", "preview", "quickstart", "--output", r / "p.png"],
}


@pytest.mark.parametrize("command", [pytest.param(c, id=name) for name, c in OUTPUT_IN_A_READ_ONLY_FOLDER.items()])
def test_an_output_in_a_read_only_folder_is_one_line_before_any_work(read_only, tmp_path, command):
    photo, mask = _photo(tmp_path)
    result, seconds = invoke(command(read_only, photo, mask))
    assert_one_error(result, ["--output", str(read_only)])
    assert seconds < FAST_S


@pytest.mark.parametrize("weights, culprit", [
    (lambda t: write(t / "corrupt.safetensors", b"garbage" * 10), "not a readable safetensors file"),
    (lambda t: _resnet_weights(t / "r34.safetensors", "resnet34"),  # more tensors than resnet18 has
     'does not fit the resnet18 encoder: Unexpected key(s) in state_dict: "layer1.2.'),
    (lambda t: _resnet_weights(t / "mnv3.safetensors", "mobilenetv3_small_050"),
     "does not fit the resnet18 encoder: Missing key(s) in state_dict: "),
])
def test_corrupt_or_foreign_smp_encoder_weights_are_one_short_line_before_training(tmp_path, weights, culprit):
    """smp loads an encoder strictly; the line names the first tensor that does not fit, not hundreds."""
    path = weights(tmp_path)
    result, seconds = invoke(["run", "quickstart", "--smoke", "--output", tmp_path / "run", "--set",
                              f"model.generator={{type: smp_generator, encoder: resnet18, weights: {path}}}"])
    assert_one_error(result, ["model.generator.weights", str(path), culprit])
    assert len(next(line for line in result.output.splitlines() if line.startswith("error:"))) < 300
    assert seconds < FAST_S and not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("args, culprits", [
    pytest.param(["--masks", "center:size=[0.5"], ["--masks", "size=[0.5"], id="masks-bad-yaml"),
    pytest.param(["--data", "synthetic_faces:length=many"], ["--data", "length"], id="data-not-a-number"),
    pytest.param(["--metrics", "psnr:region=everywhere"], ["--metrics", "region"], id="metrics-unknown-choice"),
    pytest.param(["--completers", "telea:radius=x"], ["--completers", "radius"], id="completers-not-a-number"),
])
def test_malformed_evaluate_specs_are_one_line(tmp_path, args, culprits):
    base = ["evaluate", "--model", "gfc_celeba_cpu", "--data", "synthetic_faces:length=2", "--output", tmp_path / "r"]
    result, _ = invoke([*base, *args])
    assert_one_error(result, culprits)


def test_a_blend_spec_with_invalid_yaml_is_one_line(tmp_path):
    photo, mask = _photo(tmp_path)
    result, _ = invoke(["complete", "--model", "gfc_celeba_cpu", "--input", photo, "--mask", mask,
                        "--blend", "feather:width=[3", "--output", tmp_path / "out"])
    assert_one_error(result, ["--blend", "width=[3"])


def test_a_degenerate_photo_is_named_by_evaluate_full_resolution(tmp_path):
    photos = folder(tmp_path / "photos")
    face_png(photos / "fine.png")
    Image.new("RGB", (1, 1)).save(photos / "dot.png")
    result, seconds = invoke(["evaluate", "--model", "gfc_celeba_cpu", "--data", photos, "--full-resolution",
                              "--masks", "center", "--no-size-study", "--output", tmp_path / "report"])
    assert_one_error(result, [str(photos / "dot.png"), "1×1 px"])
    assert seconds < FAST_S and not (tmp_path / "report" / "report.md").exists()


def test_training_images_of_one_pixel_are_one_line_before_training(tmp_path):
    photos = folder(tmp_path / "dots")
    for name in ("a.png", "b.png"):
        Image.new("RGB", (1, 1)).save(photos / name)
    result, seconds = invoke(["run", "quickstart", "--smoke", "--output", tmp_path / "run",
                              "--set", f"data.train={{type: image_folder, root: {photos}}}"])
    assert_one_error(result, ["data.train", str(photos), "8×8"])
    assert seconds < FAST_S


@pytest.mark.parametrize("command, change, culprit", [
    ("evaluate", {"hole_fill": "bogus"}, "hole_fill"),
    ("evaluate", {"face_layout": "celeba"}, "face_layout"),
    ("export", {"hole_fill": "bogus"}, "hole_fill"),
    ("export", {"face_layout": {"name": "x", "points": [[1, 2]]}}, "5 (x, y) points"),
])
def test_invalid_values_in_a_model_json_are_named_by_every_command_that_reads_it(tmp_path, command, change, culprit):
    from gfc_kit.inference import pretrained_models

    model = Path(shutil.copytree(pretrained_models()["gfc_celeba_cpu"], tmp_path / "model"))
    meta = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps({**meta, **change}))
    args = {"evaluate": ["evaluate", "--run", model, "--data", "synthetic_faces:length=2", "--output", tmp_path / "r"],
            "export": ["export", model, "--output", tmp_path / "exported"]}[command]
    result, _ = invoke(args)
    assert_one_error(result, [str(model / "model.json"), culprit])


def test_a_missing_data_folder_given_by_a_bare_name_is_named_as_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result, _ = invoke(["evaluate", "--model", "gfc_celeba_cpu", "--data", "photos", "--output", tmp_path / "r"])
    assert_one_error(result, ["--data", "photos", "no such folder"])


def test_a_missing_data_folder_in_a_recipe_is_named_by_recipe_preview(tmp_path):
    result, _ = invoke(["recipe", "preview", "quickstart", "--output", tmp_path / "p.png",
                        "--set", f"data.train={{type: image_folder, root: {tmp_path / 'nowhere'}}}"])
    assert_one_error(result, ["data.train.root", str(tmp_path / "nowhere")])


def _exiting_plugin(folder: Path) -> Path:
    """An installed distribution ``gfc-exits`` whose entry-point module calls ``sys.exit`` on import."""
    write(folder / "gfc_exits.py", "import sys\nsys.exit('no GPU, bye')\n")
    write(folder / "gfc_exits-0.3.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: gfc-exits\nVersion: 0.3\n")
    write(folder / "gfc_exits-0.3.dist-info" / "entry_points.txt", "[gfc_kit]\ngfc_exits = gfc_exits\n")
    return folder


def test_a_plugin_that_exits_on_import_stops_no_command(tmp_path):
    """Its failure is a warning naming it; commands that do not need it work, and one that needs
    its component is one error line naming the recipe key."""
    site = _exiting_plugin(tmp_path / "site")
    env = {"PYTHONPATH": str(site), "GFC_KIT_PLUGINS": "gfc_exits"}
    listing = gfc_kit_process(["models"], **env)
    assert listing.returncode == 0 and "gfc_celeba_cpu" in listing.stdout, listing.stderr
    assert "warning: plugin 'gfc_exits'" in listing.stderr and "SystemExit: no GPU, bye" in listing.stderr
    check = gfc_kit_process(["recipe", "check", "quickstart", "--set", "masks.train.type=ring"], **env)
    assert_one_error_from(check, ["masks.train.type", "'ring'", "plugin problem"])


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_an_odd_disable_plugins_value_stops_a_run_with_one_line(tmp_path, value):
    done = gfc_kit_process(["run", "quickstart", "--smoke", "--output", tmp_path / "run"],
                           GFC_KIT_DISABLE_PLUGINS=value)
    assert_one_error_from(done, [f"GFC_KIT_DISABLE_PLUGINS={value!r}"])
    assert not (tmp_path / "run").exists()

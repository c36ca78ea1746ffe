"""The command line: exit codes, one-line errors, listings, previews."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner

from gfc_kit.commands import cli

BAD = """
name: bad
data:
  train: {type: synthetic_faces, lenght: 8}
masks:
  train: {type: random_square}
"""


def gfc(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GFC_KIT_DISABLE_PLUGINS": "1"}
    return subprocess.run([sys.executable, "-m", "gfc_kit", *args], capture_output=True, text=True, env=env, timeout=120)


def test_a_bad_recipe_is_one_line_exit_2_no_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = gfc("recipe", "check", str(path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {path}: data.train.lenght: unknown key"
    assert "Traceback" not in result.stderr + result.stdout


def test_check_ok_and_show(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["recipe", "check", "quickstart"])
    assert result.exit_code == 0 and "ok" in result.output
    result = runner.invoke(cli, ["recipe", "show", "quickstart", "--set", "seed=3"])
    assert result.exit_code == 0 and "seed: 3" in result.output


def test_plugins_lists_every_builtin_with_parameters():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    for line in ("random_square  (built-in)", "synthetic_faces  (built-in)", "size: int | float >0 = 64"):
        assert line in result.output
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json", "--kind", "dataset"]).output)
    assert {r["kind"] for r in rows} == {"dataset"}
    celeba = next(r for r in rows if r["name"] == "celeba")
    assert {"name": "split", "type": "Literal['all', 'train', 'val', 'test']", "required": False,
            "default": "all"} in celeba["params"]


def test_unknown_kind_is_an_error():
    result = CliRunner().invoke(cli, ["plugins", "--kind", "masks"])
    assert result.exit_code == 2 and "unknown kind" in result.output


def test_run_checks_the_recipe_first(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 2 and "data.train.lenght: unknown key" in result.output


def test_preview_writes_a_picture(tmp_path):
    out = tmp_path / "preview.png"
    result = CliRunner().invoke(cli, ["recipe", "preview", "quickstart", "--output", str(out), "--count", "4"])
    assert result.exit_code == 0, result.output
    from PIL import Image

    width, height = Image.open(out).size
    assert width > 4 * 64 and height > 4 * 64  # 4 columns; images, labels, masked, parsing rows

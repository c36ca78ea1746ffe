"""Plugin loading: built-ins, entry points, the environment switches, and the errors."""

from __future__ import annotations

import re
import sys
import textwrap

import pytest

import gfc_kit
from gfc_kit.errors import PluginLoadError, RecipeError, RegistrationError


def test_builtins_register_through_the_hook(fresh_plugins):
    names = gfc_kit.list_components()
    for expected in ("dataset:synthetic_faces", "dataset:celeba", "dataset:image_folder", "dataset:parsing_folder",
                     "mask_sampler:random_square", "mask_sampler:center", "mask_sampler:regions",
                     "mask_sampler:free_form", "mask_sampler:mask_folder"):
        assert expected in names
    assert {e.source for e in fresh_plugins.registry()} == {"built-in"}
    assert gfc_kit.list_components("mask_sampler", "*square") == ["mask_sampler:random_square"]


def test_create_validates_params_like_a_recipe(fresh_plugins):
    sampler = gfc_kit.create("mask_sampler", "random_square", size="16")
    assert isinstance(sampler, gfc_kit.MaskSampler)
    with pytest.raises(RecipeError, match="random_square.sise: unknown key"):
        gfc_kit.create("mask_sampler", "random_square", sise=16)


class Ring:
    """A test ring."""

    def __init__(self, radius: float = 0.3) -> None:
        self.radius = radius

    def __call__(self, batch, generator=None):
        return batch["image"][:, :1]


class RingPlugin:
    @gfc_kit.hookimpl
    def gfc_register(self, registry):
        registry.add("mask_sampler", "ring", Ring)


def test_a_runtime_plugin_adds_components_with_its_name_as_source(fresh_plugins):
    fresh_plugins.register(RingPlugin(), "rings")
    entry = fresh_plugins.registry().get("mask_sampler", "ring")
    assert entry.source == "rings"
    assert gfc_kit.create("mask_sampler", "ring", radius=0.5).radius == 0.5
    fresh_plugins.unregister("rings")
    assert "mask_sampler:ring" not in gfc_kit.list_components()


def test_a_plugin_cannot_take_a_builtin_name(fresh_plugins):
    class Clash:
        @gfc_kit.hookimpl
        def gfc_register(self, registry):
            registry.add("mask_sampler", "random_square", Ring)
            registry.add("mask_sampler", "ring", Ring)

    fresh_plugins.register(Clash(), "clash")
    assert not isinstance(gfc_kit.create("mask_sampler", "random_square"), Ring)  # the built-in keeps its name
    assert isinstance(gfc_kit.create("mask_sampler", "ring"), Ring)  # the plugin's other components are in
    [problem] = fresh_plugins.problems()
    assert "'random_square' is a built-in name" in problem and "GFC_KIT_BLOCK=clash" in problem


def test_a_clash_between_two_plugins_leaves_the_rest_working_and_listed(fresh_plugins):
    from click.testing import CliRunner

    from gfc_kit.commands import cli

    fresh_plugins.register(RingPlugin(), "rings_a")
    fresh_plugins.register(RingPlugin(), "rings_b")
    with pytest.raises(RegistrationError, match="'ring' is registered twice: by 'rings_a' and by 'rings_b'"):
        gfc_kit.create("mask_sampler", "ring")
    result = CliRunner().invoke(cli, ["plugins", "--kind", "mask_sampler"])
    assert result.exit_code == 0
    assert "warning: mask_sampler 'ring' is registered twice" in result.output and "random_square" in result.output


def test_a_misspelt_hook_is_an_error(fresh_plugins):
    class Typo:
        @gfc_kit.hookimpl
        def gfc_regster(self, registry):
            pass

    with pytest.raises(RegistrationError, match="gfc_regster"):
        fresh_plugins.register(Typo(), "typo")


def test_an_exception_inside_gfc_register_names_the_plugin(fresh_plugins):
    class Broken:
        @gfc_kit.hookimpl
        def gfc_register(self, registry):
            raise ZeroDivisionError("oops")

    fresh_plugins.register(Broken(), "broken")
    assert gfc_kit.create("mask_sampler", "center", size=0.5)  # the built-ins still work
    assert any(p.startswith("plugin 'broken' failed in gfc_register: ZeroDivisionError")
               for p in fresh_plugins.problems())


@pytest.fixture
def installed(tmp_path, monkeypatch, fresh_plugins):
    """Two fake installed distributions with ``gfc_kit`` entry points: one good, one broken."""

    def install(dist: str, module: str, source: str) -> None:
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-0.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
        (info / "entry_points.txt").write_text(f"[gfc_kit]\n{module} = {module}\n")

    install("gfc-rings", "gfc_rings", """
        import gfc_kit

        class Ring:
            def __init__(self, radius: float = 0.3):
                self.radius = radius

            def __call__(self, batch, generator=None):
                return batch["image"][:, :1]

        @gfc_kit.hookimpl
        def gfc_register(registry):
            registry.add("mask_sampler", "ring", Ring)
    """)
    install("gfc-broken", "gfc_broken", "import not_a_module_anywhere\n")
    install("gfc-exits", "gfc_exits", "import sys\nsys.exit('no GPU, bye')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("GFC_KIT_DISABLE_PLUGINS")
    yield monkeypatch
    for module in ("gfc_rings", "gfc_broken", "gfc_exits"):
        sys.modules.pop(module, None)


def test_entry_points_load_and_record_their_distribution(installed, fresh_plugins):
    installed.setenv("GFC_KIT_PLUGINS", "gfc_rings")
    assert fresh_plugins.registry().get("mask_sampler", "ring").source == "gfc-rings 0.3"


def test_a_plugin_that_fails_to_import_is_named(installed, fresh_plugins):
    installed.setenv("GFC_KIT_PLUGINS", "gfc_rings,gfc_broken")
    assert fresh_plugins.registry().get("mask_sampler", "ring").source == "gfc-rings 0.3"  # the others load
    [problem] = fresh_plugins.problems()
    assert re.match(r"plugin 'gfc_broken' \(gfc-broken 0.3.*failed to import", problem)


def test_a_plugin_that_exits_on_import_is_named_and_the_rest_still_works(installed, fresh_plugins):
    installed.setenv("GFC_KIT_PLUGINS", "gfc_rings,gfc_exits")
    assert fresh_plugins.registry().get("mask_sampler", "ring").source == "gfc-rings 0.3"
    [problem] = fresh_plugins.problems()
    assert re.match(r"plugin 'gfc_exits' \(gfc-exits 0.3.*failed to import: SystemExit: no GPU, bye", problem)


def test_disable_plugins_keeps_only_builtins(installed, fresh_plugins):
    installed.setenv("GFC_KIT_DISABLE_PLUGINS", "1")
    assert "mask_sampler:ring" not in gfc_kit.list_components()


def test_gfc_kit_plugins_naming_a_missing_entry_point_is_an_error(installed, fresh_plugins):
    installed.setenv("GFC_KIT_PLUGINS", "gfc_ringz")
    with pytest.raises(PluginLoadError, match="GFC_KIT_PLUGINS names gfc_ringz"):
        fresh_plugins.registry()


def test_a_plugin_that_fails_halfway_through_registering_leaves_nothing_behind(fresh_plugins):
    class Halfway:
        @gfc_kit.hookimpl
        def gfc_register(self, registry):
            registry.add("mask_sampler", "ring", Ring)
            raise RuntimeError("the second half is broken")

    fresh_plugins.register(Halfway(), "halfway")
    assert "mask_sampler:ring" not in gfc_kit.list_components()
    [problem] = fresh_plugins.problems()
    assert "plugin 'halfway' failed in gfc_register: RuntimeError: the second half is broken" in problem


def test_a_model_may_be_registered_before_its_folder_exists(fresh_plugins, tmp_path):
    from click.testing import CliRunner

    from gfc_kit.commands import cli

    class Trains:
        @gfc_kit.hookimpl
        def gfc_register(self, registry):
            registry.add_model("to_be_trained", tmp_path / "runs" / "mine")

    fresh_plugins.register(Trains(), "trains")
    assert fresh_plugins.problems() == []
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0 and f"to_be_trained  missing: no model.json in {tmp_path / 'runs' / 'mine'}" in \
        result.output
    result = CliRunner().invoke(cli, ["complete", "--model", "to_be_trained", "--input", str(tmp_path),
                                      "--box", "1,1,4,4"])
    assert result.exit_code == 2 and str(tmp_path / "runs" / "mine") in result.output


def test_a_broken_plugin_is_one_warning_line_per_command_and_gfc_kit_plugins_lists_plugins(installed, fresh_plugins):
    from click.testing import CliRunner

    from gfc_kit.commands import cli

    installed.setenv("GFC_KIT_PLUGINS", "gfc_rings,gfc_broken")
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0
    mentions = [line for line in result.output.splitlines() if "gfc_broken" in line]
    assert len(mentions) == 1 and mentions[0].startswith("warning: plugin 'gfc_broken'"), result.output
    result = CliRunner().invoke(cli, ["plugins"])
    mentions = [line for line in result.output.splitlines() if "failed to import" in line]
    assert len(mentions) == 1 and mentions[0].startswith("warning: "), result.output
    assert "  gfc_rings  (gfc-rings 0.3)  1 components" in result.output
    assert "callbacks: metrics_log, progress, sample_grids;" in result.output


def test_gfc_kit_plugins_prints_a_broken_plugins_warning_once_in_a_fresh_process(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "gfc_broken.py").write_text("raise ImportError('nope')\n")
    info = tmp_path / "gfc_broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gfc-broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[gfc_kit]\ngfc_broken = gfc_broken\n")
    env = {**{k: v for k, v in os.environ.items() if k != "GFC_KIT_DISABLE_PLUGINS"},
           "PYTHONPATH": str(tmp_path), "GFC_KIT_PLUGINS": "gfc_broken"}
    done = subprocess.run([sys.executable, "-m", "gfc_kit", "plugins"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    assert [line for line in done.stderr.splitlines() if "gfc_broken" in line] == [
        "warning: plugin 'gfc_broken' (gfc-broken 0.1, entry point 'gfc_broken') failed to import: ImportError: "
        "nope; uninstall it, or set GFC_KIT_PLUGINS to the plugins you want"]

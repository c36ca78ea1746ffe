"""Recipes: base merging, overrides, and one clear line per problem."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

import gfc_kit
from gfc_kit import recipe as recipes
from gfc_kit.errors import GfcError, RecipeError

MINIMAL = """
name: tiny
image_size: 32
data:
  train: {type: synthetic_faces, length: 8}
masks:
  train: {type: random_square, size: 8}
"""


def write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("name", recipes.builtin_recipes())
def test_every_shipped_recipe_is_valid(name):
    assert recipes.load(name).name == name


def test_builtin_recipes_are_found_by_name_or_file_name():
    assert recipes.find("quickstart") == recipes.find("quickstart.yaml")
    with pytest.raises(GfcError, match="no such recipe file.*quickstart"):
        recipes.find("quikstart")


def test_base_merges_mappings_replaces_lists_and_retyped_components(tmp_path):
    write(tmp_path, "base.yaml", MINIMAL + """
masks:
  train: {type: random_square, size: 8}
  eval: [{type: center}, {type: regions, region: O1}]
train: {batch_size: 4, num_workers: 0}
""")
    path = write(tmp_path, "child.yaml", """
base: base.yaml
name: child
data:
  train: {type: image_folder, root: faces}
masks:
  train: {size: 12}
  eval: [{type: center, size: 0.25}]
train: {batch_size: 2}
""")
    loaded = recipes.load(path)
    assert loaded.data.train.params["root"].name == "faces"
    assert "length" not in loaded.data.train.params  # a new type drops the old type's keys
    assert loaded.masks.train.params["size"] == 12
    assert [m.type for m in loaded.masks.eval] == ["center"]
    assert (loaded.train.batch_size, loaded.train.num_workers) == (2, 0)


def test_bases_chain_and_a_cycle_is_an_error(tmp_path):
    write(tmp_path, "a.yaml", MINIMAL)
    write(tmp_path, "b.yaml", "base: a.yaml\nname: b\nseed: 5\n")
    chained = recipes.load(write(tmp_path, "c.yaml", "base: b.yaml\nname: c\n"))
    assert (chained.name, chained.seed, chained.image_size) == ("c", 5, 32)
    write(tmp_path, "x.yaml", "base: y.yaml\nname: x\n")
    write(tmp_path, "y.yaml", "base: x.yaml\nname: y\n")
    with pytest.raises(GfcError, match="makes a cycle"):
        recipes.load(tmp_path / "x.yaml")


def test_overrides_take_dotted_paths_list_indices_and_yaml_values(tmp_path):
    path = write(tmp_path, "r.yaml", MINIMAL + "masks:\n  train: {type: center}\n  eval: [{type: center}]\n")
    loaded = recipes.load(path, ["masks.eval.0.size=0.75", "train.batch_size=3", "seed=7",
                                 "data.train={type: image_folder, root: x, augment: {flip: false}}"])
    assert loaded.masks.eval[0].params["size"] == 0.75
    assert (loaded.train.batch_size, loaded.seed) == (3, 7)
    assert loaded.data.train.params["augment"].flip is False


def test_setting_another_type_drops_the_old_components_keys(tmp_path):
    path = write(tmp_path, "r.yaml", MINIMAL)
    loaded = recipes.load(path, ["masks.train.type=center", "masks.train.size=0.25"])
    assert loaded.masks.train.params == {"size": 0.25}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("masks.eval.3.size=1", r"masks.eval.3: no item 3 in a list of 1"),
        ("seed", "expected KEY=VALUE"),
        ("name.x=1", "name is a value"),
    ],
)
def test_bad_overrides_say_why(tmp_path, override, message):
    path = write(tmp_path, "r.yaml", MINIMAL + "  eval: [{type: center}]\n")
    with pytest.raises(GfcError, match=message):
        recipes.load(path, [override])


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("masks.train.type=random_sqare", "masks.train.type: unknown mask_sampler 'random_sqare'; did you mean 'random_square', 'random_box'?"),
        ("masks.train.sise=3", "masks.train.sise: unknown key"),
        ("masks.train.size=big", "masks.train.size: 'big' is not a valid int | float"),
        ("train.batch_size=big", "train.batch_size: Input should be a valid integer, unable to parse string as an integer"),
        ("train.batchsize=3", "train.batchsize: unknown key"),
        ("image_size=8", "image_size: Input should be greater than or equal to 16"),
        ("data.train.type=celebx", "data.train.type: unknown dataset 'celebx'; did you mean 'celeba'?"),
    ],
)
def test_each_problem_is_one_line_naming_the_recipe_path(tmp_path, override, line):
    path = write(tmp_path, "r.yaml", MINIMAL)
    with pytest.raises(RecipeError) as caught:
        recipes.load(path, [override])
    assert line in caught.value.errors
    assert str(caught.value).startswith(f"{path}: ")


def test_all_problems_are_reported_at_once(tmp_path):
    path = write(tmp_path, "r.yaml", MINIMAL)
    with pytest.raises(RecipeError) as caught:
        recipes.load(path, ["masks.train.sise=3", "data.train.lenght=2"])
    assert len(caught.value.errors) == 2


def test_stage_losses_must_be_defined(tmp_path, fresh_plugins):
    class L1:
        """A test loss."""

        inputs = "pixels"

        def __init__(self, eps: float = 1e-12) -> None:
            self.eps = eps

        def __call__(self, output, target, mask=None):
            return (output - target).abs().sum()

    class Losses:
        @gfc_kit.hookimpl
        def gfc_register(self, registry):
            registry.add("loss", "test_l1", L1)

    fresh_plugins.register(Losses(), "losses")
    path = write(tmp_path, "r.yaml", MINIMAL + """
losses:
  reconstruction: {type: test_l1, weight: 1.0}
stages:
  - {name: one, steps: 2, losses: [reconstruction]}
  - {name: two, steps: 2, losses: [reconstruction, local]}
""")
    with pytest.raises(RecipeError) as caught:
        recipes.load(path)
    assert caught.value.errors == ["stages.1.losses.1: unknown loss 'local'; the recipe's losses are reconstruction"]


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "r.yaml", "name: x\ndata: [unclosed\n")
    with pytest.raises(GfcError, match=r"r.yaml:\d+:\d+: invalid YAML"):
        recipes.load(path)


def test_show_fills_in_every_default(tmp_path):
    shown = yaml.safe_load(recipes.dump(recipes.load(write(tmp_path, "r.yaml", MINIMAL))))
    assert shown["masks"]["train"] == {"type": "random_square", "size": 8}
    assert shown["data"]["train"]["image_size"] == 32  # from the recipe's image_size
    assert shown["optim"]["discriminator"]["betas"] == [0.5, 0.999]


def test_schema_lists_each_component_with_its_parameters():
    schema = recipes.json_schema()
    json.dumps(schema)
    variants = schema["$defs"]["MaskSamplerSpec"]["oneOf"]
    square = next(v for v in variants if v["properties"]["type"]["const"] == "random_square")
    assert "size" in square["properties"] and square["additionalProperties"] is False


def test_a_gfc_kit_0_1_recipe_is_read_in_todays_shape(tmp_path, caplog):
    """model.local_discriminator / global_discriminator and train.global_input become named
    discriminators with views (the rename keeps a warning shim)."""
    path = write(tmp_path, "old.yaml", f"""
base: {recipes.find("gfc_cvpr17").resolve()}
name: old
model:
  local_discriminator: {{type: gfc_local_discriminator, patch_size: 32}}
  global_discriminator: {{type: gfc_global_discriminator, width: 0.5}}
train: {{global_input: output}}
""")
    loaded = recipes.load(path)
    local, global_ = loaded.model.discriminators["local"], loaded.model.discriminators["global"]
    assert (local.view.type, local.params["patch_size"]) == ("hole", 32)
    assert (global_.view.type, global_.fake, global_.gradient, global_.params["width"]) == ("image", "output", "all", 0.5)
    assert loaded.losses["local_adversarial"].params["discriminator"] == "local"
    assert "gfc-kit 0.1 keys" in caplog.text


def test_a_gfc_kit_0_1_global_discriminator_keeps_0_1_s_default(tmp_path):
    """0.1 judged the raw output unless train.global_input said otherwise."""
    path = write(tmp_path, "old.yaml", f"""
base: {recipes.find("gfc_cvpr17").resolve()}
name: old
model:
  global_discriminator: {{type: gfc_global_discriminator}}
""")
    global_ = recipes.load(path).model.discriminators["global"]
    assert (global_.fake, global_.gradient) == ("output", "all")


def test_an_error_names_the_most_specific_recipe_key(tmp_path):
    """A file inside the root folder is blamed on its own key, not on root."""
    from PIL import Image

    from gfc_kit.errors import GfcError
    from gfc_kit.factory import build

    (tmp_path / "faces").mkdir()
    Image.new("RGB", (178, 218)).save(tmp_path / "faces" / "000001.jpg")
    with pytest.raises(GfcError, match=r"^data\.train\.landmarks_file: "):
        build("dataset", {"type": "celeba", "root": str(tmp_path / "faces"),
                          "landmarks_file": str(tmp_path / "faces" / "landmarks.txt")}, ("data", "train"))


def test_typos_inside_a_mixture_s_samplers_fail_recipe_check(tmp_path):
    from click.testing import CliRunner

    from gfc_kit.commands import cli

    path = tmp_path / "mix.yaml"
    path.write_text("base: quickstart\nmasks:\n  train:\n    type: mixture\n    samplers:\n"
                    "      - {type: center, sise: 0.5}\n      - {type: random_bx}\n"
                    "      - {type: mixture, samplers: [{type: center, bogus: 2}]}\n")
    result = CliRunner().invoke(cli, ["recipe", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert "masks.train.samplers.0.sise: unknown key" in result.output
    assert "masks.train.samplers.1.type: unknown mask_sampler 'random_bx'" in result.output
    assert "masks.train.samplers.2.samplers.0.bogus: unknown key" in result.output  # nested mixtures too


# --- relative paths: against the file that wrote them, whatever the working folder ---------------------------

def _images(folder, count):
    """``count`` tiny PNG files in ``folder`` (made if need be)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (20, 20), (40 * i, 90, 160)).save(folder / f"{i}.png")
    return folder


def test_relative_paths_resolve_against_the_recipes_folder_from_any_working_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    _images(project / "faces", 2)
    write(project, "r.yaml", """
name: r
image_size: 16
data:
  train: {type: image_folder, root: faces}
  val: {type: celeba, root: [faces, /absolute/faces], identity_file: ids.txt}
masks:
  train: {type: mixture, samplers: [{type: mask_folder, root: masks}]}
model:
  generator_weights: ../weights/generator.safetensors
output: runs/r
""")
    _images(tmp_path / "elsewhere" / "faces", 3)
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = recipes.load(tmp_path / "project" / "r.yaml")
    assert loaded.data.train.params["root"] == project / "faces"
    assert loaded.data.val.params["root"] == [project / "faces", Path("/absolute/faces")]
    assert loaded.data.val.params["identity_file"] == project / "ids.txt"
    assert loaded.masks.train.params["samplers"][0]["root"] == str(project / "masks")  # nested entries too
    assert loaded.model.generator_weights == project / ".." / "weights" / "generator.safetensors"
    assert str(loaded.output) == "runs/r"  # like any command-line output: the working folder's
    from gfc_kit.factory import build

    assert len(build("dataset", loaded.data.train.entry, ("data", "train"))) == 2  # not elsewhere's 3


def test_a_base_recipes_paths_resolve_against_the_bases_folder(tmp_path, monkeypatch):
    write(_folder(tmp_path / "shared"), "base.yaml", MINIMAL + """
data:
  train: {type: image_folder, root: faces}
  val: {type: image_folder, root: val_faces}
""")
    write(_folder(tmp_path / "mine"), "child.yaml", "base: ../shared/base.yaml\nname: child\n"
                                                     "data:\n  val: {root: my_faces}\n")
    monkeypatch.chdir(tmp_path)
    loaded = recipes.load("mine/child.yaml")
    assert loaded.data.train.params["root"] == tmp_path / "shared" / "faces"
    assert loaded.data.val.params["root"] == tmp_path / "mine" / "my_faces"


def test_set_values_and_defaults_stay_relative_to_the_working_folder(tmp_path, monkeypatch):
    write(tmp_path, "r.yaml", MINIMAL + "data:\n  train: {type: image_folder, root: faces}\n")
    monkeypatch.chdir(_folder(tmp_path / "elsewhere"))
    loaded = recipes.load(tmp_path / "r.yaml", ["data.train.root=typed", "data.val={type: celeba}",
                                                "model.generator_weights=w.safetensors"])
    assert loaded.data.train.params["root"] == Path("typed")
    assert loaded.data.val.params["root"] == Path("data/celeba/img_align_celeba")  # celeba's default
    assert loaded.model.generator_weights == Path("w.safetensors")


def test_the_built_in_recipes_paths_stay_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert recipes.load("gfc_cvpr17").data.train.params["root"] == Path("data/celeba/img_align_celeba")
    write(tmp_path, "mine.yaml", "base: gfc_cvpr17\nname: mine\n")  # inherited from a built-in: the same
    assert recipes.load(tmp_path / "mine.yaml").data.train.params["root"] == Path("data/celeba/img_align_celeba")


def _folder(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_schema_takes_stages_and_views_by_name_and_lists_callbacks():
    """``train: parser`` and ``view: hole`` are valid in an editor too, as in a recipe; the
    ``callbacks`` section offers the registered callbacks with their parameters."""
    defs = recipes.json_schema()["$defs"]
    assert {"type": "string", "enum": ["generator", "parser"]} in defs["StageSpec"]["oneOf"]
    assert {"type": "string", "enum": ["box", "hole", "image"]} in defs["ViewSpec"]["oneOf"]
    assert {v["title"] for v in defs["CallbackSpec"]["oneOf"]} == {
        "callback.metrics_log", "callback.sample_grids", "callback.progress"}


def test_callbacks_are_entries_checked_like_components():
    """``NAME: false`` turns one off, a mapping sets its parameters; unknown names and keys are
    errors naming the recipe key."""
    base = {"name": "x", "data": {"train": {"type": "synthetic_faces"}}, "masks": {"train": {"type": "center"}}}
    loaded = recipes.validate({**base, "callbacks": {"progress": False, "metrics_log": None}})
    assert loaded.callbacks["progress"].enabled is False and loaded.callbacks["metrics_log"].enabled
    with pytest.raises(GfcError, match=r"callbacks\.progres\.type: unknown callback 'progres'"):
        recipes.validate({**base, "callbacks": {"progres": False}})
    with pytest.raises(GfcError, match=r"callbacks\.progress\.every: unknown key"):
        recipes.validate({**base, "callbacks": {"progress": {"every": 3}}})

"""A second held-out face set: the CelebA-HQ faces of ../shared/data whose person a recipe never
trained on, linked into one folder for ``gfc-kit evaluate --data FOLDER``.

    python benchmarks/celebahq_held_out.py recipes/gfc_celeba_128.yaml --output /tmp/celebahq_held_out
    gfc-kit evaluate --model gfc_celeba_128 --data /tmp/celebahq_held_out --image-size 128 --output ...

CelebA-HQ photos are 256 to 1024 px, cropped wider and aligned differently from CelebA's
``img_align_celeba`` layout, so they also check a model on a crop it was not trained on. A face
is kept only when ``files.tsv`` names its CelebA source file and that file's person (CelebA's
``identity_CelebA.txt``) is in none of the recipe's training data (``data.train`` and any stage's
``data``); the links are never copies (the data is research-only and stays where it is).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import gfc_kit
from gfc_kit import recipe as recipes
from gfc_kit.components.datasets.celeba import read_identities

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def training_people(recipe_path: Path, identities: dict[str, str]) -> set[str]:
    """The people of the recipe's ``data.train`` and of every stage's own ``data`` (celeba
    datasets split by person)."""
    recipe = recipes.load(recipe_path)
    people = set()
    for spec in [recipe.data.train, *(stage.data for stage in recipe.stages if stage.data is not None)]:
        train = gfc_kit.create("dataset", spec.type, **spec.params)
        people |= {identities[f.name] for f in train.files if f.name in identities}
    return people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    identities = read_identities(DATA / "annotations" / "identity_CelebA.txt")
    seen = training_people(args.recipe, identities)
    args.output.mkdir(parents=True, exist_ok=True)
    kept = skipped = 0
    with open(DATA / "files.tsv", newline="") as table:
        for row in csv.DictReader(table, delimiter="\t"):
            if not row["file"].startswith("faces/celebahq/"):
                continue
            person = identities.get(row["celeba_file"])
            if person is None or person in seen:
                skipped += 1
                continue
            link = args.output / Path(row["file"]).name
            link.unlink(missing_ok=True)
            link.symlink_to(DATA / row["file"])
            kept += 1
    print(f"{args.output}: {kept} CelebA-HQ faces of people the recipe never trained on "
          f"({skipped} left out: person unknown or in training)")


if __name__ == "__main__":
    main()

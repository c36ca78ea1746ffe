"""Evaluating completers side by side: the same images, the same holes, the same metrics.

Every (image, mask type) pair gets its hole from a generator seeded by the evaluation seed, the
mask type's name and the image's index, so two evaluations with the same data, masks and seed
score every completer on identical holes, number for number, whatever the batch size.

The paper's parsing score compares a parser's labels on the completion with its labels on the
original image (or with the dataset's own labels when it has them), on the hole's pixels, where
completers differ: pixel accuracy and mean IoU over the classes present there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from gfc_kit.interfaces import PARSING_CLASSES, Completer, MaskSampler



def pair_seed(seed: int, mask_name: str, index: int) -> int:
    """The seed of image ``index``'s hole under mask type ``mask_name`` (stable across runs)."""
    digest = hashlib.sha1(f"{seed}/{mask_name}/{index}".encode()).hexdigest()
    return int(digest[:15], 16)


def item_batch(item: dict[str, Any]) -> dict[str, Any]:
    """A dataset item as a batch of one."""
    return {k: v[None] if torch.is_tensor(v) else [v] for k, v in item.items()}


def parsing_scores(predicted: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image pixel accuracy and mean IoU of label maps ``N×H×W`` over the hole (``N×1×H×W``)."""
    hole = mask[:, 0] > 0.5
    classes = len(PARSING_CLASSES)
    accuracy, miou = [], []
    for p, r, h in zip(predicted, reference, hole):
        p, r = p[h], r[h]
        accuracy.append((p == r).float().mean() if len(p) else torch.tensor(float("nan")))
        ious = [((p == c) & (r == c)).sum() / ((p == c) | (r == c)).sum()
                for c in range(classes) if ((p == c) | (r == c)).any()]
        miou.append(torch.stack(ious).float().mean() if ious else torch.tensor(float("nan")))
    return torch.stack(accuracy), torch.stack(miou)


@dataclass
class Examples:
    """The first few images of a mask type, for the report's picture: masked input, each
    completer's result, ground truth."""

    masked: list[torch.Tensor] = field(default_factory=list)
    completed: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    target: list[torch.Tensor] = field(default_factory=list)


@dataclass
class Evaluator:
    """Scores ``completers`` on ``dataset`` under each of ``masks`` with ``metrics``."""

    dataset: Dataset
    masks: dict[str, MaskSampler]
    completers: dict[str, Completer]
    metrics: list[Any]
    parser: Callable[[torch.Tensor], torch.Tensor] | None = None
    """Images ``N×3×H×W`` → labels ``N×H×W`` (e.g. :class:`gfc_kit.inference.RunParser`)."""
    seed: int = 0
    limit: int | None = None
    batch_size: int = 16
    examples: int = 4
    fid: FrechetDistance | None = None
    shown: Callable[[torch.Tensor], torch.Tensor] | None = None
    """How an example image is kept for the grid (e.g. a thumbnail, for photos of many sizes)."""

    def __post_init__(self) -> None:
        self.count = min(len(self.dataset), self.limit or len(self.dataset))  # type: ignore[arg-type]

    def run(self, advance: Callable[[int], None] = lambda n: None) -> tuple[list[dict[str, Any]], dict[str, Examples]]:
        """One row per (completer, mask type, image) with every metric, and the example images.
        ``advance(n)`` is called as images are done (for a progress bar)."""
        rows: list[dict[str, Any]] = []
        examples = {name: Examples() for name in self.masks}
        for start, batch in self._batches():
            image = batch["image"]
            reference = self._reference_labels(batch)
            if self.fid is not None:
                self.fid.add_real(image)
            for mask_name, sampler in self.masks.items():
                mask = torch.cat([
                    sampler(item_batch({k: v[i] for k, v in batch.items()}),
                            torch.Generator().manual_seed(pair_seed(self.seed, mask_name, start + i)))
                    for i in range(len(image))]).to(image)
                shown = examples[mask_name]
                keep = max(0, self.examples - len(shown.target))
                shown.masked.extend(map(self._show, torch.where(mask > 0.5, torch.ones_like(image), image)[:keep]))
                shown.target.extend(map(self._show, image[:keep]))
                for completer_name, completer in self.completers.items():
                    completed = completer(image, mask).float()
                    if self.fid is not None:
                        self.fid.add_fake(completer_name, mask_name, completed)
                    shown.completed.setdefault(completer_name, []).extend(map(self._show, completed[:keep]))
                    values = {m.name: m(completed, image, mask) for m in self.metrics}
                    if reference is not None:
                        labels = self._labels(completed)
                        values["parse_acc"], values["parse_miou"] = parsing_scores(labels, reference, mask)
                    hole = mask.flatten(1).mean(1)
                    for i in range(len(image)):
                        rows.append({"completer": completer_name, "mask": mask_name, "index": start + i,
                                     "hole_fraction": float(hole[i]), **{k: float(v[i]) for k, v in values.items()}})
            advance(len(batch["image"]))
        return rows, examples

    def _show(self, image: torch.Tensor) -> torch.Tensor:
        return image if self.shown is None else self.shown(image)

    def _batches(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for start in range(0, self.count, self.batch_size):
            items = [self.dataset[i] for i in range(start, min(start + self.batch_size, self.count))]
            yield start, {k: torch.stack([it[k] for it in items]) if torch.is_tensor(items[0][k]) else
                          [it[k] for it in items] for k in items[0]}

    def _labels(self, image: torch.Tensor) -> torch.Tensor:
        return self.parser(image)  # type: ignore[misc]

    def _reference_labels(self, batch: dict[str, Any]) -> torch.Tensor | None:
        if self.parser is None:
            return None
        return batch["labels"] if "labels" in batch else self._labels(batch["image"])


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of every metric per (mask type, completer), in the order they first appear."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["mask"], row["completer"]), []).append(row)
    summary = []
    for (mask, completer), members in groups.items():
        keys = [k for k in members[0] if k not in ("completer", "mask", "index")]
        means = {}
        for key in keys:
            values = torch.tensor([m[key] for m in members], dtype=torch.float64)
            values = values[~values.isnan()]
            means[key] = float(values.mean()) if len(values) else float("nan")
        summary.append({"mask": mask, "completer": completer, "images": len(members), **means})
    return summary


SIZE_STUDY = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75)
"""Sides of the centred square holes of the mask-size study, as fractions of the image side."""


class FrechetDistance:
    """FID (Heusel et al. 2017) of each (completer, mask type)'s completions against the original
    images, from Inception-v3 pool features (torch-fidelity's FID network) whose weights the user
    gives as a local file (``pt_inception-2015-12-05-6726825d.pth``); nothing is downloaded."""

    def __init__(self, weights: Path, features: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        from gfc_kit.errors import GfcError

        if features is None:
            if not weights.is_file():
                raise GfcError(f"{weights}: FID Inception weights not found (pt_inception-2015-12-05-6726825d.pth)")
            try:
                from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
            except ImportError:
                raise GfcError("--fid-weights: needs torch-fidelity; pip install 'gfc-kit[fid]'") from None
            network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                  feature_extractor_weights_path=str(weights)).eval()

            def features(images: torch.Tensor) -> torch.Tensor:
                with torch.inference_mode():
                    pixels = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
                    return network(pixels)[0].double()
        self.features = features
        self.real: list[torch.Tensor] = []
        self.fake: dict[tuple[str, str], list[torch.Tensor]] = {}

    def add_real(self, images: torch.Tensor) -> None:
        self.real.append(self.features(images))

    def add_fake(self, completer: str, mask: str, images: torch.Tensor) -> None:
        self.fake.setdefault((completer, mask), []).append(self.features(images))

    def compute(self) -> dict[tuple[str, str], float]:
        real = torch.cat(self.real)
        return {key: frechet_distance(real, torch.cat(parts)) for key, parts in self.fake.items()}


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) of two feature sets (rows = samples)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    # Tr((S_a S_b)^1/2) is the sum of the square roots of S_a S_b's eigenvalues (real, >= 0 up to rounding)
    eigenvalues = torch.linalg.eigvals(cov_a @ cov_b).real.clamp_min(0)
    return float((mu_a - mu_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * eigenvalues.sqrt().sum())

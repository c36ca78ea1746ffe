"""Training batches as a pure function of ``(seed, step)``, so a resumed run sees exactly the
batches, masks and noise an uninterrupted one would have seen."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate


class StepBatches(Sampler[list[int]]):
    """Dataset indices for steps ``start .. stop - 1``: the data is walked epoch after epoch, each
    epoch in its own seeded random order; under DDP each rank takes its slice of every step."""

    def __init__(self, size: int, batch_size: int, seed: int, start: int, stop: int,
                 rank: int = 0, world: int = 1) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.start, self.stop, self.rank, self.world = start, stop, rank, world
        self._orders: dict[int, torch.Tensor] = {}

    def _order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._orders:
            if len(self._orders) > 2:
                self._orders.pop(min(self._orders))
            seeded = torch.Generator().manual_seed(self.seed * 7919 + epoch)
            self._orders[epoch] = torch.randperm(self.size, generator=seeded)
        return self._orders[epoch]

    def batch(self, step: int) -> list[int]:
        first = (step * self.world + self.rank) * self.batch_size
        positions = range(first, first + self.batch_size)
        return [int(self._order(p // self.size)[p % self.size]) for p in positions]

    def __iter__(self) -> Iterator[list[int]]:
        return (self.batch(step) for step in range(self.start, self.stop))

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random stream of one training step (masks, hole noise): the same on every resume."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def loader(dataset: Dataset, sampler: StepBatches, num_workers: int, seed: int) -> DataLoader:
    """A data loader over ``sampler``'s steps; workers are seeded from ``(seed, first step)``."""
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=num_workers,
        collate_fn=default_collate,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
        generator=torch.Generator().manual_seed(seed * 31 + sampler.start),
    )


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of ``batch`` moved to ``device`` (non-blocking where pinned); the rest as is."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

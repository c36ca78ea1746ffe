"""Training batches as a pure function of ``(seed, step)``, so a resumed run sees exactly the
batches, masks and noise an uninterrupted one would have seen, augmentation draws included."""

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

    def keys(self) -> Iterator[list[tuple[int, int, int]]]:
        """Each step's items as ``(step, slot, index)``: ``slot`` is the item's place in the step's
        batch over all ranks, so every item of every step has a random stream of its own."""
        first = self.rank * self.batch_size
        return ([(step, slot, index) for slot, index in enumerate(self.batch(step), first)]
                for step in range(self.start, self.stop))


class _Keys(Sampler[list[tuple[int, int, int]]]):
    """``StepBatches`` as item keys for :class:`_StepSeeded`."""

    def __init__(self, batches: StepBatches) -> None:
        self.batches = batches

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        return self.batches.keys()

    def __len__(self) -> int:
        return len(self.batches)


class _StepSeeded(Dataset):
    """Reads item ``index`` with torch's global RNG seeded from ``(seed, step, slot)`` first, so a
    dataset's own randomness (augmentation) does not depend on where a run started or on which
    loader worker reads the item."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __getitem__(self, key: tuple[int, int, int]) -> Any:
        step, slot, index = key
        torch.manual_seed(((self.seed * 1_000_003 + step) * 65_537 + slot) % 2**63)
        return self.dataset[index]

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]


def step_generator(seed: int, step: int) -> torch.Generator:
    """The random stream of one training step (masks, hole noise): the same on every resume."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def loader(dataset: Dataset, sampler: StepBatches, num_workers: int, seed: int) -> DataLoader:
    """A data loader over ``sampler``'s steps, each item read under its own seeded random stream."""
    return DataLoader(
        _StepSeeded(dataset, seed),
        batch_sampler=_Keys(sampler),
        num_workers=num_workers,
        collate_fn=default_collate,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
        generator=torch.Generator().manual_seed(seed * 31 + sampler.start),
    )


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors of ``batch`` moved to ``device`` (non-blocking where pinned); the rest as is."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

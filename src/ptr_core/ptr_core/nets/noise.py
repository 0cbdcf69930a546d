"""Random draws for the losses, optionally sharded so data-parallel ranks reproduce one process.

Why: with DDP each rank holds B/world rows of the global batch. If every rank drew its own noise,
N ranks would not match one process on the same global batch; drawing the global noise on every
rank from the same stream and keeping this rank's rows makes them match (tested).
"""
from __future__ import annotations

import torch


class ShardedGenerator:
    """A torch.Generator seen by rank `rank` of `world`: draws world x rows, keeps its own."""

    def __init__(self, base: torch.Generator, rank: int, world: int) -> None:
        self.base, self.rank, self.world = base, rank, world

    def get_state(self) -> torch.Tensor:
        return self.base.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.base.set_state(state)


def draw(kind: str, shape: tuple[int, ...], generator, device: torch.device | str,
         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """torch.randn / torch.rand of `shape` (rows first) from a Generator or ShardedGenerator."""
    fn = torch.randn if kind == 'randn' else torch.rand
    if isinstance(generator, ShardedGenerator):
        rows = shape[0]
        full = fn((rows * generator.world,) + tuple(shape[1:]), generator=generator.base,
                  device=device, dtype=dtype)
        return full[generator.rank * rows:(generator.rank + 1) * rows]
    return fn(shape, generator=generator, device=device, dtype=dtype)

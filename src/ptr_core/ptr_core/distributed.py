"""Data-parallel training with torch.distributed (started by `torchrun ... -m ptr_core.torchrun`).

Each rank samples B/world transitions, computes the same losses and DDP averages the gradients,
so N ranks take the step one process would take on the concatenated global batch (the losses are
per-sample means; sampling noise is drawn for the global batch and sharded, see nets/noise.py).
Backend: NCCL when CUDA is available, gloo on CPU. Rank 0 alone logs and writes checkpoints.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ptr_core.nets.noise import ShardedGenerator


class _LossModule(nn.Module):
    """The agent's trainable modules under one root, so DDP sees every gradient of a step."""

    def __init__(self, agent) -> None:
        super().__init__()
        self._agent = [agent]  # a list: not a submodule, no parameter registration
        if agent.critic is not None:
            self.critic = agent.critic
        self.policy = agent.policy
        if agent.log_temp.requires_grad:
            self.log_temp = agent.log_temp

    def forward(self, batch):
        return self._agent[0].losses(batch)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_world() -> tuple[int, int]:
    return (dist.get_rank(), dist.get_world_size()) if is_distributed() else (0, 1)


def wrap_agent(agent) -> None:
    """Make `agent.update` data-parallel over the initialized process group."""
    if not is_distributed():
        raise RuntimeError('wrap_agent: torch.distributed is not initialized (use torchrun)')
    rank, world = rank_world()
    dev = agent.device
    module = _LossModule(agent)
    # DDP broadcasts the wrapped module's state from rank 0; the target critic and AW-BC's frozen
    # policy live outside it, so they are broadcast here.
    for m in (agent.target, agent.frozen_policy):
        if m is not None:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, 0)
    agent._ddp = DistributedDataParallel(
        module, device_ids=[dev.index] if dev.type == 'cuda' else None,
        broadcast_buffers=False)
    if not isinstance(agent.generator, ShardedGenerator):
        agent.generator = ShardedGenerator(agent.generator, rank, world)


def init_from_env() -> tuple[int, int, str]:
    """Initialize from torchrun's environment; returns (rank, world, device)."""
    backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    dist.init_process_group(backend)
    rank, world = rank_world()
    if backend == 'nccl':
        local = int(os.environ.get('LOCAL_RANK', rank))
        torch.cuda.set_device(local)
        return rank, world, f'cuda:{local}'
    return rank, world, 'cpu'

"""Imitation learners on PTR's policy network: BC (deterministic MSE) and AW-BC."""
from __future__ import annotations

import os

import torch

from ptr_core import checkpoint as ckpt
from ptr_core.agent import Agent, Batch
from ptr_core.algos import awbc_loss, bc_loss
from ptr_core.config import AWBCConfig, Config, SharedAgentConfig
from ptr_core.nets import Critic
from ptr_core.policy import PolicyNet


class BCAgent(Agent):
    """Behaviour cloning: the greedy action regressed onto the data's (PTR table XI)."""

    settings = SharedAgentConfig

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return bc_loss(self.policy, batch)


class AWBCAgent(Agent):
    """Advantage-weighted BC with a frozen critic taken from a CQL checkpoint."""

    settings = AWBCConfig

    def _build_critic(self) -> Critic:
        return Critic(self.cfg.network).requires_grad_(False)  # never trained here

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return awbc_loss(self.policy, self.critic, batch, self.cfg.agent, self.generator,
                         self.frozen_policy)

    def load_frozen_critic(self, path: str | os.PathLike) -> None:
        """AW-BC: take the critic (and its actor, for max-estimation) from a CQL checkpoint."""
        payload = ckpt.load(path, ckpt.AGENT_FORMAT)
        src = Config.from_dict(payload['config'], f'{path}: config')
        if src.to_dict()['network'] != self.cfg.to_dict()['network']:
            raise ckpt.CheckpointError(f'{path}: network: the Q checkpoint was built with a '
                                       f'different network config than this AW-BC run')
        if payload.get('critic') is None:
            raise ckpt.CheckpointError(f'{path}: critic: expected a CQL checkpoint, found none')
        self.critic.load_state_dict(payload['critic'])
        self.critic.requires_grad_(False)
        self.frozen_policy = PolicyNet(self.cfg).to(self.device)
        self.frozen_policy.load_state_dict(payload['actor'])
        self.frozen_policy.requires_grad_(False).eval()

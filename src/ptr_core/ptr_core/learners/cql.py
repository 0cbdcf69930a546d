"""CQL / Cal-QL with PTR's choices: two critics and their targets, a learned temperature."""
from __future__ import annotations

import copy

import torch

from ptr_core.agent import Agent, Batch, adam
from ptr_core.algos import cql_losses
from ptr_core.config import CQLConfig
from ptr_core.nets import Critic


class CQLAgent(Agent):
    """Conservative Q-learning (Kumar et al.; PTR, COG); Cal-QL with `agent.calql`."""

    settings = CQLConfig
    critic_trains = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._polyak_pairs = (list(self.target.parameters()), list(self.critic.parameters()))

    def _build_critic(self) -> Critic:
        return Critic(self.cfg.network)

    def _build_target(self) -> Critic:
        target = copy.deepcopy(self.critic)
        target.requires_grad_(False)
        return target

    def _algo_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        ac = self.cfg.agent
        out = {'critic': adam(self.critic.parameters(), lr=ac.q_lr)}
        if ac.auto_entropy:
            out['temperature'] = adam([self.log_temp], lr=ac.temperature_lr)
        return out

    @property
    def learns_temperature(self) -> bool:
        return self.cfg.agent.auto_entropy

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return cql_losses(self.critic, self.target, self.policy, self.log_temp, batch,
                          self.cfg.agent, self.generator, self._step_t, self.encoder_shared)

    def _after_update(self) -> None:
        with torch.no_grad():
            tgt, src = self._polyak_pairs
            torch._foreach_lerp_(tgt, src, self.cfg.agent.polyak)

"""The residual online learner: TD on the offline critic, a bounded correction head, the offline
policy frozen (ptr_core.residual holds the networks and the deployable policy).

One update: the critic regresses on r + gamma (1 - d) max_n min_e Q'_e(s', a'_n), where a'_n are
the frozen policy's proposals at s' with their corrections (the action the deployed policy would
take, as in EXPO's on-the-fly selection); the head maximizes min_e Q_e(s, proposal + correction)
with a small penalty on the correction's size.

With `cql_alpha` > 0 the critic keeps the conservative term it was pre-trained with: alpha x
(logsumexp of Q over uniform actions and the corrected proposals - Q of the data action), the
proposals' values first bounded below by the Monte-Carlo return when `calql` (Cal-QL). Without it
the critic's TD updates at lr 3e-4 inflated the values of corrected actions: the first run of the
online table (seed 0) went 17 -> 24 -> 19 -> 18 -> 16 -> 12 of 50 along the run, the head's
correction sitting at its bound.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ptr_core import checkpoint as ckpt
from ptr_core.agent import Agent, Batch, adam
from ptr_core.algos.cql import critic_loss_from_values, frozen_q
from ptr_core.constants import ACTION_DIM
from ptr_core.nets.noise import draw
from ptr_core.policy import weights_bytes
from ptr_core.residual import ResidualNet, ResidualSettings, residual_fingerprint


class ResidualLearner:
    """Wraps a loaded CQL agent (its critic, target critic and policy); the policy is frozen.

    Offers what ptr_trainer.online.OnlineTrainer and its telemetry use of an Agent: update,
    policy_state_bytes, state / load_state / save, losses, policy, generator, log_temp.
    """

    def __init__(self, agent: Agent, settings: ResidualSettings, lr: float = 3e-4,
                 q_lr: float = 3e-4, reg: float = 0.1, cql_alpha: float = 0.0,
                 calql: bool = False, uniform_actions: int = 4) -> None:
        if agent.critic is None or agent.target is None:
            raise ValueError(f'residual mode: agent.algo {agent.cfg.agent.algo!r} has no '
                             f'critic to rank actions with; start from a CQL agent')
        self.agent, self.cfg = agent, agent.cfg
        self.settings, self.reg = settings.validate(), float(reg)
        self.cql_alpha, self.calql = float(cql_alpha), bool(calql)
        self.uniform_actions = int(uniform_actions)
        self.device = agent.device
        base = copy.deepcopy(agent.deployed_net)
        self.net = ResidualNet(agent.cfg, settings, base, agent.critic).to(self.device)
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            'critic': adam(agent.critic.parameters(), q_lr),
            'residual': adam(self.net.head.parameters(), lr)}
        self._polyak = (list(agent.target.parameters()), list(agent.critic.parameters()))
        saved = agent.loaded_extra.get('residual')
        if saved is not None:
            self._restore(saved, 'checkpoint')

    # ---- what the online trainer and its telemetry use ----------------------------------------
    @property
    def policy(self) -> nn.Module:
        return self.net.base

    @property
    def generator(self) -> torch.Generator:
        return self.agent.generator

    @property
    def log_temp(self) -> torch.Tensor:
        return self.agent.log_temp

    @property
    def tasks(self) -> dict | None:
        return self.agent.tasks

    @property
    def loaded_extra(self) -> dict[str, Any]:
        return self.agent.loaded_extra

    @property
    def step(self) -> int:
        return self.agent.step

    @property
    def fingerprint(self) -> str:
        return residual_fingerprint(self.cfg, self.net)

    def _to(self, batch: Batch) -> Batch:
        return self.agent._to(batch)

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Critic TD loss plus the head's loss (disjoint gradients), and their metrics."""
        ac, n = self.cfg.agent, self.settings.samples
        critic, target, net = self.agent.critic, self.agent.target, self.net
        image, state, task = batch['image'], batch['state'], batch['task']
        with torch.no_grad():
            _, _, v_next = net.choose(batch['next_image'], batch['next_state'], task, n,
                                      self.generator, critic=target)
            y = batch['reward'] + ac.discount * (1.0 - batch['terminal']) * v_next
        obs_c = critic.embed(image, state)
        q_data = critic.q(obs_c, task, batch['action'])  # (E, B)
        obs_p = net.base.obs(image, state)
        cands, delta = net.corrected(obs_p, task, net.proposals(obs_p, task, n, self.generator))
        # Without the conservative term lse = Q(data) (detached): the gap is 0, the loss TD.
        lse = (self._conservative_lse(obs_c, task, cands.detach(), batch)
               if self.cql_alpha > 0 else q_data.detach())
        c_loss, metrics = critic_loss_from_values(q_data, y, lse, self.cql_alpha)
        q_pi = frozen_q(critic, obs_c, task, cands).min(dim=0).values  # (B, N)
        size = (delta / self.settings.bound).pow(2).mean()
        head_loss = -q_pi.mean() + self.reg * size
        metrics |= {'actor_loss': head_loss.detach(), 'q_pi': q_pi.mean().detach(),
                    'correction': delta.abs().mean().detach(),
                    'correction_max': delta.abs().max().detach()}
        return c_loss + head_loss, metrics

    def _conservative_lse(self, obs: torch.Tensor, task: torch.Tensor, cands: torch.Tensor,
                          batch: Batch) -> torch.Tensor:
        """logsumexp_a Q_e(s, a) (E, B), a over uniform actions and the corrected proposals
        (Cal-QL: those bounded below by the MC return); the gap subtracts Q(s, a_data)."""
        b = obs.shape[0]
        unif = draw('rand', (b, self.uniform_actions, ACTION_DIM), self.generator,
                    obs.device) * 2.0 - 1.0
        q = self.agent.critic.q(obs, task, torch.cat([unif, cands], dim=1))  # (E, B, Nu + N)
        q_unif, q_cand = q[..., :self.uniform_actions], q[..., self.uniform_actions:]
        if self.calql:
            if 'mc_return' not in batch:
                raise ValueError('residual calql: the batch needs an mc_return field')
            q_cand = torch.maximum(q_cand, batch['mc_return'].view(1, -1, 1))
        return torch.logsumexp(torch.cat([q_unif, q_cand], dim=-1), dim=-1)

    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient step of the critic and the head; metrics as Python floats."""
        self.agent.critic.train(True)
        self.net.head.train(True)
        total, metrics = self.losses(self._to(batch))
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        total.backward()
        for opt in self.optimizers.values():
            opt.step()
        with torch.no_grad():
            tgt, src = self._polyak
            torch._foreach_lerp_(tgt, src, self.cfg.agent.polyak)
        self.agent.step += 1
        self.agent._step_t += 1
        return {k: float(v) for k, v in metrics.items()}

    def policy_state_bytes(self, version: int = 0) -> bytes:
        """The ResidualPolicy's weights (frozen policy, critic, head) for ptr/policy_weights."""
        return weights_bytes(self.net, self.fingerprint, version)

    # ---- persistence: the agent's checkpoint with the head in extra['residual'] ---------------
    def _extra(self) -> dict[str, Any]:
        s = self.settings
        return {'bound': s.bound, 'samples': s.samples, 'hidden': list(s.hidden),
                'reg': self.reg, 'head': self.net.head.state_dict(),
                'optimizers': {k: o.state_dict() for k, o in self.optimizers.items()}}

    def state(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.agent.state((extra or {}) | {'residual': self._extra()})

    def save(self, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        return ckpt.save(path, self.state(extra))

    def load_state(self, payload: dict[str, Any], where: str = 'checkpoint',
                   restore_rng: bool = True) -> None:
        self.agent.load_state(payload, where, restore_rng)
        saved = (payload.get('extra') or {}).get('residual')
        if saved is None:
            raise ValueError(f'{where}: extra.residual: expected the residual head, got none')
        self._restore(saved, where)

    def _restore(self, saved: dict[str, Any], where: str) -> None:
        if float(saved['bound']) != self.settings.bound:
            raise ValueError(f'{where}: residual bound: expected {self.settings.bound}, got '
                             f'{saved["bound"]}')
        self.net.head.load_state_dict(saved['head'])
        for k, opt in self.optimizers.items():
            opt.load_state_dict(saved['optimizers'][k])

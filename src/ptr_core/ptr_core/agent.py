"""The learning agent: networks, optimizers, one update step, exact save/load.

The maths lives in ptr_core.algos; this class only wires modules and optimizers, steps them, and
keeps everything needed for an exact resume (weights, optimizer moments, RNG streams, step).
"""
from __future__ import annotations

import copy
import logging
import math
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ptr_core import checkpoint as ckpt
from ptr_core.algos import awbc_loss, bc_loss, cql_losses
from ptr_core.config import Config, parse_overrides
from ptr_core.nets import Critic
from ptr_core.policy import DeployablePolicy, PolicyNet, policy_fingerprint, weights_bytes

Batch = dict[str, torch.Tensor]
log = logging.getLogger('ptr_core.agent')

# Settings a checkpoint's optimizers or parameters also hold: after a load they are re-applied
# from the (possibly overridden) config, or the override would silently not take effect.
_LR_KEYS = {'actor': 'policy_lr', 'critic': 'q_lr', 'temperature': 'temperature_lr'}


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{'section.key': (old, new)} for every setting that differs between two Config dicts."""
    out: dict[str, tuple[Any, Any]] = {}
    for section, values in after.items():
        if not isinstance(values, dict):
            continue
        for k, v in values.items():
            old = before.get(section, {}).get(k)
            if old != v:
                out[f'{section}.{k}'] = (old, v)
    return out


def _rng_state() -> dict[str, Any]:
    return {'torch': torch.get_rng_state(), 'numpy': np.random.get_state(),
            'python': random.getstate()}


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s['torch'])
    np.random.set_state(s['numpy'])
    random.setstate(s['python'])


class Agent:
    """CQL / Cal-QL, BC or AW-BC on PTR's networks (`cfg.agent.algo`)."""

    def __init__(self, cfg: Config, tasks: dict | None = None, target_task: str | None = None,
                 device: str | None = None) -> None:
        self.cfg = cfg
        self.tasks, self.target_task = tasks, target_task
        self.changed_settings: dict[str, tuple[Any, Any]] = {}
        self.loaded_extra: dict[str, Any] = {}  # a loaded checkpoint's extra (Agent.load)
        self.device = torch.device(device or cfg.train.device)
        torch.manual_seed(cfg.train.seed)
        algo = cfg.agent.algo
        net = cfg.network
        self.critic: Critic | None = Critic(net) if algo in ('cql', 'awbc') else None
        self.policy = PolicyNet(cfg)
        if net.shared_encoder and self.critic is not None and not cfg.agent.unshare_encoder:
            self.policy.encoder = self.critic.encoder  # the same module: one set of weights
        self.target: Critic | None = None
        if algo == 'cql':
            self.target = copy.deepcopy(self.critic)
            self.target.requires_grad_(False)
        self.frozen_policy: PolicyNet | None = None  # AW-BC: the critic's own actor
        # The deployed policy when cfg.agent.policy_ema > 0: an exponential average of the
        # trained one (its own copy of the encoder, so a shared encoder is averaged too).
        self.policy_avg: PolicyNet | None = None
        if cfg.agent.policy_ema > 0:
            self.policy_avg = copy.deepcopy(self.policy).requires_grad_(False)
        self.log_temp = nn.Parameter(torch.tensor(math.log(cfg.agent.init_temperature)),
                                     requires_grad=algo == 'cql' and cfg.agent.auto_entropy)
        self._to_device()
        ac = cfg.agent
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            'actor': torch.optim.Adam(self.policy.actor.parameters() if self.encoder_shared
                                      else self.policy.parameters(), lr=ac.policy_lr)}
        if algo == 'cql':
            self.optimizers['critic'] = torch.optim.Adam(self.critic.parameters(), lr=ac.q_lr)
            if ac.auto_entropy:
                self.optimizers['temperature'] = torch.optim.Adam([self.log_temp],
                                                                  lr=ac.temperature_lr)
        if algo == 'awbc':
            self.critic.requires_grad_(False)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.train.seed + 1)
        self.step = 0
        self._step_t = torch.zeros((), dtype=torch.int64, device=self.device)
        self._polyak_pairs = self._target_pairs()
        self._avg_pairs = self._policy_avg_pairs()
        self._ddp: nn.Module | None = None  # set by enable_ddp (ptr_core.distributed)
        self._step_fn = self._update_impl
        if cfg.train.compile:
            self._step_fn = torch.compile(self._update_impl)

    # ---- construction helpers ---------------------------------------------------------------
    def _to_device(self) -> None:
        for m in (self.critic, self.target, self.policy, self.policy_avg):
            if m is not None:
                m.to(self.device)
        self.log_temp.data = self.log_temp.data.to(self.device)

    def _target_pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if self.target is None:
            return [], []
        tgt = list(self.target.parameters())
        src = list(self.critic.parameters())
        return tgt, src

    def _policy_avg_pairs(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if self.policy_avg is None:
            return [], []
        return list(self.policy_avg.parameters()), list(self.policy.parameters())

    @property
    def deployed_net(self) -> PolicyNet:
        """The policy that is deployed and published: the average when there is one."""
        return self.policy_avg if self.policy_avg is not None else self.policy

    @property
    def encoder_shared(self) -> bool:
        """True when the actor reads the critic's encoder module itself (trained by the critic)."""
        return self.critic is not None and self.policy.encoder is self.critic.encoder

    @property
    def fingerprint(self) -> str:
        """Architecture fingerprint of the deployable policy."""
        return policy_fingerprint(self.cfg, self.policy)

    # ---- learning ----------------------------------------------------------------------------
    def _to(self, batch: Batch) -> Batch:
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss of one step and its metrics (no parameter change)."""
        ac = self.cfg.agent
        if ac.algo == 'cql':
            return cql_losses(self.critic, self.target, self.policy, self.log_temp, batch, ac,
                              self.generator, self._step_t, self.encoder_shared)
        if ac.algo == 'bc':
            return bc_loss(self.policy, batch)
        return awbc_loss(self.policy, self.critic, batch, ac, self.generator, self.frozen_policy)

    def enable_ddp(self) -> None:
        """Average gradients over the torch.distributed group (DDP); noise sharded per rank."""
        from ptr_core.distributed import wrap_agent
        wrap_agent(self)

    def _update_impl(self, batch: Batch) -> dict[str, torch.Tensor]:
        total, metrics = self._ddp(batch) if self._ddp is not None else self.losses(batch)
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        total.backward()
        if self.cfg.agent.grad_clip > 0:
            for name, opt in self.optimizers.items():
                params = [p for g in opt.param_groups for p in g['params']]
                metrics[f'grad_norm_{name}'] = nn.utils.clip_grad_norm_(
                    params, self.cfg.agent.grad_clip)
        for opt in self.optimizers.values():
            opt.step()
        if self.target is not None:
            with torch.no_grad():
                tgt, src = self._polyak_pairs
                torch._foreach_lerp_(tgt, src, self.cfg.agent.polyak)
        return metrics

    @torch.no_grad()
    def _update_policy_avg(self) -> None:
        # Warm start: decay (1 + t) / (10 + t) until it reaches policy_ema, so a short run (a
        # 200-step reset policy) is not dominated by its initial weights.
        decay = min(self.cfg.agent.policy_ema, (1 + self.step) / (10 + self.step))
        avg, src = self._avg_pairs
        torch._foreach_lerp_(avg, src, 1.0 - decay)
        for b_avg, b in zip(self.policy_avg.buffers(), self.policy.buffers()):
            b_avg.copy_(b)

    def update_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One gradient step; metrics stay on the device (no host sync)."""
        self.policy.train()
        if self.critic is not None:
            self.critic.train(self.cfg.agent.algo == 'cql')
        metrics = self._step_fn(self._to(batch))
        if self.policy_avg is not None:
            self._update_policy_avg()
        self.step += 1
        self._step_t += 1
        return metrics

    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient step; metrics as Python floats."""
        return {k: float(v) for k, v in self.update_step(batch).items()}

    @torch.no_grad()
    def q_values(self, batch: Batch) -> torch.Tensor:
        """min_e Q_e(s, a) of the batch's own actions, (B,), in eval mode."""
        if self.critic is None:
            raise ValueError(f'q_values: algo {self.cfg.agent.algo!r} has no critic')
        self.critic.eval()
        b = self._to(batch)
        q = self.critic(b['image'], b['state'], b['task'], b['action'])
        return q.min(dim=0).values

    # ---- policy ------------------------------------------------------------------------------
    def policy_state_bytes(self, version: int = 0) -> bytes:
        """The deployable policy's weights for ptr/policy_weights (DeployablePolicy format)."""
        return weights_bytes(self.deployed_net, self.fingerprint, version)

    def deployable(self, task: str | int | None = None) -> DeployablePolicy:
        net = PolicyNet(self.cfg)
        net.load_state_dict({k: v.detach().cpu()
                             for k, v in self.deployed_net.state_dict().items()})
        return DeployablePolicy(self.cfg, net, self.tasks, task, self.target_task, 'cpu',
                                self.step)

    # ---- persistence -------------------------------------------------------------------------
    def state(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        payload = {
            'format': ckpt.AGENT_FORMAT, 'config': self.cfg.to_dict(), 'tasks': self.tasks,
            'target_task': self.target_task, 'step': self.step,
            'policy_fingerprint': self.fingerprint,
            'actor': self.policy.state_dict(),
            'actor_avg': self.policy_avg.state_dict() if self.policy_avg is not None else None,
            'critic': self.critic.state_dict() if self.critic is not None else None,
            'target': self.target.state_dict() if self.target is not None else None,
            'frozen_policy': (self.frozen_policy.state_dict()
                              if self.frozen_policy is not None else None),
            'log_temp': self.log_temp.detach().clone(),
            'optimizers': {k: o.state_dict() for k, o in self.optimizers.items()},
            'rng': _rng_state() | {'generator': self.generator.get_state()},
            'extra': extra or {},
        }
        return payload

    def save(self, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        """Atomic, self-describing checkpoint (config, task registry, fingerprint, all state)."""
        return ckpt.save(path, self.state(extra))

    @classmethod
    def load(cls, path: str | os.PathLike, overrides: list[str] | None = None,
             device: str | None = None, restore_rng: bool = True) -> 'Agent':
        """Rebuild from a checkpoint; `overrides` may change training settings, not the network.

        Overridden settings take effect: learning rates are written into the restored optimizers
        and an overridden `agent.init_temperature` replaces the saved temperature. Each changed
        setting is logged and kept in `agent.changed_settings`.
        """
        payload = ckpt.load(path, ckpt.AGENT_FORMAT)
        cfg = Config.from_dict(payload['config'], f'{path}: config')
        before = cfg.to_dict()
        if overrides:
            parse_overrides(cfg, overrides)
            if cfg.to_dict()['network'] != before['network']:
                raise ckpt.CheckpointError(f'{path}: network.*: a loaded agent keeps its '
                                           f'architecture; drop the network overrides')
        agent = cls(cfg, payload.get('tasks'), payload.get('target_task'), device)
        agent.changed_settings = config_changes(before, cfg.to_dict())
        agent.load_state(payload, str(path), restore_rng)
        agent.loaded_extra = dict(payload.get('extra') or {})  # what the saver added
        for key, (old, new) in agent.changed_settings.items():
            log.info('%s: %s %r -> %r (override)', path, key, old, new)
        return agent

    def load_state(self, payload: dict[str, Any], where: str = 'checkpoint',
                   restore_rng: bool = True) -> None:
        if payload.get('policy_fingerprint') not in (None, self.fingerprint):
            raise ckpt.CheckpointError(f'{where}: policy_fingerprint: expected '
                                       f'{self.fingerprint}, got {payload["policy_fingerprint"]}')
        self.policy.load_state_dict(payload['actor'])
        if self.policy_avg is not None:  # no saved average (it was off): start from the actor
            self.policy_avg.load_state_dict(payload.get('actor_avg') or payload['actor'])
        if self.critic is not None and payload.get('critic') is not None:
            self.critic.load_state_dict(payload['critic'])
        if self.target is not None and payload.get('target') is not None:
            self.target.load_state_dict(payload['target'])
        if payload.get('frozen_policy') is not None:
            self.frozen_policy = PolicyNet(self.cfg).to(self.device)
            self.frozen_policy.load_state_dict(payload['frozen_policy'])
            self.frozen_policy.requires_grad_(False)
        with torch.no_grad():
            if 'agent.init_temperature' in self.changed_settings:
                self.log_temp.fill_(math.log(self.cfg.agent.init_temperature))
            else:
                self.log_temp.copy_(payload['log_temp'])
        saved_cfg = payload.get('config', {}).get('agent', {})
        # A shared-encoder actor's optimizer covered the head only; unsharing adds the encoder.
        unshared_before = saved_cfg.get('unshare_encoder', False)
        fresh_actor = bool(self.cfg.network.shared_encoder
                           and unshared_before != self.cfg.agent.unshare_encoder)
        for k, opt in self.optimizers.items():
            if k in payload.get('optimizers', {}) and not (k == 'actor' and fresh_actor):
                opt.load_state_dict(payload['optimizers'][k])
            for group in opt.param_groups:  # the config's rate, not the checkpoint's
                group['lr'] = getattr(self.cfg.agent, _LR_KEYS[k])
        self.step = int(payload['step'])
        self._step_t.fill_(self.step)
        if restore_rng:
            _set_rng_state(payload['rng'])
            self.generator.set_state(payload['rng']['generator'])

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

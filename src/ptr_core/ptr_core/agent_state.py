"""An agent's checkpoint payload: what it holds, and how a load rebuilds and restores an agent.

Kept beside ptr_core.agent so the learner classes stay about learning; every learner shares it
(a checkpoint names its algorithm in its config, and Agent.load builds that class).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ptr_core import checkpoint as ckpt
from ptr_core.config import Config, parse_overrides, validate
from ptr_core.policy import PolicyNet

if TYPE_CHECKING:
    from ptr_core.agent import Agent

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


def payload(agent: Agent, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything an exact resume needs: config, tasks, step, weights, optimizers, RNG."""
    payload = {
        'format': ckpt.AGENT_FORMAT, 'config': agent.cfg.to_dict(), 'tasks': agent.tasks,
        'target_task': agent.target_task, 'step': agent.step,
        'policy_fingerprint': agent.fingerprint,
        'actor': agent.policy.state_dict(),
        'actor_avg': agent.policy_avg.state_dict() if agent.policy_avg is not None else None,
        'critic': agent.critic.state_dict() if agent.critic is not None else None,
        'target': agent.target.state_dict() if agent.target is not None else None,
        'frozen_policy': (agent.frozen_policy.state_dict()
                          if agent.frozen_policy is not None else None),
        'log_temp': agent.log_temp.detach().clone(),
        'optimizers': {k: o.state_dict() for k, o in agent.optimizers.items()},
        'rng': _rng_state() | {'generator': agent.generator.get_state()},
        'extra': extra or {},
    }
    return payload


def load(cls: type[Agent], path: str | os.PathLike, overrides: list[str] | None = None,
         device: str | None = None, restore_rng: bool = True,
         changes: dict[str, Any] | None = None) -> Agent:
    """Rebuild from a checkpoint; `overrides` may change training settings, not the network.

    `overrides` are the user's 'section.key=value' strings; `changes` typed agent.* values
    (e.g. the online trainer's). Both take effect: learning rates are written into the restored
    optimizers and a changed `agent.init_temperature` replaces the saved temperature. Each
    changed setting is logged and kept in `agent.changed_settings`.
    """
    payload = ckpt.load(path, ckpt.AGENT_FORMAT)
    cfg = Config.from_dict(payload['config'], f'{path}: config')
    before = cfg.to_dict()
    if overrides:
        parse_overrides(cfg, overrides)
    if changes:
        cfg.agent = dataclasses.replace(cfg.agent, **changes)
        validate(cfg)
    if overrides or changes:
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


def restore(agent: Agent, payload: dict[str, Any], where: str = 'checkpoint',
               restore_rng: bool = True) -> None:
    """Put a payload's state into a freshly built agent of the same architecture."""
    if payload.get('policy_fingerprint') not in (None, agent.fingerprint):
        raise ckpt.CheckpointError(f'{where}: policy_fingerprint: expected '
                                   f'{agent.fingerprint}, got {payload["policy_fingerprint"]}')
    agent.policy.load_state_dict(payload['actor'])
    if agent.policy_avg is not None:  # no saved average (it was off): start from the actor
        agent.policy_avg.load_state_dict(payload.get('actor_avg') or payload['actor'])
    if agent.critic is not None and payload.get('critic') is not None:
        agent.critic.load_state_dict(payload['critic'])
    if agent.target is not None and payload.get('target') is not None:
        agent.target.load_state_dict(payload['target'])
    if payload.get('frozen_policy') is not None:
        agent.frozen_policy = PolicyNet(agent.cfg).to(agent.device)
        agent.frozen_policy.load_state_dict(payload['frozen_policy'])
        agent.frozen_policy.requires_grad_(False)
    with torch.no_grad():
        if 'agent.init_temperature' in agent.changed_settings:
            agent.log_temp.fill_(math.log(agent.cfg.agent.init_temperature))
        else:
            agent.log_temp.copy_(payload['log_temp'])
    saved_cfg = payload.get('config', {}).get('agent', {})
    # A shared-encoder actor's optimizer covered the head only; unsharing adds the encoder.
    unshared_before = saved_cfg.get('unshare_encoder', False)
    fresh_actor = bool(agent.cfg.network.shared_encoder
                       and unshared_before != agent.cfg.agent.unshare_encoder)
    for k, opt in agent.optimizers.items():
        if k in payload.get('optimizers', {}) and not (k == 'actor' and fresh_actor):
            opt.load_state_dict(payload['optimizers'][k])
        for group in opt.param_groups:  # the config's rate, not the checkpoint's
            group['lr'] = getattr(agent.cfg.agent, _LR_KEYS[k])
    agent.step = int(payload['step'])
    agent._step_t.fill_(agent.step)
    if restore_rng:
        _set_rng_state(payload['rng'])
        agent.generator.set_state(payload['rng']['generator'])

"""Behaviour cloning baselines on the same networks: BC (deterministic MSE) and AW-BC."""
from __future__ import annotations

import torch
from torch import nn

from ptr_core.config import AgentConfig
from ptr_core.constants import ACTION_DIM
from ptr_core.nets import Critic, tanh_gaussian_sample
from ptr_core.nets.noise import draw

Metrics = dict[str, torch.Tensor]


def bc_loss(policy: nn.Module, batch: dict[str, torch.Tensor],
            weights: torch.Tensor | None = None) -> tuple[torch.Tensor, Metrics]:
    """mean_b w_b * mean_a (tanh(mu(s)) - a)^2; dropout lives in the actor MLP (train mode).

    `policy` is a ptr_core.policy.PolicyNet (its `obs` handles own or shared encoders).
    """
    pred = policy.actor.greedy(policy.obs(batch['image'], batch['state']), batch['task'])
    per = (pred - batch['action']).pow(2).mean(dim=-1)
    loss = (per * weights).mean() if weights is not None else per.mean()
    return loss, {'bc_loss': loss.detach(), 'bc_mse': per.mean().detach()}


def awbc_weights(q_data: torch.Tensor, q_samples: torch.Tensor, temperature: float,
                 max_weight: float) -> torch.Tensor:
    """W = min(exp((Q(s,a) - max_a' Q(s,a')) / T), max_weight); max over sampled actions (B, N)."""
    return torch.exp((q_data - q_samples.max(dim=-1).values) / temperature).clamp(max=max_weight)


def awbc_loss(policy: nn.Module, critic: Critic, batch: dict[str, torch.Tensor], cfg: AgentConfig,
              generator: torch.Generator, q_policy: nn.Module | None = None
              ) -> tuple[torch.Tensor, Metrics]:
    """Advantage-weighted BC from a frozen critic (min over its ensemble).

    max_a' Q(s, a') is estimated over uniform samples plus, when the critic's own actor is given,
    samples from it (they concentrate where Q is high).
    """
    with torch.no_grad():
        obs = critic.embed(batch['image'], batch['state'])
        b, n = obs.shape[0], cfg.awbc_num_actions
        cand = [draw('rand', (b, n, ACTION_DIM), generator, obs.device) * 2 - 1]
        if q_policy is not None:
            a_obs = q_policy.obs(batch['image'], batch['state'])
            mean, log_std = q_policy.actor.dist(a_obs, batch['task'])
            cand.append(tanh_gaussian_sample(mean, log_std, n, generator)[0])
        acts = torch.cat([batch['action'].unsqueeze(1)] + cand, dim=1)
        q = critic.q(obs, batch['task'], acts).min(dim=0).values  # (B, 1 + samples)
        w = awbc_weights(q[:, 0], q[:, 1:], cfg.awbc_temperature, cfg.awbc_max_weight)
    loss, metrics = bc_loss(policy, batch, w)
    metrics['awbc_weight'] = w.mean()
    return loss, metrics

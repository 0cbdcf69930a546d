"""Multi-task CQL(H) with PTR's choices and the Cal-QL lower bound, as named pure functions.

Shapes: E critics, B observations, N sampled actions. Every function returns (loss, metrics) with
metrics as detached tensors, so a training step never synchronizes with the host.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call

from ptr_core.config import AgentConfig
from ptr_core.constants import ACTION_DIM
from ptr_core.nets import Critic, tanh_gaussian_log_prob, tanh_gaussian_sample
from ptr_core.nets.noise import draw

Metrics = dict[str, torch.Tensor]


def td_target(q_next_target: torch.Tensor, logp_next: torch.Tensor, reward: torch.Tensor,
              terminal: torch.Tensor, temperature: torch.Tensor, cfg: AgentConfig
              ) -> torch.Tensor:
    """Y = r + gamma (1 - d) V(s'), V = max over sampled a' (max-backup) of min_e Q'_e(s', a').

    Without max-backup only the first sampled next action is used. With `backup_entropy`,
    temperature * log pi(a'|s') is subtracted per sample before the max.
    """
    v = q_next_target.min(dim=0).values  # (B, Nn): pessimistic over the ensemble
    if cfg.backup_entropy:
        v = v - temperature * logp_next
    v = v.max(dim=-1).values if cfg.max_backup else v[:, 0]
    return reward + cfg.discount * (1.0 - terminal) * v


def conservative_logsumexp(q_uniform: torch.Tensor, q_pi: torch.Tensor, logp_pi: torch.Tensor,
                           q_next: torch.Tensor | None, logp_next: torch.Tensor | None,
                           q_data: torch.Tensor, cfg: AgentConfig,
                           mc_return: torch.Tensor | None = None) -> torch.Tensor:
    """Log sum_a exp Q(s, a) over the sampled actions -> (E, B).

    Importance sampling (CQL code, min_q_version 3): each sample's Q minus its proposal's
    log-density (uniform: -A log 2; policy: log pi, detached). Cal-QL: the policy samples' Q-values
    are first lower-bounded by the Monte-Carlo return, so the penalty cannot push Q below it.
    Without importance sampling the data action's Q joins the plain logsumexp.
    """
    if cfg.calql:
        if mc_return is None:
            raise ValueError('agent.calql: the batch needs an mc_return field')
        bound = mc_return.view(1, -1, 1)
        q_pi = torch.maximum(q_pi, bound)
        q_next = torch.maximum(q_next, bound) if q_next is not None else None
    parts: list[torch.Tensor]
    if cfg.importance_sampling:
        parts = [q_uniform + ACTION_DIM * math.log(2.0), q_pi - logp_pi.detach().unsqueeze(0)]
        if q_next is not None:
            parts.append(q_next - logp_next.detach().unsqueeze(0))
    else:
        parts = [q_uniform, q_pi] + ([q_next] if q_next is not None else [])
        parts.append(q_data.unsqueeze(-1))
    return torch.logsumexp(torch.cat(parts, dim=-1), dim=-1)


def critic_loss_from_values(q_data: torch.Tensor, target: torch.Tensor, lse: torch.Tensor,
                            alpha: float) -> tuple[torch.Tensor, Metrics]:
    """mean_e [ mean_b (Q_e - y)^2 + alpha * mean_b (lse_e - Q_e) ] (CQL(H), per critic)."""
    td = (q_data - target.detach().unsqueeze(0)).pow(2).mean(dim=1)  # (E,)
    gap = (lse - q_data).mean(dim=1)  # (E,)
    loss = (td + alpha * gap).mean()
    return loss, {'critic_loss': loss.detach(), 'td_loss': td.mean().detach(),
                  'cql_gap': gap.mean().detach(), 'q_data': q_data.mean().detach(),
                  'target': target.mean().detach()}


def actor_loss_from_values(q_pi: torch.Tensor, logp_pi: torch.Tensor, temperature: torch.Tensor,
                           bc_logp: torch.Tensor | None = None,
                           bc_phase: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, Metrics]:
    """mean[temperature * log pi - min_e Q_e(s, a~pi)]; during BC warm-start -log pi(a_data).

    q_pi (E, B, N) with gradient only through the actions; `bc_phase` is a 0-d bool tensor, so the
    switch needs no host sync.
    """
    rl = (temperature.detach() * logp_pi - q_pi.min(dim=0).values).mean()
    loss = rl
    if bc_logp is not None and bc_phase is not None:
        bc = (temperature.detach() * logp_pi).mean() - bc_logp.mean()
        loss = torch.where(bc_phase, bc, rl)
    return loss, {'actor_loss': loss.detach(), 'entropy': -logp_pi.mean().detach()}


def temperature_loss(log_temp: torch.Tensor, logp_pi: torch.Tensor, target_entropy: float
                     ) -> tuple[torch.Tensor, Metrics]:
    """SAC's automatic entropy tuning: drive E[-log pi] towards target_entropy."""
    loss = -(log_temp * (logp_pi.detach() + target_entropy)).mean()
    return loss, {'temperature': log_temp.detach().exp(), 'temperature_loss': loss.detach()}


def frozen_q(critic: Critic, obs: torch.Tensor, task: torch.Tensor, actions: torch.Tensor
              ) -> torch.Tensor:
    """Q-values whose gradient reaches the actions only (the critic's weights are detached)."""
    params = {k: v.detach() for k, v in critic.head.named_parameters()}
    return functional_call(critic.head, params, (obs.detach(), task, actions))


@torch.no_grad()
def _targets_and_uniform_actions(critic: Critic, target_critic: Critic, policy: nn.Module,
                                 batch: dict[str, torch.Tensor], temperature: torch.Tensor,
                                 cfg: AgentConfig, generator: torch.Generator, shared: bool
                                 ) -> tuple[torch.Tensor, ...]:
    """TD targets from next-state policy actions, those actions with their log-probs, and the
    uniform actions of the CQL term; drawn from `generator` after the policy's own samples."""
    next_img, next_state, task = batch['next_image'], batch['next_state'], batch['task']
    next_actor_obs = (critic.embed(next_img, next_state) if shared
                      else policy.obs(next_img, next_state))
    n_mean, n_log_std = policy.actor.dist(next_actor_obs, task)
    a_next, logp_next = tanh_gaussian_sample(n_mean, n_log_std, cfg.num_next_actions, generator)
    target_obs = target_critic.embed(next_img, next_state)
    q_next_target = target_critic.q(target_obs, task, a_next)
    target = td_target(q_next_target, logp_next, batch['reward'], batch['terminal'],
                       temperature, cfg)
    b = next_img.shape[0]
    a_unif = draw('rand', (b, cfg.num_uniform_actions, ACTION_DIM), generator,
                  next_img.device) * 2.0 - 1.0
    return target, a_next, logp_next, a_unif


def cql_losses(critic: Critic, target_critic: Critic, policy: nn.Module, log_temp: torch.Tensor,
               batch: dict[str, torch.Tensor], cfg: AgentConfig, generator: torch.Generator,
               step: torch.Tensor, shared: bool) -> tuple[torch.Tensor, Metrics]:
    """All losses of one CQL step; their sum has disjoint gradients per optimizer.

    `policy` is a ptr_core.policy.PolicyNet; with `shared` its encoder is the critic's and it
    reads the critic's (detached) embedding, otherwise its own.

    Each observation is encoded once per network; the embeddings are tiled across sampled
    actions inside the Q head. Critic Q-values of the data, uniform, policy and next-policy actions
    come from one batched head call.
    """
    image, state, task = batch['image'], batch['state'], batch['task']
    temperature = log_temp.exp()
    actor = policy.actor
    obs = critic.embed(image, state)  # (B, D) with gradient
    actor_obs = obs.detach() if shared else policy.obs(image, state)
    mean, log_std = actor.dist(actor_obs, task)
    n_pi = max(1, cfg.num_policy_actions)
    a_pi, logp_pi = tanh_gaussian_sample(mean, log_std, n_pi, generator)

    target, a_next, logp_next, a_unif = _targets_and_uniform_actions(
        critic, target_critic, policy, batch, temperature, cfg, generator, shared)

    n_u, n_p = cfg.num_uniform_actions, cfg.num_policy_actions
    use_next = cfg.next_actions_in_lse
    actions = [batch['action'].unsqueeze(1), a_unif, a_pi[:, :n_p].detach()]
    if use_next:
        actions.append(a_next)
    q_all = critic.q(obs, task, torch.cat(actions, dim=1))  # (E, B, 1 + Nu + Np [+ Nn])
    q_data = q_all[:, :, 0]
    q_unif = q_all[:, :, 1:1 + n_u]
    q_pi = q_all[:, :, 1 + n_u:1 + n_u + n_p]
    q_nx = q_all[:, :, 1 + n_u + n_p:] if use_next else None
    lse = conservative_logsumexp(q_unif, q_pi, logp_pi[:, :n_p], q_nx,
                                 logp_next if use_next else None, q_data, cfg,
                                 batch.get('mc_return'))
    c_loss, metrics = critic_loss_from_values(q_data, target, lse, cfg.cql_alpha)
    if cfg.calql and 'mc_return' in batch:  # how often the Cal-QL bound replaced Q(s, a~pi)
        metrics['calql_bound_rate'] = (q_pi < batch['mc_return'].view(1, -1, 1)).float().mean()

    q_actor = frozen_q(critic, obs, task, a_pi)
    bc_logp = bc_phase = None
    if cfg.bc_warmstart_steps > 0:
        bc_logp = tanh_gaussian_log_prob(mean, log_std, batch['action'])
        bc_phase = step < cfg.bc_warmstart_steps
    a_loss, a_metrics = actor_loss_from_values(q_actor, logp_pi, temperature, bc_logp, bc_phase)
    metrics.update(a_metrics)
    total = c_loss + a_loss
    if cfg.auto_entropy:
        t_loss, t_metrics = temperature_loss(log_temp, logp_pi, cfg.target_entropy)
        total = total + t_loss
        metrics.update(t_metrics)
    else:
        metrics['temperature'] = temperature.detach()
    return total, metrics

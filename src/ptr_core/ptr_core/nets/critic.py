"""Ensemble Q-function with the action (and observation embedding) fed to every layer.

A layer's input is concat(h, action, obs); we keep the weights split into the three blocks, which
is the same linear map, so that the observation block is computed ONCE per observation and
broadcast over the N sampled actions, and the action blocks of all layers are one matmul. The E
critics live in stacked weights and run in one batched call.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ptr_core.config import NetworkConfig
from ptr_core.constants import ACTION_DIM, STATE_DIM
from ptr_core.nets.encoder import Encoder
from ptr_core.nets.state import scale_state


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class EnsembleQHead(nn.Module):
    """E MLPs Q_e(obs, task, action); obs = (B, obs_dim), actions = (B, N, A) -> (E, B, N)."""

    def __init__(self, obs_dim: int, num_tasks: int, hidden: tuple[int, ...], num_qs: int = 2,
                 action_dim: int = ACTION_DIM, every_layer: bool = True,
                 layer_norm: bool = False) -> None:
        super().__init__()
        self.num_qs, self.hidden, self.every_layer = num_qs, tuple(hidden), every_layer
        self.num_tasks = num_tasks
        fed = hidden if every_layer else hidden[:1]  # layers that see action and obs
        sum_fed = sum(fed)
        e = num_qs
        fan = [obs_dim + action_dim + num_tasks] + [
            h + (obs_dim + action_dim if every_layer else 0) for h in hidden[:-1]]
        # Per-layer fan-in decides the init scale of every block of that layer.
        scale = torch.cat([torch.full((h,), 1.0 / math.sqrt(f)) for h, f in zip(fed, fan)])
        self.w_obs = nn.Parameter(torch.empty(e, obs_dim, sum_fed).uniform_(-1, 1) * scale)
        self.w_act = nn.Parameter(torch.empty(e, action_dim, sum_fed).uniform_(-1, 1) * scale)
        self.w_task = _uniform((e, num_tasks, hidden[0]), fan[0])
        self.bias = nn.ParameterList([_uniform((e, 1, h), f) for h, f in zip(hidden, fan)])
        self.w_hidden = nn.ParameterList(
            [_uniform((e, hidden[i - 1], hidden[i]), fan[i]) for i in range(1, len(hidden))])
        self.w_out = _uniform((e, hidden[-1], 1), hidden[-1])
        self.b_out = _uniform((e, 1, 1), hidden[-1])
        self.fed = tuple(fed)
        # RLPD: LayerNorm before each hidden ReLU (a gain and a bias per critic and unit) keeps
        # Q from extrapolating without bound on actions the data never had.
        self.ln_gain = nn.ParameterList([nn.Parameter(torch.ones(e, 1, h)) for h in hidden]
                                        if layer_norm else [])
        self.ln_bias = nn.ParameterList([nn.Parameter(torch.zeros(e, 1, h)) for h in hidden]
                                        if layer_norm else [])

    def forward(self, obs: torch.Tensor, task: torch.Tensor, actions: torch.Tensor
                ) -> torch.Tensor:
        b, n, _ = actions.shape
        e = self.num_qs
        o = torch.matmul(obs.unsqueeze(0), self.w_obs)  # (E, B, sumH): once per observation
        a = torch.matmul(actions.reshape(1, b * n, -1), self.w_act)  # (E, B*N, sumH)
        o_parts = o.split(self.fed, dim=-1)
        a_parts = a.split(self.fed, dim=-1)
        t = self.w_task[:, task]  # (E, B, H0): the one-hot input block is a row gather
        h = None  # (E, B*N, H): batched matmuls, never broadcast-expanded weights
        for i, width in enumerate(self.hidden):
            if i < len(self.fed):
                side = (o_parts[i] + (t if i == 0 else 0) + self.bias[i]).unsqueeze(2)
                pre = a_parts[i].view(e, b, n, width) + side  # (E, B, N, H)
                if h is not None:
                    pre = pre + torch.bmm(h, self.w_hidden[i - 1]).view(e, b, n, width)
                pre = pre.view(e, b * n, width)
            else:
                pre = torch.baddbmm(self.bias[i], h, self.w_hidden[i - 1])
            if self.ln_gain:
                pre = torch.addcmul(self.ln_bias[i], F.layer_norm(pre, (width,)),
                                    self.ln_gain[i])
            h = torch.relu(pre)
        q = torch.baddbmm(self.b_out, h, self.w_out)  # (E, B*N, 1)
        return q.view(e, b, n)


class Critic(nn.Module):
    """Critic encoder + ensemble head; `embed` once, then `q` for any number of actions."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        self.encoder = Encoder(cfg)
        self.scale, self.use_state = cfg.state_scaling, cfg.use_state
        self.obs_dim = self.encoder.out_dim + STATE_DIM
        self.head = EnsembleQHead(self.obs_dim, cfg.num_tasks, cfg.q_hidden, cfg.num_qs,
                                  ACTION_DIM, cfg.q_concat_every_layer, cfg.q_layer_norm)

    def embed(self, image: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        state = scale_state(state, self.scale, self.use_state)
        return torch.cat([self.encoder(image), state], dim=-1)

    def q(self, obs: torch.Tensor, task: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Obs (B, D), task (B,), actions (B, N, A) or (B, A) -> (E, B, N) or (E, B)."""
        if actions.dim() == 2:
            return self.head(obs, task, actions.unsqueeze(1)).squeeze(-1)
        return self.head(obs, task, actions)

    def forward(self, image: torch.Tensor, state: torch.Tensor, task: torch.Tensor,
                actions: torch.Tensor) -> torch.Tensor:
        return self.q(self.embed(image, state), task, actions)

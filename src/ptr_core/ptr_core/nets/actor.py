"""Tanh-Gaussian policy that sees the image embedding, the 7-d state and the task one-hot."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ptr_core.config import NetworkConfig
from ptr_core.constants import ACTION_DIM, STATE_DIM
from ptr_core.nets.encoder import Encoder
from ptr_core.nets.noise import ShardedGenerator, draw
from ptr_core.nets.state import scale_state

_LOG_2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def tanh_gaussian_sample(mean: torch.Tensor, log_std: torch.Tensor, num: int,
                         generator: torch.Generator | ShardedGenerator | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reparametrized samples (B, num, A) and their log-densities (B, num) of tanh(N(mu, s))."""
    b, a = mean.shape
    eps = draw('randn', (b, num, a), generator, mean.device, mean.dtype)
    std = log_std.exp().unsqueeze(1)
    u = mean.unsqueeze(1) + std * eps
    # log N(u) - sum log(1 - tanh(u)^2), the latter in the stable softplus form.
    logp = (-0.5 * eps.pow(2) - log_std.unsqueeze(1) - _HALF_LOG_2PI).sum(-1)
    logp = logp - (2.0 * (_LOG_2 - u - F.softplus(-2.0 * u))).sum(-1)
    return torch.tanh(u), logp


def tanh_gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, action: torch.Tensor,
                           clip: float = 0.999) -> torch.Tensor:
    """Log pi(action) for actions in (-1, 1) (B, A) -> (B,); used by BC warm-start (COG)."""
    a = action.clamp(-clip, clip)
    u = torch.atanh(a)
    z = (u - mean) / log_std.exp()
    logp = (-0.5 * z.pow(2) - log_std - _HALF_LOG_2PI).sum(-1)
    return logp - torch.log1p(-a.pow(2)).sum(-1)


class Actor(nn.Module):
    """MLP (ReLU, optional dropout) -> mean and clipped log-std of a tanh-Gaussian."""

    def __init__(self, cfg: NetworkConfig, own_encoder: bool = True,
                 embed_dim: int | None = None) -> None:
        super().__init__()
        self.encoder = Encoder(cfg) if own_encoder else None
        dim = self.encoder.out_dim if self.encoder is not None else int(embed_dim or 0)
        self.num_tasks = cfg.num_tasks
        self.scale, self.use_state = cfg.state_scaling, cfg.use_state
        self.log_std_min, self.log_std_max = cfg.log_std_min, cfg.log_std_max
        layers: list[nn.Module] = []
        fan = dim + STATE_DIM + cfg.num_tasks
        for h in cfg.policy_hidden:
            layers += [nn.Linear(fan, h), nn.ReLU()]
            if cfg.policy_dropout > 0:
                layers.append(nn.Dropout(cfg.policy_dropout))
            fan = h
        self.trunk = nn.Sequential(*layers)
        self.out = nn.Linear(fan, 2 * ACTION_DIM)

    def embed(self, image: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """Image embedding (own encoder) concatenated with the state."""
        assert self.encoder is not None, 'shared-encoder actors are fed embeddings'
        state = scale_state(state, self.scale, self.use_state)
        return torch.cat([self.encoder(image), state], dim=-1)

    def dist(self, obs: torch.Tensor, task: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Obs = concat(embedding, state) (B, D), task (B,) -> mean, log_std (B, A)."""
        x = torch.cat([obs, F.one_hot(task, self.num_tasks).to(obs.dtype)], dim=-1)
        mean, log_std = self.out(self.trunk(x)).chunk(2, dim=-1)
        return mean, log_std.clamp(self.log_std_min, self.log_std_max)

    def greedy(self, obs: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dist(obs, task)[0])

"""The residual online mode's networks and deployable policy (EXPO, ResFiT, V-GPS).

Why: a full actor-critic fine-tune can unlearn the offline policy from a buffer of failures in
tens of updates. Here the offline policy never changes; a small head adds a correction of at most
`bound` per action dimension (tanh-bounded, so no input can exceed it, and the safety filter
checks it again), and the critic picks, among N proposals of the frozen policy plus their
corrections, the one it values most. Proposal 0 is always the policy's mean, so with a zero
correction and a flat critic the policy acts as it did offline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ptr_core import checkpoint as ckpt
from ptr_core.config import Config
from ptr_core.constants import ACTION_DIM, STATE_DIM
from ptr_core.nets import Critic
from ptr_core.policy import DeployablePolicy, PolicyNet, network_arch

# The ranked proposals of a greedy (evaluation) call use this fixed noise seed: a greedy action
# is then a deterministic function of the observation, as DeployablePolicy's mean action is.
GREEDY_NOISE_SEED = 0


@dataclass(frozen=True)
class ResidualSettings:
    """What the trainer and the policy node must agree on (the bound is in the fingerprint)."""

    bound: float = 0.2  # largest |correction| per normalized action dimension
    samples: int = 8  # proposals of the frozen policy the critic ranks (the first: its mean)
    hidden: tuple[int, ...] = (256, 256)  # the correction head's MLP

    def validate(self) -> 'ResidualSettings':
        if not 0.0 < self.bound <= 2.0:
            raise ValueError(f'residual bound: expected in (0, 2], got {self.bound}')
        if self.samples < 1:
            raise ValueError(f'residual samples: expected >= 1, got {self.samples}')
        return self


class ResidualHead(nn.Module):
    """(obs embedding, task, proposed action) -> correction in [-bound, bound]^A.

    The last layer starts at zero: the first deployed version acts exactly as the offline one.
    """

    def __init__(self, obs_dim: int, num_tasks: int, bound: float,
                 hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        self.bound, self.num_tasks = float(bound), num_tasks
        layers: list[nn.Module] = []
        fan = obs_dim + num_tasks + ACTION_DIM
        for h in hidden:
            layers += [nn.Linear(fan, h), nn.ReLU()]
            fan = h
        self.trunk = nn.Sequential(*layers)
        self.out = nn.Linear(fan, ACTION_DIM)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, obs: torch.Tensor, task: torch.Tensor, actions: torch.Tensor
                ) -> torch.Tensor:
        """Obs (B, D), task (B,), actions (B, N, A) -> corrections (B, N, A)."""
        b, n, _ = actions.shape
        side = torch.cat([obs, F.one_hot(task, self.num_tasks).to(obs.dtype)], dim=-1)
        x = torch.cat([side.unsqueeze(1).expand(b, n, -1), actions], dim=-1)
        return self.bound * torch.tanh(self.out(self.trunk(x)))


def policy_obs_dim(net: PolicyNet) -> int:
    encoder = net.encoder if net.encoder is not None else net.actor.encoder
    return int(encoder.out_dim) + STATE_DIM


class ResidualNet(nn.Module):
    """The frozen offline policy, the critic that ranks, and the correction head."""

    def __init__(self, cfg: Config, settings: ResidualSettings, base: PolicyNet | None = None,
                 critic: Critic | None = None) -> None:
        super().__init__()
        self.settings = settings.validate()
        self.base = base if base is not None else PolicyNet(cfg)
        self.base.requires_grad_(False)
        self.critic = critic if critic is not None else Critic(cfg.network)
        self.head = ResidualHead(policy_obs_dim(self.base), cfg.network.num_tasks,
                                 settings.bound, settings.hidden)

    def proposals(self, obs: torch.Tensor, task: torch.Tensor, n: int,
                  generator: torch.Generator | None, std_scale: float = 1.0) -> torch.Tensor:
        """(B, n, A): the frozen policy's mean, then n - 1 samples at std x std_scale."""
        with torch.no_grad():
            mean, log_std = self.base.actor.dist(obs, task)
            eps = torch.randn((mean.shape[0], n - 1, ACTION_DIM), generator=generator,
                              device=mean.device, dtype=mean.dtype)
            u = mean.unsqueeze(1) + std_scale * log_std.exp().unsqueeze(1) * eps
            return torch.tanh(torch.cat([mean.unsqueeze(1), u], dim=1))

    def corrected(self, obs: torch.Tensor, task: torch.Tensor, proposals: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Proposals plus their corrections, kept in the action box; and the corrections."""
        delta = self.head(obs, task, proposals)
        return (proposals + delta).clamp(-1.0, 1.0), delta

    def choose(self, image: torch.Tensor, state: torch.Tensor, task: torch.Tensor, n: int,
               generator: torch.Generator | None, std_scale: float = 1.0,
               critic: Critic | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The best-valued corrected proposal per observation (B, A), its correction (B, A)
        and its value max_n min_e Q_e (B,), by `critic` (default: this net's)."""
        obs = self.base.obs(image, state)
        cands, delta = self.corrected(obs, task, self.proposals(obs, task, n, generator,
                                                                std_scale))
        critic = critic if critic is not None else self.critic
        q = critic(image, state, task, cands).min(dim=0).values  # (B, N)
        idx = q.argmax(dim=1)
        rows = torch.arange(cands.shape[0], device=cands.device)
        return cands[rows, idx], delta[rows, idx], q[rows, idx]


def residual_fingerprint(cfg: Config, net: ResidualNet) -> str:
    s = net.settings
    return ckpt.fingerprint(network_arch(cfg) | {'kind': 'residual', 'bound': s.bound,
                                                 'hidden': list(s.hidden)}, net)


class ResidualPolicy(DeployablePolicy):
    """DeployablePolicy's interface (act, hot-swappable weights) over a ResidualNet.

    `last_correction` is the largest |correction| of the last action, which the policy node
    reports for the safety filter to check against the bound.
    """

    def __init__(self, cfg: Config, net: ResidualNet, tasks: dict | None = None,
                 task: str | int | None = None, target_task: str | None = None,
                 device: str = 'cpu', step: int = 0) -> None:
        super().__init__(cfg, net.base, tasks, task, target_task, device, step)
        self.net = net.to(self.device).eval()  # type: ignore[assignment]
        self.settings = net.settings
        self.fingerprint = residual_fingerprint(cfg, net)
        self.last_correction = 0.0
        self._greedy_gen = torch.Generator(device=self.device)

    @classmethod
    def from_payload(cls, payload: dict, settings: ResidualSettings | None = None,
                     task: str | int | None = None, device: str = 'cpu',
                     where: str = 'checkpoint') -> 'ResidualPolicy':
        """From an agent checkpoint: its deployed actor, its critic, and, when it was saved by
        a residual trainer, its head and settings (else a zero correction with `settings`)."""
        if payload.get('critic') is None:
            raise ValueError(f'{where}: critic: the residual mode ranks actions with the '
                             f"agent's critic; this checkpoint has none (a policy export or "
                             f'a BC agent)')
        saved = (payload.get('extra') or {}).get('residual')
        if saved is not None:
            kept = ResidualSettings(float(saved['bound']), int(saved['samples']),
                                    tuple(int(h) for h in saved['hidden']))
            if settings is not None and settings.bound != kept.bound:
                raise ValueError(f'{where}: residual bound: expected {settings.bound}, got '
                                 f'{kept.bound} (the bound the checkpoint was trained with)')
            settings = ResidualSettings(kept.bound, (settings or kept).samples, kept.hidden)
        cfg = Config.from_dict(payload['config'], f'{where}: config')
        net = ResidualNet(cfg, settings or ResidualSettings())
        net.base.load_state_dict(ckpt.deployed_actor(payload))
        net.critic.load_state_dict(payload['critic'])
        if saved is not None:
            net.head.load_state_dict(saved['head'])
        return cls(cfg, net, payload.get('tasks'), task, payload.get('target_task'), device,
                   int(payload.get('step', 0)))

    @torch.no_grad()
    def act(self, image: np.ndarray, state: np.ndarray, greedy: bool = True,
            generator: torch.Generator | None = None, std_scale: float = 1.0) -> np.ndarray:
        """The critic's choice among the corrected proposals (greedy: fixed proposal noise)."""
        img, st = self._inputs(image, state)
        if greedy:
            self._greedy_gen.manual_seed(GREEDY_NOISE_SEED)
            generator, std_scale = self._greedy_gen, 1.0
        a, delta, _ = self.net.choose(img, st, self._task_t, self.settings.samples, generator,
                                   std_scale)
        self.last_correction = float(delta.abs().max())
        return a[0].cpu().numpy().astype(np.float32)

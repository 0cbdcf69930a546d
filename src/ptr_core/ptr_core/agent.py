"""The learner's shared base: the policy, optimizers, one update step, exact save/load.

One subclass per algorithm lives in ptr_core.learners (CQL/Cal-QL, BC, AW-BC); `Agent(cfg, ...)`
and `Agent.load(...)` build the one `cfg.agent.algo` names (ptr_core.learners.registry), so
callers and checkpoints never switch on the algorithm. The maths lives in ptr_core.algos; the
classes only wire modules and optimizers, step them, and keep everything an exact resume needs
(weights, optimizer moments, RNG streams, step).
"""
from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ptr_core import agent_state
from ptr_core import checkpoint as ckpt
from ptr_core.agent_state import config_changes  # noqa: F401 (part of this module's API)
from ptr_core.config import Config, SharedAgentConfig
from ptr_core.nets import Critic
from ptr_core.policy import DeployablePolicy, PolicyNet, policy_fingerprint, weights_bytes

Batch = dict[str, torch.Tensor]


def adam(params, lr: float) -> torch.optim.Optimizer:
    """Adam with torch's fused kernel where the device has one: the same update up to float
    rounding, and on this CPU a third of the time of the per-tensor loop (0.48 vs 1.45 ms for
    an actor-sized parameter list; about 5 % of a 48 px CQL step)."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # no fused kernel for this device or dtype
        return torch.optim.Adam(params, lr=lr)


class Agent:
    """What every learner shares; subclasses add their networks and their losses.

    Hooks: `_build_critic` (before the policy, as the seeded construction order requires),
    `_build_target`, `_algo_optimizers`, `learns_temperature`, `losses`, `_after_update`.
    """

    settings: type = SharedAgentConfig  # the part of cfg.agent this algorithm reads
    critic_trains = False  # the critic (if any) in train mode during updates

    def __new__(cls, cfg: Config | None = None, *args: Any, **kwargs: Any) -> 'Agent':
        if cfg is not None:  # (None: copy and pickle rebuild an instance without arguments)
            from ptr_core.learners.registry import agent_class
            want = agent_class(cfg.agent.algo)
            if cls is Agent:
                cls = want
            elif not issubclass(cls, want):
                raise ValueError(f'{cls.__name__} cannot hold agent.algo {cfg.agent.algo!r} '
                                 f'(that is {want.__name__})')
        return super().__new__(cls)

    def __init__(self, cfg: Config, tasks: dict | None = None, target_task: str | None = None,
                 device: str | None = None) -> None:
        self.cfg = cfg
        self.tasks, self.target_task = tasks, target_task
        self.changed_settings: dict[str, tuple[Any, Any]] = {}
        self.loaded_extra: dict[str, Any] = {}  # a loaded checkpoint's extra (Agent.load)
        self.device = torch.device(device or cfg.train.device)
        torch.manual_seed(cfg.train.seed)
        net = cfg.network
        self.critic: Critic | None = self._build_critic()
        self.policy = PolicyNet(cfg)
        if net.shared_encoder and self.critic is not None and not cfg.agent.unshare_encoder:
            self.policy.encoder = self.critic.encoder  # the same module: one set of weights
        self.target: Critic | None = self._build_target()
        self.frozen_policy: PolicyNet | None = None  # AW-BC: the critic's own actor
        # The deployed policy when cfg.agent.policy_ema > 0: an exponential average of the
        # trained one (its own copy of the encoder, so a shared encoder is averaged too).
        self.policy_avg: PolicyNet | None = None
        if cfg.agent.policy_ema > 0:
            self.policy_avg = copy.deepcopy(self.policy).requires_grad_(False)
        self.log_temp = nn.Parameter(torch.tensor(math.log(cfg.agent.init_temperature)),
                                     requires_grad=self.learns_temperature)
        self._to_device()
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            'actor': adam(self.policy.actor.parameters() if self.encoder_shared
                          else self.policy.parameters(), lr=cfg.agent.policy_lr)}
        self.optimizers.update(self._algo_optimizers())
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.train.seed + 1)
        self.step = 0
        self._step_t = torch.zeros((), dtype=torch.int64, device=self.device)
        self._avg_pairs = self._policy_avg_pairs()
        self._ddp: nn.Module | None = None  # set by enable_ddp (ptr_core.distributed)
        self._step_fn = self._update_impl
        if cfg.train.compile:
            self._step_fn = torch.compile(self._update_impl)

    # ---- what an algorithm adds ---------------------------------------------------------------
    def _build_critic(self) -> Critic | None:
        return None

    def _build_target(self) -> Critic | None:
        return None

    def _algo_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {}

    @property
    def learns_temperature(self) -> bool:
        """The SAC temperature is a trained parameter (CQL with auto_entropy)."""
        return False

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss of one step and its metrics (no parameter change)."""
        raise NotImplementedError

    def _after_update(self) -> None:
        """After the optimizers stepped (CQL: the Polyak update of the target critic)."""

    # ---- construction helpers ---------------------------------------------------------------
    def _to_device(self) -> None:
        for m in (self.critic, self.target, self.policy, self.policy_avg):
            if m is not None:
                m.to(self.device)
        self.log_temp.data = self.log_temp.data.to(self.device)

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
        self._after_update()
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
            self.critic.train(self.critic_trains)
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

    # ---- persistence (ptr_core.agent_state) --------------------------------------------------
    def state(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Everything an exact resume needs, as a checkpoint payload."""
        return agent_state.payload(self, extra)

    def save(self, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
        """Atomic, self-describing checkpoint (config, task registry, fingerprint, all state)."""
        return ckpt.save(path, self.state(extra))

    @classmethod
    def load(cls, path: str | os.PathLike, overrides: list[str] | None = None,
             device: str | None = None, restore_rng: bool = True,
             changes: dict[str, Any] | None = None) -> 'Agent':
        """Rebuild from a checkpoint; `overrides` (strings) and `changes` (typed agent.*) may
        change training settings, not the network (see ptr_core.agent_state.load)."""
        return agent_state.load(cls, path, overrides, device, restore_rng, changes)

    def load_state(self, payload: dict[str, Any], where: str = 'checkpoint',
                   restore_rng: bool = True) -> None:
        agent_state.restore(self, payload, where, restore_rng)

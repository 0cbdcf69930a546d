"""The deployable policy: actor + config + task registry + image size + architecture fingerprint.

Why apart from the Agent: a robot needs neither critics, targets nor optimizers; the policy node
and the trainer import this one module, and weights travel as bytes checked against the
architecture fingerprint so a hot swap can never load a mismatching network.
"""
from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from ptr_core import checkpoint as ckpt
from ptr_core.config import Config
from ptr_core.constants import STATE_DIM
from ptr_core.nets import Actor, Encoder
from ptr_core.nets.state import scale_state

WEIGHTS_FORMAT = 'ptr-policy-weights/1'


class PolicyNet(nn.Module):
    """Actor plus, in shared-encoder mode, the critic encoder it reads (no other critic parts)."""

    def __init__(self, cfg: Config) -> None:
        super().__init__()
        net = cfg.network
        if net.shared_encoder:
            self.encoder: Encoder | None = Encoder(net)
            self.actor = Actor(net, own_encoder=False, embed_dim=self.encoder.out_dim)
        else:
            self.encoder = None
            self.actor = Actor(net)

    def obs(self, image: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            state = scale_state(state, self.actor.scale, self.actor.use_state)
            return torch.cat([self.encoder(image), state], dim=-1)
        return self.actor.embed(image, state)


# Network keys added after checkpoints existed: left out of the fingerprint at these defaults,
# so a checkpoint saved before the key existed still matches its rebuilt network.
LATER_NETWORK_KEYS = {'impala_norm': 'none', 'use_state': True, 'q_layer_norm': False}


def network_arch(cfg: Config) -> dict:
    arch = dict(Config.to_dict(cfg)['network'])
    for k, default in LATER_NETWORK_KEYS.items():
        if arch.get(k) == default:
            arch.pop(k)
    return arch


def policy_fingerprint(cfg: Config, net: nn.Module) -> str:
    return ckpt.fingerprint(network_arch(cfg) | {'kind': 'policy'}, net)


def _resolve_task(tasks: dict | None, task: str | int | None, default: str | None) -> int:
    if isinstance(task, int):
        return task
    name = task if task is not None else default
    if tasks is None:
        if name is None:
            return 0
        raise ValueError(f'task {name!r}: this checkpoint has no task registry; pass an id')
    from ptr_core.task_registry import TaskRegistry
    reg = TaskRegistry.from_dict(tasks)
    if name is None:
        names = reg.task_names
        if not names:
            raise ValueError('task: the registry has no real task; pass one')
        name = names[0]
    return reg.id(name)


class DeployablePolicy:
    """act(image HxWx3 uint8, state (7,)) -> normalized action (7,) for one task."""

    def __init__(self, cfg: Config, net: PolicyNet, tasks: dict | None = None,
                 task: str | int | None = None, target_task: str | None = None,
                 device: str = 'cpu', step: int = 0) -> None:
        self.cfg, self.tasks, self.step = cfg, tasks, step
        self.net = net.to(device).eval()
        self.device = torch.device(device)
        self.image_size = cfg.network.image_size
        self.target_task = target_task
        self.task_id = _resolve_task(tasks, task, target_task)
        if not 0 <= self.task_id < cfg.network.num_tasks:
            raise ValueError(f'task id: expected in [0, {cfg.network.num_tasks}), '
                             f'got {self.task_id}')
        self.fingerprint = policy_fingerprint(cfg, self.net)
        self._task_t = torch.tensor([self.task_id], device=self.device)

    @classmethod
    def load(cls, path: str | os.PathLike, task: str | int | None = None,
             device: str = 'cpu') -> 'DeployablePolicy':
        """From an agent checkpoint or a policy-only export; one a residual online trainer
        saved gives its ResidualPolicy (the frozen policy, its correction and its critic)."""
        payload = ckpt.load(path, (ckpt.AGENT_FORMAT, ckpt.POLICY_FORMAT))
        if (payload.get('extra') or {}).get('residual') is not None:
            from ptr_core.residual import ResidualPolicy
            return ResidualPolicy.from_payload(payload, None, task, device, str(path))
        cfg = Config.from_dict(payload['config'], f'{path}: config')
        net = PolicyNet(cfg)
        net.load_state_dict(ckpt.deployed_actor(payload))
        pol = cls(cfg, net, payload.get('tasks'), task, payload.get('target_task'), device,
                  int(payload.get('step', 0)))
        want = payload.get('policy_fingerprint')
        if want is not None and want != pol.fingerprint:
            raise ckpt.CheckpointError(f'{path}: policy_fingerprint: expected {want}, '
                                       f'got {pol.fingerprint} from the rebuilt network')
        return pol

    def set_task(self, task: str | int) -> None:
        self.task_id = _resolve_task(self.tasks, task, None)
        self._task_t = torch.tensor([self.task_id], device=self.device)

    def _inputs(self, image: np.ndarray, state: np.ndarray
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """One checked observation as a batch of one: image (1, 3, S, S) uint8, state (1, 7)."""
        s = self.image_size
        if image.shape != (s, s, 3) or image.dtype != np.uint8:
            raise ValueError(f'act: image: expected uint8 ({s}, {s}, 3), '
                             f'got {image.dtype} {tuple(image.shape)}')
        if np.shape(state) != (STATE_DIM,):
            raise ValueError(f'act: state: expected shape ({STATE_DIM},), '
                             f'got {tuple(np.shape(state))}')
        if not image.flags.writeable:  # a rendered frame may be a read-only buffer view
            image = image.copy()
        img = torch.from_numpy(np.ascontiguousarray(image)).to(self.device)
        img = img.permute(2, 0, 1).unsqueeze(0)
        st = torch.as_tensor(np.asarray(state, np.float32), device=self.device).unsqueeze(0)
        return img, st

    @torch.no_grad()
    def act(self, image: np.ndarray, state: np.ndarray, greedy: bool = True,
            generator: torch.Generator | None = None, std_scale: float = 1.0) -> np.ndarray:
        """The normalized action; sampled ones draw tanh(mean + std_scale * std * eps)."""
        img, st = self._inputs(image, state)
        mean, log_std = self.net.actor.dist(self.net.obs(img, st), self._task_t)
        if greedy:
            a = torch.tanh(mean)
        else:
            eps = torch.randn(mean.shape, generator=generator, device=self.device)
            a = torch.tanh(mean + std_scale * log_std.exp() * eps)
        return a[0].cpu().numpy().astype(np.float32)

    def state_bytes(self, version: int = 0) -> bytes:
        return weights_bytes(self.net, self.fingerprint, version)

    def load_state_bytes(self, data: bytes) -> int:
        """Hot swap: load weights produced by `state_bytes`; raise if the fingerprint differs."""
        payload = ckpt.from_bytes(data, 'policy weights')
        if not isinstance(payload, dict) or payload.get('format') != WEIGHTS_FORMAT:
            got = payload.get('format') if isinstance(payload, dict) else type(payload).__name__
            raise ValueError(f'policy weights: format: expected {WEIGHTS_FORMAT}, got {got!r}')
        if payload['fingerprint'] != self.fingerprint:
            raise ValueError(f'policy weights: fingerprint: expected {self.fingerprint}, '
                             f'got {payload["fingerprint"]}')
        self.net.load_state_dict(payload['state'])
        return int(payload.get('version', 0))


def weights_bytes(net: nn.Module, fingerprint: str, version: int = 0) -> bytes:
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return ckpt.to_bytes({'format': WEIGHTS_FORMAT, 'fingerprint': fingerprint,
                          'version': int(version), 'state': state})

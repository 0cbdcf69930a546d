"""CQL update throughput: ptr_core's default CPU agent vs d3rlpy 2.8.1's CQL, in one run.

Both learners get the same encoder (IMPALA 16-32-32 + learned spatial embedding + Dense-LN-tanh
256), the same 256x3 MLPs with the action at every Q layer, 2 critics sharing one critic encoder,
a separate actor encoder, 4 policy + 4 next-policy + 4 uniform actions in the logsumexp, max-backup
over 4 next actions, batch 64 of 64x64 images and the same data. What differs is how the update is
computed: d3rlpy re-encodes every repeated observation (once per sampled action and per critic),
ptr_core encodes each observation once per network and tiles the embedding.

Also measured: the FLOPs of one ptr_core step (torch's FLOP counter), hence its achieved FLOP/s,
against a float32 matmul measured in the same run on the same threads.

    .venv/bin/python bench/train_throughput.py [--threads 1] [--steps 6] [--d3rlpy-steps 1]
        [--compile] [--default-heap] [--profile]

The process's heap is tuned as every training process tunes it (ptr_core.heap) unless
--default-heap; the minor page faults per step are printed either way. --profile prints the ops
of one step by self time, with their FLOPs where torch counts them.
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ptr_core.agent import Agent
from ptr_core.config import NetworkConfig, load_config
from ptr_core.constants import ACTION_DIM
from ptr_core.heap import keep_freed_memory
from ptr_core.nets.backbones import build_backbone
from ptr_core.nets.pooling import build_pooling

B, S = 64, 64


def make_batch(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {'image': torch.randint(0, 256, (B, 3, S, S), dtype=torch.uint8, generator=g),
            'next_image': torch.randint(0, 256, (B, 3, S, S), dtype=torch.uint8, generator=g),
            'state': torch.randn(B, 7, generator=g), 'next_state': torch.randn(B, 7, generator=g),
            'action': torch.rand(B, 7, generator=g) * 1.8 - 0.9,
            'reward': torch.randn(B, generator=g), 'terminal': torch.zeros(B),
            'task': torch.zeros(B, dtype=torch.int64), 'mc_return': torch.zeros(B)}


def time_steps(step, n: int, warmup: int = 1) -> float:
    """Steps per second over n calls after `warmup` untimed calls."""
    return timed_steps(step, n, warmup)[0]


def timed_steps(step, n: int, warmup: int = 1) -> tuple[float, float]:
    """Steps per second and minor page faults per step over n calls after `warmup`."""
    for i in range(warmup):
        step(i)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = time.perf_counter()
    for i in range(n):
        step(warmup + i)
    rate = n / (time.perf_counter() - t)
    return rate, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / n


def matmul_flops(threads_n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(threads_n, threads_n), torch.randn(threads_n, threads_n)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * threads_n ** 3 * reps / (time.perf_counter() - t)


# ---- d3rlpy with our encoder ----------------------------------------------------------------
class _Embed(nn.Module):
    """Our backbone -> spatial embedding -> Dense-LN-tanh on d3rlpy's float images (0..255)."""

    def __init__(self, net: NetworkConfig) -> None:
        super().__init__()
        self.backbone = build_backbone(net.encoder, net.norm, net.impala_channels,
                                       net.cog_channels)
        c, h, w = self.backbone(torch.zeros(1, 3, S, S)).shape[1:]
        self.pool = build_pooling(net.pooling, h, w, c, net.num_spatial_features)
        self.neck = nn.Sequential(nn.Linear(self.pool.out_dim, net.bottleneck_dim),
                                  nn.LayerNorm(net.bottleneck_dim), nn.Tanh())
        self.backbone.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x / 255.0).contiguous(memory_format=torch.channels_last)
        return self.neck(self.pool(self.backbone(x)))


def _d3rlpy_factories(net: NetworkConfig):
    from d3rlpy.models.encoders import EncoderFactory
    from d3rlpy.models.torch import Encoder, EncoderWithAction

    class ActorEnc(Encoder):
        """Encoder -> 256x3 MLP (d3rlpy's NormalPolicy adds the mean/log-std heads)."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = _Embed(net)
            layers, fan = [], net.bottleneck_dim
            for h in net.policy_hidden:
                layers += [nn.Linear(fan, h), nn.ReLU()]
                fan = h
            self.mlp = nn.Sequential(*layers)

        def forward(self, x):
            return self.mlp(self.embed(x))

    class CriticEnc(EncoderWithAction):
        """Encoder -> MLP with action and embedding at every layer (d3rlpy adds Linear(256, 1))."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = _Embed(net)
            e, fan = net.bottleneck_dim, 0
            self.layers = nn.ModuleList()
            for h in net.q_hidden:
                self.layers.append(nn.Linear(fan + e + ACTION_DIM, h))
                fan = h

        def forward(self, x, action):
            z = self.embed(x)
            h = torch.zeros(z.shape[0], 0)
            for layer in self.layers:
                h = torch.relu(layer(torch.cat([h, z, action], -1)))
            return h

    @dataclasses.dataclass()
    class ActorFactory(EncoderFactory):
        def create(self, observation_shape):
            return ActorEnc()

        @staticmethod
        def get_type() -> str:
            return 'ptr_actor'

    @dataclasses.dataclass()
    class CriticFactory(EncoderFactory):
        def create_with_action(self, observation_shape, action_size, discrete_action=False):
            return CriticEnc()

        @staticmethod
        def get_type() -> str:
            return 'ptr_critic'

    return ActorFactory(), CriticFactory()


def d3rlpy_step_fn(net: NetworkConfig, n_samples: int, alpha: float, discount: float):
    import d3rlpy
    from d3rlpy.models.q_functions import MeanQFunctionFactory
    from d3rlpy.torch_utility import TorchMiniBatch

    actor_f, critic_f = _d3rlpy_factories(net)
    cfg = d3rlpy.algos.CQLConfig(
        batch_size=B, gamma=discount, n_action_samples=n_samples, max_q_backup=True,
        conservative_weight=alpha, initial_alpha=1.0, alpha_learning_rate=0.0,
        alpha_threshold=0.0, actor_encoder_factory=actor_f, critic_encoder_factory=critic_f,
        q_func_factory=MeanQFunctionFactory(share_encoder=True))
    algo = cfg.create(device='cpu:0')
    algo.create_impl((3, S, S), ACTION_DIM)
    impl = algo.impl

    def step(i: int) -> None:
        b = make_batch(i)
        one = torch.ones(B, 1)
        tb = TorchMiniBatch(
            observations=b['image'].float(), actions=b['action'], rewards=b['reward'][:, None],
            next_observations=b['next_image'].float(), next_actions=b['action'],
            returns_to_go=one * 0, terminals=b['terminal'][:, None], intervals=one,
            device='cpu:0')
        impl.update(tb, i)

    params = sum(p.numel() for p in impl.modules.q_funcs.parameters())
    return step, params


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--steps', type=int, default=6, help='timed ptr_core steps')
    p.add_argument('--d3rlpy-steps', type=int, default=1, help='timed d3rlpy steps')
    p.add_argument('--compile', action='store_true', help='also time torch.compile')
    p.add_argument('--default-heap', action='store_true',
                   help="glibc's default allocator instead of ptr_core.heap's tuning")
    p.add_argument('--profile', action='store_true', help='per-op table of one step')
    args = p.parse_args()
    heap = 'default' if args.default_heap else ('tuned' if keep_freed_memory() else 'default')
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = load_config(None, ['network.num_tasks=1', 'train.augment=false'])
    net, ac = cfg.network, cfg.agent
    print(f'config: ptr_sim_cpu, {S}x{S}, batch {B}, encoder {net.encoder}{net.impala_channels} '
          f'+ {net.pooling} + {net.bottleneck_dim}, Q {net.q_hidden} x{net.num_qs}, samples '
          f'{ac.num_policy_actions}+{ac.num_uniform_actions}+{ac.num_next_actions}, '
          f'threads {args.threads}, heap {heap}')
    batches = [make_batch(i) for i in range(4)]

    results = {}
    for name, extra in (('ptr_core', []), ('ptr_core shared-encoder',
                                           ['network.shared_encoder=true'])):
        agent = Agent(load_config(None, ['network.num_tasks=1'] + extra))
        results[name], faults = timed_steps(lambda i, a=agent: a.update_step(batches[i % 4]),
                                            args.steps)
        print(f'{name:>26}: {results[name]:.2f} steps/s ({faults:.0f} page faults per step)')
    if args.compile:
        agent = Agent(load_config(None, ['network.num_tasks=1', 'train.compile=true']))
        t = time.perf_counter()
        agent.update_step(batches[0])
        print(f'torch.compile: first step (compilation) {time.perf_counter() - t:.1f} s')
        results['compiled'] = time_steps(lambda i: agent.update_step(batches[i % 4]),
                                         args.steps)
        print(f'{"ptr_core compiled":>26}: {results["compiled"]:.2f} steps/s')

    step, _ = d3rlpy_step_fn(net, ac.num_policy_actions, ac.cql_alpha, ac.discount)
    d3 = time_steps(step, args.d3rlpy_steps)
    print(f'{"d3rlpy 2.8.1 CQL":>26}: {d3:.3f} steps/s')
    print(f'ratio ptr_core / d3rlpy: {results["ptr_core"] / d3:.1f}x '
          f'(shared encoder: {results["ptr_core shared-encoder"] / d3:.1f}x; goal >= 20x)')

    agent = Agent(load_config(None, ['network.num_tasks=1']))
    agent.update_step(batches[0])
    with FlopCounterMode(display=False) as fc:
        agent.update_step(batches[1])
    flops = fc.get_total_flops()
    peak = matmul_flops()
    achieved = flops * results['ptr_core']
    print(f'ptr_core step: {flops / 1e9:.1f} GFLOP -> {achieved / 1e9:.1f} GFLOP/s; '
          f'matmul 1024^3 fp32: {peak / 1e9:.1f} GFLOP/s; fraction {achieved / peak:.0%} '
          '(goal >= 75%)')
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
            agent.update_step(batches[2])
        print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=20))


if __name__ == '__main__':
    main()

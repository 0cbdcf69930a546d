"""The training loop: sample mixed batches, update, log, checkpoint. Deliberately dumb.

`train(cfg, sources, steps, out)` is the one entry point used by the CLIs, the trainer node and
tests. Checkpoints carry the sampler's and augmenter's RNG state, so `resume` continues the exact
same stream of batches and the next loss is reproduced bit for bit. Batches are sampled ahead in
a background thread (`train.prefetch`).
"""
from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from ptr_core import checkpoint as ckpt
from ptr_core.agent import Agent
from ptr_core.config import Config
from ptr_core.data.augment import Augment
from ptr_core.data.sampler import MixedSampler, TransitionSource
from ptr_core.distributed import rank_world
from ptr_core.heap import keep_freed_memory
from ptr_core.logging_utils import MetricsLogger
from ptr_core.online_config import ONLINE_FRACTIONS
from ptr_core.progress import progress as progress_bar


def default_fractions(cfg: Config, num_sources: int) -> list[float]:
    """1 source: all; 2: PTR's tau (prior, target); 3: online beta (prior, demos, online)."""
    if num_sources == 1:
        return [1.0]
    if num_sources == 2:
        return [cfg.train.tau, 1.0 - cfg.train.tau]
    if num_sources == 3:
        return list(ONLINE_FRACTIONS)
    raise ValueError(f'sources: expected 1, 2 or 3 data sources, got {num_sources}')


def make_sampler(cfg: Config, sources: Sequence[TransitionSource],
                 fractions: Sequence[float] | None = None, rank: int = 0,
                 world: int = 1) -> MixedSampler:
    """Batches of train.batch_size / world (this rank's share), seeded per rank."""
    if cfg.train.batch_size % world:
        raise ValueError(f'train.batch_size: expected a multiple of the {world} ranks, '
                         f'got {cfg.train.batch_size}')
    seed = cfg.train.seed + 1000 * rank
    augment = Augment(seed=seed + 2) if cfg.train.augment else None
    return MixedSampler(list(sources), list(fractions or default_fractions(cfg, len(sources))),
                        cfg.train.batch_size // world, augment, seed=seed + 3)


def sampler_state(sampler: MixedSampler) -> dict[str, Any]:
    state: dict[str, Any] = {'rng': sampler.rng.bit_generator.state}
    if sampler.augment is not None and hasattr(sampler.augment, 'gen'):
        state['augment'] = sampler.augment.gen.get_state()
    return state


def restore_sampler(sampler: MixedSampler, state: dict[str, Any] | None) -> None:
    if not state:
        return
    sampler.rng.bit_generator.state = state['rng']
    if 'augment' in state and sampler.augment is not None:
        sampler.augment.gen.set_state(state['augment'])


class Prefetcher:
    """Samples batches in a background thread while the main thread runs the update.

    Why: gathering from memory-mapped shards and augmenting release the GIL, so loading overlaps
    with compute. Each batch travels with the sampler state right after it was drawn, so a
    checkpoint records exactly where the consumed stream stands (resume stays exact).
    """

    def __init__(self, sampler: MixedSampler, depth: int = 2) -> None:
        self.sampler, self.depth = sampler, depth
        self._q: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._thread = threading.Thread(target=self._run, name='ptr-prefetch', daemon=True)
            self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.sampler.sample()
                if not self._put((batch, sampler_state(self.sampler))):
                    return
        except BaseException as e:  # noqa: BLE001 - re-raised in the consuming thread
            self._put(e)

    def next(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The next batch and the sampler state after it."""
        if self._thread is None:
            batch = self.sampler.sample()
            return batch, sampler_state(self.sampler)
        item = self._q.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


def checkpoint_path(out: str | os.PathLike, step: int) -> Path:
    return Path(out) / 'checkpoints' / f'step_{step}.pt'


def train(cfg: Config, sources: Sequence[TransitionSource], steps: int,
          out: str | os.PathLike | None = None, agent: Agent | None = None,
          fractions: Sequence[float] | None = None, tasks: dict | None = None,
          target_task: str | None = None, resume_state: dict[str, Any] | None = None,
          progress: bool = True, tensorboard: bool = True,
          extra: dict[str, Any] | None = None) -> Agent:
    """Run until `agent.step == steps` (a total, so a resumed run stops at the same place).

    sources: TransitionSources (e.g. ptr_core.data.sampler.TransitionBuffer); `fractions` default
    to `default_fractions`. `out` (optional) receives checkpoints/step_<n>.pt, tb/ and
    metrics.jsonl. A given `agent` (pre-trained, or loaded for resume) keeps its optimizers.
    `extra` is stored in every checkpoint (e.g. a fine-tuning run's total step count).
    """
    keep_freed_memory()
    torch.manual_seed(cfg.train.seed)
    agent = agent or Agent(cfg, tasks=tasks, target_task=target_task)
    rank, world = rank_world()
    if world > 1 and agent._ddp is None:
        agent.enable_ddp()
    sampler = make_sampler(cfg, sources, fractions, rank, world)
    if rank == 0:  # only rank 0's stream is checkpointed; other ranks restart theirs
        restore_sampler(sampler, (resume_state or {}).get('sampler'))
    if rank != 0:
        out, progress = None, False  # rank 0 alone logs and writes checkpoints
    logger = MetricsLogger(out, tensorboard) if out is not None else None
    tc = cfg.train
    bar = progress_bar(total=steps, initial=agent.step, disable=not progress, desc='train')
    t0, s0 = time.perf_counter(), agent.step
    loader = Prefetcher(sampler, tc.prefetch)
    try:
        while agent.step < steps:
            batch, stream_state = loader.next()
            metrics = agent.update_step(batch)
            bar.update(1)
            if tc.log_every > 0 and (agent.step % tc.log_every == 0 or agent.step == steps):
                scalars = {k: float(v) for k, v in metrics.items()}
                scalars['steps_per_s'] = (agent.step - s0) / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix({k: f'{scalars[k]:.3g}' for k in
                                 ('critic_loss', 'q_data', 'bc_loss', 'actor_loss')
                                 if k in scalars})
                if logger is not None:
                    logger.log(agent.step, scalars)
            if out is not None and ((tc.ckpt_every > 0 and agent.step % tc.ckpt_every == 0)
                                    or agent.step == steps):
                agent.save(checkpoint_path(out, agent.step),
                           extra={'sampler': stream_state} | (extra or {}))
    finally:
        loader.close()
        bar.close()
        if logger is not None:
            logger.close()
    return agent


def resume(out: str | os.PathLike, overrides: list[str] | None = None
           ) -> tuple[Agent, dict[str, Any]] | None:
    """The agent and loop state of the newest checkpoint in RUN, or None if there is none."""
    path = ckpt.latest(out)
    if path is None:
        return None
    agent = Agent.load(path, overrides)
    return agent, ckpt.load(path).get('extra', {})

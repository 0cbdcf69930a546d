"""Evaluations spread over worker processes, with the result of a serial run.

Episode i resets the env with seed + i and seeds a sampled policy's noise with i, whichever
worker runs it, so the pooled outcomes are the same for any worker count. Workers take small
contiguous slices in turn (long and short episodes balance out). An `EvalPool` keeps its workers,
and in each worker the policies it loaded and the envs it built, across evaluations: an
experiment stage evaluates several checkpoints on several columns, and starting workers that
import torch and PyBullet anew for each (about 4 s) cost more than the evaluation saved.
"""
from __future__ import annotations

import multiprocessing as mp
from collections import OrderedDict
from typing import Any

import numpy as np

from ptr_sim.evaluate import CheckpointPolicy, EvalResult, evaluate, wilson_interval

_KEEP_POLICIES = 4  # loaded policies a worker keeps (least recently used go first)
_POLICIES: OrderedDict = OrderedDict()
_ENVS: dict[str, Any] = {}

# (ckpt, task, policy_task, image_size, greedy, seed, camera, starts): one evaluation's run
Spec = tuple[str, str, Any, int, bool, int, Any, str]


def _init() -> None:
    import torch
    torch.set_num_threads(1)  # one core per worker


def _policy(ckpt: str, policy_task: Any, greedy: bool, seed: int) -> CheckpointPolicy:
    key = (ckpt, policy_task, greedy, seed)
    if key not in _POLICIES:
        from ptr_core.policy import DeployablePolicy
        _POLICIES[key] = CheckpointPolicy(DeployablePolicy.load(ckpt, policy_task), greedy,
                                          seed)
        while len(_POLICIES) > _KEEP_POLICIES:
            _POLICIES.popitem(last=False)
    _POLICIES.move_to_end(key)
    return _POLICIES[key]


def _env(task: str, image_size: int, camera: Any, starts: str):
    key = repr((task, image_size, camera, starts))
    if key not in _ENVS:
        import ptr_sim
        _ENVS[key] = ptr_sim.make_env(task, image_size=image_size, camera=camera,
                                      starts=starts)
    return _ENVS[key]


def _run_slice(job: tuple[Spec, int, int]
               ) -> tuple[int, list[bool], list[int], list[int], list[str]]:
    (ckpt, task, policy_task, image_size, greedy, seed, camera, starts), first, n = job
    r = evaluate(_policy(ckpt, policy_task, greedy, seed), task, n, seed,
                 env=_env(task, image_size, camera, starts), first=first)
    return first, r.outcomes, r.lengths, r.goals_met, r.start_kinds


def slices(episodes: int, workers: int, per_worker: int = 4) -> list[tuple[int, int]]:
    """(first, count) spans covering 0..episodes-1, about `per_worker` per worker."""
    size = max(1, -(-episodes // (workers * per_worker)))
    return [(a, min(size, episodes - a)) for a in range(0, episodes, size)]


class EvalPool:
    """`workers` evaluation processes, reused by every `evaluate` call until `close`."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f'EvalPool: workers: expected >= 1, got {workers}')
        self.workers = workers
        # spawn: no fork of a process that holds torch threads
        self._pool = mp.get_context('spawn').Pool(workers, _init)

    def evaluate(self, ckpt: str, task: str, episodes: int, seed: int = 0,
                 image_size: int = 64, policy_task: int | str | None = None,
                 greedy: bool = True, camera: Any = None, progress: bool = False,
                 starts: str = 'demo') -> EvalResult:
        """A checkpoint's policy on `episodes` seeded episodes, spread over the workers."""
        if episodes < 1:
            raise ValueError(f'expected episodes >= 1, got {episodes}')
        spec: Spec = (str(ckpt), task, policy_task, image_size, greedy, seed, camera, starts)
        spans = slices(episodes, self.workers)
        outcomes: list[bool] = [False] * episodes
        lengths, goals, kinds = [0] * episodes, [0] * episodes, [''] * episodes
        done = self._pool.imap_unordered(_run_slice, [(spec, a, n) for a, n in spans])
        if progress:
            from ptr_core.progress import progress as bar
            done = bar(done, total=len(spans), desc=f'eval {task}', unit='slice',
                       what='slices')
        for first, out, lens, met, kind in done:
            n = len(out)
            outcomes[first:first + n], lengths[first:first + n] = out, lens
            goals[first:first + n], kinds[first:first + n] = met, kind
        k = int(np.sum(outcomes))
        low, high = wilson_interval(k, episodes)
        return EvalResult(task, episodes, k, k / episodes, low, high, seed, lengths, outcomes,
                          goals, kinds)

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def __enter__(self) -> 'EvalPool':
        return self

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._pool.terminate()


def evaluate_checkpoint(ckpt: str, task: str, episodes: int, seed: int = 0,
                        image_size: int = 64, workers: int = 2,
                        policy_task: int | str | None = None, greedy: bool = True,
                        camera: Any = None, progress: bool = False,
                        starts: str = 'demo') -> EvalResult:
    """Evaluate a checkpoint's policy on `episodes` seeded episodes in `workers` processes."""
    if episodes < 1 or workers < 1:
        raise ValueError(f'expected episodes >= 1 and workers >= 1, got {episodes}, {workers}')
    with EvalPool(min(workers, len(slices(episodes, workers)))) as pool:
        return pool.evaluate(ckpt, task, episodes, seed, image_size, policy_task, greedy,
                             camera, progress, starts)

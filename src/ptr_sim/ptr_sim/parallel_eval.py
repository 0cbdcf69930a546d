"""One evaluation spread over worker processes, with the result of a serial run.

Episode i resets the env with seed + i and seeds a sampled policy's noise with i, whichever
worker runs it, so the pooled outcomes are the same for any worker count. Workers take small
contiguous slices in turn (long and short episodes balance out) and each loads the policy and
builds its env once.
"""
from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np

from ptr_sim.evaluate import CheckpointPolicy, EvalResult, evaluate, wilson_interval

_WORKER: dict[str, Any] = {}


def _init(ckpt: str, task: str, policy_task: int | str | None, image_size: int,
          greedy: bool, seed: int, camera: Any) -> None:
    import torch

    import ptr_sim
    from ptr_core.policy import DeployablePolicy
    torch.set_num_threads(1)  # one core per worker
    policy = DeployablePolicy.load(ckpt, policy_task)
    _WORKER.update(policy=CheckpointPolicy(policy, greedy, seed), task=task, seed=seed,
                   env=ptr_sim.make_env(task, image_size=image_size, camera=camera))


def _run_slice(span: tuple[int, int]) -> tuple[int, list[bool], list[int], list[int]]:
    first, n = span
    r = evaluate(_WORKER['policy'], _WORKER['task'], n, _WORKER['seed'], env=_WORKER['env'],
                 first=first)
    return first, r.outcomes, r.lengths, r.goals_met


def slices(episodes: int, workers: int, per_worker: int = 4) -> list[tuple[int, int]]:
    """(first, count) spans covering 0..episodes-1, about `per_worker` per worker."""
    size = max(1, -(-episodes // (workers * per_worker)))
    return [(a, min(size, episodes - a)) for a in range(0, episodes, size)]


def evaluate_checkpoint(ckpt: str, task: str, episodes: int, seed: int = 0,
                        image_size: int = 64, workers: int = 2,
                        policy_task: int | str | None = None, greedy: bool = True,
                        camera: Any = None, progress: bool = False) -> EvalResult:
    """Evaluate a checkpoint's policy on `episodes` seeded episodes in `workers` processes."""
    if episodes < 1 or workers < 1:
        raise ValueError(f'expected episodes >= 1 and workers >= 1, got {episodes}, {workers}')
    spans = slices(episodes, workers)
    outcomes: list[bool] = [False] * episodes
    lengths, goals = [0] * episodes, [0] * episodes
    ctx = mp.get_context('spawn')  # no fork of a process that holds torch threads
    with ctx.Pool(min(workers, len(spans)), _init,
                  (str(ckpt), task, policy_task, image_size, greedy, seed, camera)) as pool:
        done = pool.imap_unordered(_run_slice, spans)
        if progress:
            from ptr_core.progress import progress as bar
            done = bar(done, total=len(spans), desc=f'eval {task}', unit='slice',
                       what='slices')
        for first, out, lens, met in done:
            n = len(out)
            outcomes[first:first + n], lengths[first:first + n] = out, lens
            goals[first:first + n] = met
    k = int(np.sum(outcomes))
    low, high = wilson_interval(k, episodes)
    return EvalResult(task, episodes, k, k / episodes, low, high, seed, lengths, outcomes, goals)

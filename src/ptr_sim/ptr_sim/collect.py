"""`ptr collect`: scripted noisy sim trajectories into the project's dataset format.

Each worker process owns one env and one DatasetWriter with its own shard prefix, so workers never
touch the same files and every shard appears atomically. Episode k of worker w uses seed
`seed + w + workers * k` for both the env start and the policy noise: a run is reproducible.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Any, Callable

import numpy as np

IMAGE_SIZES = (48, 64, 128)


class OneLineParser(argparse.ArgumentParser):
    """Bad input -> one line naming the problem on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str):
        self.exit(2, f'{self.prog}: {message}\n')


@dataclass
class WorkerResult:
    """What one collection worker wrote and tried."""

    written: int = 0
    attempted: int = 0
    successes: int = 0
    steps: int = 0


def rollout(env, policy, task: str, seed: int, noise: float,
            stop: Callable[[], bool] | None = None):
    """One scripted episode -> ptr_core.data.Trajectory (rewards: 1.0 where s' succeeds).

    `stop()` true after a step ends the episode early (a script with nothing left to do).
    """
    from ptr_core.data import Trajectory

    obs, _ = env.reset(seed=seed)
    images, states, actions, rewards, terminals = [obs['image']], [obs['state']], [], [], []
    success = False
    while True:
        a = policy(obs)
        obs, r, terminated, truncated, info = env.step(a)
        images.append(obs['image'])
        states.append(obs['state'])
        actions.append(a)
        rewards.append(r)
        terminals.append(bool(info['success']))
        success = success or bool(info['success'])
        if terminated or truncated or (stop is not None and stop()):
            break
    return Trajectory.from_arrays(np.stack(images), np.stack(states), np.stack(actions),
                                  np.asarray(rewards, np.float32), np.asarray(terminals),
                                  task=task, success=success,
                                  meta={'seed': int(seed), 'scripted': True,
                                        'noise': float(noise), 'source': 'ptr_sim'})


def run_worker(task: str, out: str, quota: int, worker: int, workers: int, seed: int,
               image_size: int, noise: float, successes_only: bool,
               report: Callable[[int, bool], None]) -> WorkerResult:
    """Collect `quota` episodes (successful ones if `successes_only`) into shards 'w<k>-'."""
    import ptr_sim
    from ptr_core.data import DatasetWriter
    from ptr_sim.scripted import make_scripted_policy

    res = WorkerResult()
    max_attempts = quota if not successes_only else 20 * quota + 20
    env = ptr_sim.make_env(task, image_size=image_size)
    try:
        with DatasetWriter(out, shard_episodes=32, prefix=f'w{worker}-') as writer:
            while res.written < quota and res.attempted < max_attempts:
                ep_seed = seed + worker + workers * res.attempted
                policy = make_scripted_policy(task, env, noise, np.random.default_rng(ep_seed))
                traj = rollout(env, policy, task, ep_seed, noise)
                res.attempted += 1
                res.steps += len(traj)
                res.successes += int(traj.success)
                keep = traj.success or not successes_only
                if keep:
                    writer.add(traj)
                    res.written += 1
                report(int(keep), traj.success)
    finally:
        env.close()
    return res


def _worker_main(args: tuple, queue) -> None:
    try:
        res = run_worker(*args, report=lambda kept, ok: queue.put(('ep', kept, ok)))
        queue.put(('done', res))
    except Exception as e:  # noqa: BLE001 - carried to the parent as one line
        queue.put(('error', f'{type(e).__name__}: {e}'))


def parse_args(argv: list[str]) -> argparse.Namespace:
    from ptr_sim.tasks import TASKS

    p = OneLineParser(prog='ptr collect', description=__doc__.split('\n')[0])
    p.add_argument('--task', required=True, help=f'one of: {", ".join(TASKS)}')
    p.add_argument('--episodes', type=int, required=True, help='episodes to write')
    p.add_argument('--out', required=True, help='dataset root (created; tasks get subfolders)')
    p.add_argument('--image-size', type=int, default=64, help='square image side: 48, 64, 128')
    p.add_argument('--seed', type=int, default=0, help='base seed of env starts and noise')
    p.add_argument('--workers', type=int, default=1, help='processes, one env each')
    p.add_argument('--noise', type=float, default=0.1,
                   help='std of Gaussian noise added to normalized scripted actions')
    keep = p.add_mutually_exclusive_group()
    keep.add_argument('--keep-failures', dest='successes_only', action='store_false',
                      help='write every attempted episode (default)')
    keep.add_argument('--successes-only', dest='successes_only', action='store_true',
                      help='write only successful episodes, attempting until --episodes succeed')
    p.set_defaults(successes_only=False)
    args = p.parse_args(argv)
    if args.task not in TASKS:
        p.error(f'--task: expected one of {sorted(TASKS)}, got {args.task!r}')
    if args.episodes < 1:
        p.error(f'--episodes: expected >= 1, got {args.episodes}')
    if args.image_size not in IMAGE_SIZES:
        p.error(f'--image-size: expected one of {IMAGE_SIZES}, got {args.image_size}')
    if args.workers < 1:
        p.error(f'--workers: expected >= 1, got {args.workers}')
    if not np.isfinite(args.noise) or args.noise < 0:
        p.error(f'--noise: expected a finite value >= 0, got {args.noise}')
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        p.error(f'--out: expected a folder, got the file {out}')
    for images in sorted((out / args.task).glob('shard-*/images.npy'))[:1]:
        shape = np.load(images, mmap_mode='r').shape[1:]
        if shape != (args.image_size, args.image_size, 3):
            p.error(f'--image-size: {images} holds {shape[0]}x{shape[1]} images; expected '
                    f'the same size when adding to a task, got {args.image_size}')
    return args


def _run_workers(jobs: list[tuple], bar: Any) -> tuple[list[WorkerResult], list[str]]:
    """One process per job; their results, or the first error (a dead worker included)."""
    errors: list[str] = []
    # spawn, not fork: a forked child inherits the parent's threads' locks and half-built
    # objects (torch, DDS in a test process) and segfaulted in its garbage collector.
    ctx = mp.get_context('spawn')
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker_main, args=(j, queue), daemon=True) for j in jobs]
    for pr in procs:
        pr.start()
    results, pending = [], len(procs)
    while pending:
        try:
            msg = queue.get(timeout=1.0)
        except Empty:
            dead = [(k, pr.exitcode) for k, pr in enumerate(procs)
                    if pr.exitcode not in (None, 0)]
            if dead:  # a crash sends no message: say so instead of waiting forever
                errors.append(f'worker {dead[0][0]} died (exit code {dead[0][1]})')
                break
            continue
        if msg[0] == 'ep':
            bar.update(msg[1])
        elif msg[0] == 'done':
            results.append(msg[1])
            pending -= 1
        else:
            errors.append(msg[1])
            pending -= 1
    for pr in procs:
        if errors:
            pr.terminate()
        pr.join()
    return results, errors


def main(argv: list[str] | None = None) -> int:
    from ptr_core.progress import progress

    try:
        args = parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as e:
        return int(e.code or 0)
    w = min(args.workers, args.episodes)
    quotas = [args.episodes // w + (k < args.episodes % w) for k in range(w)]
    jobs = [(args.task, args.out, q, k, w, args.seed, args.image_size, args.noise,
             args.successes_only) for k, q in enumerate(quotas)]
    total = WorkerResult()
    t0 = time.perf_counter()
    bar = progress(total=args.episodes, desc=f'collect {args.task}', unit='ep')
    errors: list[str] = []
    if w == 1:
        def report(kept: int, ok: bool) -> None:
            bar.update(kept)
        try:
            results = [run_worker(*jobs[0], report=report)]
        except Exception as e:  # noqa: BLE001
            results, errors = [], [f'{type(e).__name__}: {e}']
    else:
        results, errors = _run_workers(jobs, bar)
    bar.close()
    if errors:
        print(f'ptr collect: {errors[0]}', file=sys.stderr)
        return 1
    for r in results:
        total.written += r.written
        total.attempted += r.attempted
        total.successes += r.successes
        total.steps += r.steps
    elapsed = time.perf_counter() - t0
    rate = total.successes / max(total.attempted, 1)
    if total.written < args.episodes:
        print(f'ptr collect: wrote {total.written} of {args.episodes} episodes: the scripted '
              f'policy succeeded {total.successes} times in {total.attempted} attempts',
              file=sys.stderr)
        return 1
    print(f'task={args.task} episodes={total.written} success_rate={rate:.3f} '
          f'steps_per_s={total.steps / elapsed:.1f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())

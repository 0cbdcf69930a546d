"""`ptr eval`: success rate of a policy in sim, with a 95% Wilson score interval.

Why Wilson: with 10-50 episodes and rates near 0 or 1 the normal (Wald) interval collapses to a
point or leaves [0, 1]; the Wilson interval stays inside [0, 1] and keeps close to its nominal
coverage, which is what "non-overlapping 95% intervals" comparisons need.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from ptr_core.constants import START_MODES

Z95 = 1.959963984540054  # two-sided 95% normal quantile

PolicyFn = Callable[[dict[str, np.ndarray]], np.ndarray]


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; (0, 1) when n == 0."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f'successes: expected 0..{n}, got {successes}')
    p = successes / n
    z2 = z * z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # The bounds are exactly 0 / 1 at k = 0 / n; rounding must not move them off.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == n else min(1.0, center + half)
    return low, high


@dataclass
class EvalResult:
    """The outcome of an evaluation: counts, Wilson interval and per-episode records."""

    task: str
    episodes: int
    successes: int
    rate: float
    low: float
    high: float
    seed: int
    lengths: list[int] = field(default_factory=list)
    outcomes: list[bool] = field(default_factory=list)
    # Per episode, the most goals met at once (a compound task's partial progress: BinSort 0-2).
    goals_met: list[int] = field(default_factory=list)
    # Per episode, where it started: 'demo' or 'ood' (ptr_core.constants.START_MODES).
    start_kinds: list[str] = field(default_factory=list)

    def by_start(self, kind: str) -> tuple[int, int]:
        """(successes, episodes) among the episodes that started as `kind`."""
        picked = [ok for ok, k in zip(self.outcomes, self.start_kinds) if k == kind]
        return int(sum(picked)), len(picked)

    def summary(self) -> str:
        return (f'{self.task}: {self.successes}/{self.episodes} successes, rate '
                f'{100 * self.rate:.1f}% (95% Wilson interval {100 * self.low:.1f}%-'
                f'{100 * self.high:.1f}%), mean length {np.mean(self.lengths):.1f}')

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(policy_fn: PolicyFn, task: str, episodes: int, seed: int = 0,
             image_size: int = 64, env=None, progress: bool = False,
             first: int = 0, starts: str = 'demo') -> EvalResult:
    """Run episodes first .. first + episodes - 1 of `task`; episode i resets with seed + i.

    `policy_fn(obs) -> action` (normalized, (7,)). If it has a `reset(env, episode)` method it is
    called before every episode (stateful policies such as ptr_sim.scripted). Pass `env` to reuse
    an environment (it is then not closed); otherwise one is made and closed here. `first` lets
    workers run slices of one evaluation with the same per-episode seeds (ptr_sim.parallel_eval).
    `starts` (ptr_sim.scene.START_MODES) is where an env made here starts its episodes.
    """
    import ptr_sim

    if episodes < 1:
        raise ValueError(f'episodes: expected >= 1, got {episodes}')
    own = env is None
    if own:
        env = ptr_sim.make_env(task, image_size=image_size, seed=seed, starts=starts)
    outcomes, lengths, goals, kinds = [], [], [], []
    try:
        it = range(episodes)
        if progress:
            from ptr_core.progress import progress as bar
            it = bar(it, desc=f'eval {task}', unit='ep', what='episodes')
        for i in it:
            obs, info = env.reset(seed=seed + first + i)
            kinds.append(str(info.get('start', 'demo')))
            if hasattr(policy_fn, 'reset'):
                policy_fn.reset(env, first + i)
            steps, success, met = 0, False, 0
            while True:
                obs, _, terminated, truncated, info = env.step(policy_fn(obs))
                steps += 1
                success = success or bool(info.get('success', False))
                met = max(met, int(info.get('goals_met', success)))
                if terminated or truncated:
                    break
            outcomes.append(success)
            lengths.append(steps)
            goals.append(met)
    finally:
        if own:
            env.close()
    k = int(sum(outcomes))
    low, high = wilson_interval(k, episodes)
    return EvalResult(task, episodes, k, k / episodes, low, high, seed, lengths, outcomes, goals,
                      kinds)


class CheckpointPolicy:
    """policy_fn over ptr_core.policy.DeployablePolicy (greedy or sampled, seeded).

    A sampled policy's noise is seeded per episode, so an episode acts the same whichever
    worker runs it and whatever ran before it.
    """

    def __init__(self, policy, greedy: bool = True, seed: int = 0) -> None:
        import torch

        self.policy, self.greedy, self.seed = policy, greedy, seed
        self.gen = torch.Generator().manual_seed(seed)

    def reset(self, env, episode: int) -> None:
        self.gen.manual_seed(self.seed * 1_000_003 + episode)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.policy.act(obs['image'], obs['state'], greedy=self.greedy,
                               generator=self.gen)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog='ptr eval', description='Evaluate a checkpoint in sim: success rate with a 95% '
                                     'Wilson interval over N seeded episodes.')
    ap.add_argument('--ckpt', required=True, help='agent checkpoint or policy export (.pt)')
    ap.add_argument('--task', required=True, help='sim task to run (see `ptr tasks`)')
    ap.add_argument('--episodes', type=int, default=20, help='number of episodes')
    ap.add_argument('--seed', type=int, default=0, help='episode i resets with seed + i')
    ap.add_argument('--image-size', type=int, default=None,
                    help="rendered image size (default and only valid value: the policy's)")
    ap.add_argument('--greedy', action=argparse.BooleanOptionalAction, default=True,
                    help='act with the mean action (--no-greedy samples the policy)')
    ap.add_argument('--policy-task', default=None,
                    help='task name or id for the policy one-hot (default: --task if the '
                         "checkpoint knows it, else the checkpoint's target task)")
    ap.add_argument('--workers', type=int, default=1,
                    help='processes the episodes are spread over (same per-episode seeds: the '
                         'result does not depend on the count)')
    ap.add_argument('--starts', default='demo', choices=START_MODES,
                    help="where episodes start: the demos' range, outside it (the arm "
                         'displaced, the door ajar), or either per episode')
    ap.add_argument('--json', default=None, help='also write the result as JSON here')
    ap.add_argument('--quiet', action='store_true', help='no progress bar')
    return ap


def _load_policy(ckpt: str, task: str, policy_task: str | None):
    from ptr_core.policy import DeployablePolicy

    if policy_task is not None:
        return DeployablePolicy.load(ckpt, int(policy_task) if policy_task.isdigit()
                                     else policy_task)
    try:
        return DeployablePolicy.load(ckpt, task)
    except (KeyError, ValueError):
        return DeployablePolicy.load(ckpt, None)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ptr_core.ckpt_file import CheckpointError, check_file
    try:  # before torch and pybullet are imported: a bad --ckpt is said in well under a second
        check_file(args.ckpt, '--ckpt')
    except CheckpointError as e:
        print(f'ptr eval: {e}', file=sys.stderr)
        return 2
    import ptr_sim
    from ptr_core.atomic import write_json

    if args.task not in ptr_sim.TASKS:
        print(f'ptr eval: --task: expected one of {sorted(ptr_sim.TASKS)}, got {args.task!r}',
              file=sys.stderr)
        return 2
    try:
        policy = _load_policy(args.ckpt, args.task, args.policy_task)
    except (CheckpointError, KeyError, ValueError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        # checkpoint errors name the file already; the others get it once
        print(f'ptr eval: {msg}' if str(args.ckpt) in msg else f'ptr eval: --ckpt {args.ckpt}: '
              f'{msg}', file=sys.stderr)
        return 2
    size = policy.image_size
    if args.image_size is not None and args.image_size != size:
        print(f"ptr eval: --image-size: expected {size} (the policy's network.image_size), "
              f'got {args.image_size}', file=sys.stderr)
        return 2
    if args.episodes < 1:
        print(f'ptr eval: --episodes: expected >= 1, got {args.episodes}', file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f'ptr eval: --workers: expected >= 1, got {args.workers}', file=sys.stderr)
        return 2
    if args.workers == 1:
        res = evaluate(CheckpointPolicy(policy, args.greedy, args.seed), args.task,
                       args.episodes, args.seed, size, progress=not args.quiet,
                       starts=args.starts)
    else:
        from ptr_sim.parallel_eval import evaluate_checkpoint
        res = evaluate_checkpoint(args.ckpt, args.task, args.episodes, args.seed, size,
                                  workers=args.workers, policy_task=policy.task_id,
                                  greedy=args.greedy, progress=not args.quiet,
                                  starts=args.starts)
    print(f'{res.summary()} [policy task id {policy.task_id}, '
          f'{"greedy" if args.greedy else "sampled"}]')
    if args.json:
        write_json(args.json, res.to_dict() | {'ckpt': str(args.ckpt),
                                                'policy_task_id': policy.task_id})
    return 0


if __name__ == '__main__':
    sys.exit(main())

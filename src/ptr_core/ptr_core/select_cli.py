"""`ptr select RUN --heldout DIR`: rank a run's checkpoints by Q monotonicity on held-out data."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ptr_core.data.rewards import MODES, RewardConfig
from ptr_core.select import AgentQ, find_checkpoints, rank_checkpoints


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog='ptr select',
        description='Score every checkpoint of a run by how monotonically its Q-values rise '
                    'along held-out successful target trajectories (Spearman rank correlation '
                    'with time times a flatness penalty); print the ranking and the choice.')
    ap.add_argument('run', help='run folder (searched for *.pt / *.ckpt) or one checkpoint')
    ap.add_argument('--heldout', required=True, help='dataset root of held-out target episodes')
    ap.add_argument('--task', default=None,
                    help='held-out task folder to use (default: every task in --heldout)')
    ap.add_argument('--task-id', type=int, default=None,
                    help="task id fed to the Q-function (default: the checkpoint's id for "
                         'the held-out task name, else its target task)')
    ap.add_argument('--split', default='all', choices=('all', 'train', 'val'),
                    help='which episodes of --heldout to use')
    ap.add_argument('--max-trajs', type=int, default=20, help='use at most this many episodes')
    ap.add_argument('--include-failures', action='store_true',
                    help='also score unsuccessful episodes (Q need not rise along those)')
    ap.add_argument('--reward-mode', default='last_n', choices=MODES,
                    help="labeling that defines the reference value range (the run's own)")
    ap.add_argument('--plots', default=None, help='folder for the PNGs (default RUN/select)')
    return ap


def _task_id(agent, task: str, override: int | None) -> int:
    if override is not None:
        return override
    from ptr_core.task_registry import TaskRegistry

    if not agent.tasks:
        return 0
    reg = TaskRegistry.from_dict(agent.tasks)
    if task in reg:
        return reg.id(task)
    if agent.target_task and agent.target_task in reg:
        return reg.id(agent.target_task)
    raise ValueError(f"task {task!r}: not in the checkpoint's task registry "
                     f'{reg.task_names}; pass --task-id')


def _print_ranking(ranked: list, n_trajs: int, tasks: list[str], plots: Path) -> None:
    print(f'{n_trajs} held-out episodes of {tasks}; score = spearman(Q, t) * '
          f'min(1, range(Q) / range(MC return))')
    print(f'{"rank":>4}  {"step":>8}  {"score":>7}  {"spearman":>8}  {"range":>6}  checkpoint')
    for i, c in enumerate(ranked, 1):
        rho = np.mean([s.spearman for s in c.per_traj])
        fac = np.mean([s.range_factor for s in c.per_traj])
        print(f'{i:>4}  {c.step:>8}  {c.score:>7.3f}  {rho:>8.3f}  {fac:>6.3f}  {c.path}')
    print(f'plots: {plots}')
    print(f'chosen: {ranked[0].path}')


def _run_problem(run: str) -> str | None:
    """What is wrong with RUN before torch loads (missing; a corrupt single checkpoint)."""
    from ptr_core.ckpt_file import CheckpointError, check_file
    if not Path(run).exists():
        return f'{run}: expected a run folder or a checkpoint, not found'
    if Path(run).is_file():
        try:
            check_file(run)
        except CheckpointError as e:
            return str(e)
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ptr_core.ckpt_file import CheckpointError
    if (problem := _run_problem(args.run)) is not None:
        print(f'ptr select: {problem}', file=sys.stderr)
        return 2
    from ptr_core.agent import Agent
    from ptr_core.data import Dataset, DatasetError

    try:
        ds = Dataset(args.heldout)
        tasks = [args.task] if args.task else ds.tasks
        trajs = [tr for t in tasks for tr in ds.trajectories(
            [t], None if args.split == 'all' else args.split)
            if args.include_failures or tr.success][:args.max_trajs]
        if not trajs:
            raise DatasetError(f'{args.heldout}: expected successful episodes of {tasks}, '
                               f'found none (use --include-failures?)')
        ckpts = find_checkpoints(args.run)
        if not ckpts:
            raise FileNotFoundError(f'{args.run}: expected *.pt checkpoints, found none')
    except (DatasetError, FileNotFoundError, ValueError) as e:
        print(f'ptr select: {e}', file=sys.stderr)
        return 2

    loaded: dict[Path, AgentQ] = {}
    usable = []
    discount = None
    for path in ckpts:
        try:
            agent = Agent.load(path, restore_rng=False)
        except (CheckpointError, KeyError, ValueError) as e:
            print(f'ptr select: skipping {path}: {e}', file=sys.stderr)
            continue
        size = agent.cfg.network.image_size
        if trajs[0].images.shape[1:3] != (size, size):
            print(f'ptr select: {path}: network.image_size: expected held-out images of '
                  f'{size}x{size}, got {trajs[0].images.shape[1:3]}', file=sys.stderr)
            return 2
        try:
            loaded[path] = AgentQ(agent, _task_id(agent, trajs[0].task, args.task_id))
        except ValueError as e:
            print(f'ptr select: {path}: {e}', file=sys.stderr)
            return 2
        discount = agent.cfg.agent.discount
        usable.append(path)
        del agent
    if not usable:
        print(f'ptr select: {args.run}: no loadable agent checkpoint (need critics)',
              file=sys.stderr)
        return 2
    reward_cfg = (RewardConfig(discount=discount) if args.reward_mode == 'last_n' else
                  RewardConfig(mode=args.reward_mode, scale=1.0, shift=0.0, discount=discount))
    run = Path(args.run)
    plots = Path(args.plots) if args.plots else (run if run.is_dir() else run.parent) / 'select'
    ranked = rank_checkpoints(usable, loaded.__getitem__, trajs, reward_cfg, plots)

    _print_ranking(ranked, len(trajs), tasks, plots)
    return 0


if __name__ == '__main__':
    sys.exit(main())

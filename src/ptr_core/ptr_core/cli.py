"""`ptr pretrain | finetune | train`: argument parsing and data wiring around ptr_core.train.

Each `*_main(argv) -> int` returns 0 on success and 2 with a one-line message on bad input.
torch comes in (seconds) only after the arguments and the checkpoint files they name are checked,
so a typo or a missing/corrupt --ckpt is said at once.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Callable

import yaml

from ptr_core import from_data
from ptr_core.ckpt_file import CheckpointError, check_file
from ptr_core.config import PRESETS, Config, ConfigError, load_config, preset
from ptr_core.data import Dataset, DatasetError
from ptr_core.data.rewards import MODES, RewardConfig
from ptr_core.learners.registry import ALGOS
from ptr_core.task_registry import TaskRegistry


class UsageError(ValueError):
    """Bad command-line input (one line)."""


def _common(p: argparse.ArgumentParser) -> None:
    from ptr_core.config_docs import config_text
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = ('config keys for --set / --config (values of the default preset; '
                '`ptr config show --preset P` for another):\n\n'
                + config_text(preset('ptr_sim_cpu')))
    p.add_argument('--out', required=True, help='run folder: checkpoints/, tb/, metrics.jsonl')
    p.add_argument('--config', help='YAML config (its preset: key picks the defaults)')
    p.add_argument('--preset', choices=sorted(PRESETS), help='defaults to start from')
    p.add_argument('--set', dest='overrides', action='append', default=[], metavar='KEY=VALUE',
                   help='override a config field, e.g. --set agent.cql_alpha=5 (repeatable)')
    p.add_argument('--steps', type=int, help='gradient steps (train.steps)')
    p.add_argument('--resume', action='store_true',
                   help='continue from the newest RUN/checkpoints/step_<n>.pt')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--no-tensorboard', action='store_true', help='metrics.jsonl only')


def _data_args(p: argparse.ArgumentParser, prior_required: bool) -> None:
    p.add_argument('--data', required=prior_required,
                   help='prior dataset root (ROOT/<task>/shard-*), e.g. Bridge or sim data')
    p.add_argument('--tasks', nargs='+', help='prior tasks to use (default: all in --data)')
    p.add_argument('--target', help='target dataset root (few demos of the new task)')
    p.add_argument('--target-task', help='target task folder name in --target')
    p.add_argument('--retarget', metavar='EXISTING',
                   help="give the target data an existing task's id instead of a placeholder")
    p.add_argument('--tau', type=float, help='fraction of each batch from the prior data')
    p.add_argument('--prior-reward', choices=MODES, default='last_n',
                   help='prior rewards: last_n (PTR), zero (COG), recorded')
    p.add_argument('--target-reward', choices=MODES, default='last_n',
                   help='target rewards (COG: recorded)')


def _config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config, args.overrides, args.preset)
    if args.steps is not None:
        cfg.train.steps = args.steps
    return cfg


def _reward(mode: str, cfg: Config) -> RewardConfig:
    d = cfg.agent.discount
    if mode == 'last_n':
        return RewardConfig(last_n=cfg.train.reward_last_n, discount=d)
    if mode == 'zero':
        return RewardConfig.cog_prior(discount=d)
    return RewardConfig.recorded(discount=d)


def _dataset(path: str, flag: str) -> Dataset:
    if not Path(path).is_dir():
        raise UsageError(f'{flag} {path}: expected a dataset folder, not found')
    return Dataset(path)


def _prior_tasks(args: argparse.Namespace) -> list[str]:
    ds = _dataset(args.data, '--data')
    for t in args.tasks or []:
        ds[t]  # raises DatasetError naming the known tasks
    return list(args.tasks or ds.tasks)


def _buffers(args, cfg: Config, reg: TaskRegistry, fixed_by: str = '') -> list:
    """Prior (train split of --data) and/or target (train split of --target) sources
    (TransitionBuffers). `fixed_by`: what fixed network.image_size (a checkpoint flag), for
    the error on images of another size; '' when the user or the data chose it."""
    from ptr_core.data.sampler import TransitionBuffer
    out: list[TransitionBuffer] = []
    vf = cfg.train.val_fraction
    if args.data:
        ds = _dataset(args.data, '--data')
        out.append(TransitionBuffer.from_dataset(ds, reg, _reward(args.prior_reward, cfg),
                                                 tasks=_prior_tasks(args), split='train',
                                                 val_fraction=vf))
    if args.target:
        ds = _dataset(args.target, '--target')
        ds[args.target_task]
        out.append(TransitionBuffer.from_dataset(ds, reg, _reward(args.target_reward, cfg),
                                                 tasks=[args.target_task], split='train',
                                                 val_fraction=vf))
    for buf, flag in zip(out, ('--data', '--target') if args.data else ('--target',)):
        s = cfg.network.image_size
        if tuple(buf.image_shape) != (s, s, 3):
            raise UsageError(from_data.mismatch(flag, buf.image_shape, s, fixed_by))
        if len(buf) == 0:
            raise UsageError(f'{flag}: no training transitions (all episodes in the val split?)')
    return out


def _size_fixed_by(args, resumed: bool, critic_ckpt: bool = False) -> str:
    """What fixed network.image_size before the data was read ('': the user or the data)."""
    if resumed:
        return 'the resumed run'
    if critic_ckpt:
        return f'--q-ckpt {args.q_ckpt}'
    return f'--ckpt {args.ckpt}' if getattr(args, 'ckpt', None) else ''


def _check_target_args(args) -> None:
    if bool(args.target) != bool(args.target_task):
        raise UsageError('--target and --target-task go together')


def _claim_target(reg: TaskRegistry, args) -> None:
    if not args.target_task:
        return
    if args.retarget:
        if args.target_task not in reg:
            reg.retarget(args.target_task, args.retarget)
    else:
        reg.ensure(args.target_task)


def _fractions(args, cfg: Config, n: int) -> list[float]:
    tau = args.tau if args.tau is not None else (cfg.train.tau if cfg.train.tau < 1.0 else 0.9)
    if not 0.0 <= tau <= 1.0:
        raise UsageError(f'--tau: expected in [0, 1], got {tau}')
    cfg.train.tau = tau if n == 2 else cfg.train.tau
    return [tau, 1.0 - tau] if n == 2 else [1.0]


def _save_config(out: str, cfg: Config) -> None:
    from ptr_core.atomic import write_bytes
    write_bytes(Path(out) / 'config.yaml', yaml.safe_dump(cfg.to_dict(), sort_keys=False).encode())


def _run(name: str, body: Callable[[], int]) -> int:
    try:
        return body()
    except (ConfigError, DatasetError, CheckpointError, UsageError, ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f'ptr {name}: {msg}', file=sys.stderr)
        return 2


def _resumed(args, cfg_overrides: list[str]):
    if not args.resume:
        return None
    from ptr_core.train import resume
    got = resume(args.out, cfg_overrides)
    if got is None:
        print(f'ptr: --resume: no checkpoint in {args.out}/checkpoints; starting fresh',
              file=sys.stderr)
    return got


def pretrain_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog='ptr pretrain',
                                description='Multi-task offline CQL pre-training (PTR).')
    _common(p)
    _data_args(p, prior_required=True)
    p.add_argument('--placeholders', type=int,
                   help='task ids reserved for targets (default: fill network.num_tasks)')
    args = p.parse_args(argv)

    def body() -> int:
        from ptr_core import checkpoint as ckpt
        from ptr_core.train import train
        cfg = _config(args)
        got = _resumed(args, args.overrides)
        if got is not None:
            agent, extra = got
            reg = TaskRegistry.from_dict(agent.tasks)
        else:
            agent, extra = None, {}
            tasks = _prior_tasks(args)
            free = cfg.network.num_tasks - len(tasks)
            n_ph = free if args.placeholders is None else args.placeholders
            if free < 0 or n_ph > free:
                raise UsageError(f'network.num_tasks: expected >= {len(tasks)} tasks + '
                                 f'{max(n_ph, 0)} placeholders, got {cfg.network.num_tasks}')
            reg = TaskRegistry.create(tasks, num_placeholders=n_ph)
            cfg.network.num_tasks = reg.size
        args.target = args.target_task = None
        if agent is None:
            from_data.adopt_image_size(args, cfg, 'pretrain')
        sources = _buffers(args, (agent.cfg if agent else cfg), reg,
                           _size_fixed_by(args, agent is not None))
        run_cfg = agent.cfg if agent else cfg
        _save_config(args.out, run_cfg)
        train(run_cfg, sources, run_cfg.train.steps if args.steps is None else args.steps,
              args.out, agent, [1.0], tasks=reg.to_dict(), resume_state=extra,
              progress=not args.no_progress, tensorboard=not args.no_tensorboard)
        print(f'ptr pretrain: wrote {ckpt.latest(args.out)}')
        return 0

    return _run('pretrain', body)


def finetune_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog='ptr finetune',
        description='Offline fine-tuning of a pre-trained agent (same networks AND optimizers) '
                    'on tau-mixed batches of prior and target data.')
    _common(p)
    _data_args(p, prior_required=False)
    p.add_argument('--ckpt', required=True, help='pre-training checkpoint (agent)')
    args = p.parse_args(argv)

    def body() -> int:
        _check_target_args(args)
        if not args.target:
            raise UsageError('--target DIR and --target-task NAME are required for fine-tuning')
        if args.config or args.preset:
            raise UsageError('--config/--preset: a fine-tuned agent keeps the config of --ckpt; '
                             'change training fields with --set')
        if not args.resume:  # resuming continues from the run's own newest checkpoint
            check_file(args.ckpt, '--ckpt')
        from ptr_core import checkpoint as ckpt
        from ptr_core.agent import Agent
        from ptr_core.train import train
        overrides = list(args.overrides)
        got = _resumed(args, overrides)
        if got is not None:
            agent, extra = got
            total = int(extra.get('total_steps', agent.cfg.train.steps))
        else:
            agent, extra = Agent.load(args.ckpt, overrides, restore_rng=False), {}
            steps = args.steps if args.steps is not None else agent.cfg.train.steps
            total = agent.step + steps
        reg = TaskRegistry.from_dict(agent.tasks) if agent.tasks else None
        if reg is None:
            raise UsageError(f'{args.ckpt}: tasks: the checkpoint has no task registry')
        _claim_target(reg, args)
        agent.tasks, agent.target_task = reg.to_dict(), args.target_task
        sources = _buffers(args, agent.cfg, reg, _size_fixed_by(args, got is not None))
        fr = _fractions(args, agent.cfg, len(sources))
        _save_config(args.out, agent.cfg)
        train(agent.cfg, sources, total, args.out, agent, fr, resume_state=extra,
              progress=not args.no_progress, tensorboard=not args.no_tensorboard,
              extra={'total_steps': total})
        print(f'ptr finetune: wrote {ckpt.latest(args.out)} (task {args.target_task!r} = id '
              f'{reg.id(args.target_task)}, tau {fr[0]:g})')
        return 0

    return _run('finetune', body)


def train_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog='ptr train',
        description='Train from scratch: --algo cql|bc|awbc on prior + target data (joint), or '
                    'target only (omit --data).')
    _common(p)
    _data_args(p, prior_required=False)
    p.add_argument('--algo', choices=tuple(ALGOS), default='cql')
    p.add_argument('--q-ckpt', help='awbc: CQL checkpoint whose frozen critic weights the BC')
    args = p.parse_args(argv)

    def body() -> int:
        _check_target_args(args)
        if not args.data and not args.target:
            raise UsageError('give --data DIR and/or --target DIR --target-task NAME')
        frozen_critic = ALGOS[args.algo].frozen_critic
        if frozen_critic and not args.q_ckpt and not args.resume:
            raise UsageError(f'--algo {args.algo} needs --q-ckpt (a CQL checkpoint)')
        if frozen_critic and args.q_ckpt and not args.resume:
            check_file(args.q_ckpt, '--q-ckpt')
        from ptr_core import checkpoint as ckpt
        from ptr_core.agent import Agent
        from ptr_core.train import train
        overrides = list(args.overrides) + [f'agent.algo={args.algo}']
        got = _resumed(args, overrides)
        if got is not None:
            agent, extra = got
            reg = TaskRegistry.from_dict(agent.tasks)
            cfg = agent.cfg
        else:
            cfg = _config(argparse.Namespace(**{**vars(args), 'overrides': overrides}))
            extra = {}
            if frozen_critic:
                q = ckpt.load(args.q_ckpt, ckpt.AGENT_FORMAT)
                q_cfg = Config.from_dict(q['config'], f'{args.q_ckpt}: config')
                cfg.network = dataclasses.replace(q_cfg.network)
                reg = TaskRegistry.from_dict(q['tasks'])
            else:
                tasks = _prior_tasks(args) if args.data else []
                reg = TaskRegistry.create(tasks, num_placeholders=cfg.network.num_tasks
                                          - len(tasks))
                if reg.size != cfg.network.num_tasks:
                    raise UsageError(f'network.num_tasks: expected >= {len(tasks)}, '
                                     f'got {cfg.network.num_tasks}')
            _claim_target(reg, args)
            if not frozen_critic:  # AW-BC reads images at its critic's size
                from_data.adopt_image_size(args, cfg, 'train')
            agent = Agent(cfg, reg.to_dict(), args.target_task)
            if frozen_critic:
                agent.load_frozen_critic(args.q_ckpt)
        sources = _buffers(args, cfg, reg, _size_fixed_by(args, got is not None, frozen_critic))
        fr = _fractions(args, cfg, len(sources))
        _save_config(args.out, cfg)
        train(cfg, sources, cfg.train.steps if args.steps is None else args.steps, args.out,
              agent, fr, resume_state=extra, progress=not args.no_progress,
              tensorboard=not args.no_tensorboard)
        print(f'ptr train: wrote {ckpt.latest(args.out)}')
        return 0

    return _run('train', body)

"""`ptr`: the one command line. Subcommands live in their packages; this table only routes to them.

Each target is 'module:function' taking argv (list[str]) and returning an exit code, imported
lazily so `ptr tasks` does not pay for torch and `ptr collect` does not pay for rclpy.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    'tasks': ('ptr_sim.cli:tasks_main', 'list the simulated task registry'),
    'collect': ('ptr_sim.collect:main', 'collect scripted sim trajectories into a dataset'),
    'pretrain': ('ptr_core.cli:pretrain_main', 'multi-task offline CQL pre-training'),
    'finetune': ('ptr_core.cli:finetune_main', 'offline fine-tuning with tau batch mixing'),
    'train': ('ptr_core.cli:train_main', 'train --algo {cql,bc,awbc}: joint / target-only runs'),
    'eval': ('ptr_sim.evaluate:main', 'evaluate a checkpoint in sim (success rate, 95% interval)'),
    'select': ('ptr_core.select_cli:main', 'rank checkpoints by Q-value monotonicity'),
    'convert-bridge': ('ptr_core.data.bridge:main',
                       'convert Bridge (numpy or raw) into the dataset format'),
    'convert-bag': ('ptr_core.data.rosbag:main',
                    'convert rosbag2 recordings into the dataset format'),
    'train-reward': ('ptr_reward.train_reward:main', 'train the success classifier'),
    'launch': ('ptr_bringup.launcher:main',
               'run a graph of launch/ as processes (no ros2 needed)'),
    'telemetry': ('ptr_trainer.telemetry:main', 'draw the telemetry PNG of an online run'),
    'demo': ('ptr_bringup.demo:main', 'the whole story in sim (make demo)'),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ['usage: ptr <command> [args...]', '', 'commands:']
    lines += [f'  {name:<{width}}  {help_}' for name, (_, help_) in COMMANDS.items()]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f'ptr: unknown command {name!r}\n\n{usage()}', file=sys.stderr)
        return 2
    from ptr_bringup.rosenv import ensure_ros_env
    ensure_ros_env()
    module, func = COMMANDS[name][0].split(':')
    try:
        code = getattr(importlib.import_module(module), func)(rest)
    except KeyboardInterrupt:
        return 130
    return int(code or 0)


if __name__ == '__main__':
    sys.exit(main())

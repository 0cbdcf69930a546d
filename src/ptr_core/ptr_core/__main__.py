"""`python -m ptr_core <command>`: the learning commands with no ROS installed (a GPU box
pre-training on Bridge data needs torch, not rclpy). `ptr` routes these same entries."""
from __future__ import annotations

import importlib
import os
import sys

# name -> ('module:function' taking argv and returning an exit code, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    'pretrain': ('ptr_core.cli:pretrain_main', 'multi-task offline CQL pre-training'),
    'finetune': ('ptr_core.cli:finetune_main', 'offline fine-tuning with tau batch mixing'),
    'train': ('ptr_core.cli:train_main', 'train --algo {cql,bc,awbc}: joint / target-only runs'),
    'select': ('ptr_core.select_cli:main', 'rank checkpoints by Q-value monotonicity'),
    'config': ('ptr_core.config_docs:main', 'show every config key, its value and meaning'),
    'data': ('ptr_core.data.data_cli:main',
             'datasets: info, show (PNG of an episode), from-bags, from-bridge'),
    'convert-bridge': ('ptr_core.data.bridge:main',
                       'convert Bridge (numpy or raw) into the dataset format'),
    'convert-bag': ('ptr_core.data.rosbag:main',
                    'convert rosbag2 recordings into the dataset format'),
}


def usage(prog: str, commands: dict[str, tuple[str, str]]) -> str:
    width = max(map(len, commands))
    lines = [f'usage: {prog} <command> [args...]', '', 'commands:']
    return '\n'.join(lines + [f'  {n:<{width}}  {h}' for n, (_, h) in commands.items()])


def dispatch(prog: str, commands: dict[str, tuple[str, str]], argv: list[str]) -> int:
    """Run `commands[argv[0]]` with the rest; usage on -h, 2 with usage on an unknown name."""
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(usage(prog, commands))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in commands:
        print(f'{prog}: unknown command {name!r}\n\n{usage(prog, commands)}', file=sys.stderr)
        return 2
    module, func = commands[name][0].split(':')
    try:
        code = getattr(importlib.import_module(module), func)(rest)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ptr config show | head`: the reader left early, nothing failed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(code or 0)


def main(argv: list[str] | None = None) -> int:
    return dispatch('python -m ptr_core', COMMANDS, list(sys.argv[1:] if argv is None else argv))


if __name__ == '__main__':
    sys.exit(main())

"""`torchrun --nproc_per_node=N -m ptr_core.torchrun {pretrain|finetune|train} ARGS`.

The command-line entry of data-parallel training (ptr_core.distributed holds the mechanics): it
joins the process group from torchrun's environment and runs the ordinary command on this rank's
device; only rank 0 shows progress. Kept apart from ptr_core.distributed, which the agent
imports, so that the commands (ptr_core.cli) and the agent do not import each other.
"""
from __future__ import annotations

import sys

import torch.distributed as dist

from ptr_core import cli
from ptr_core.distributed import init_from_env

COMMANDS = {'pretrain': 'pretrain_main', 'finetune': 'finetune_main', 'train': 'train_main'}


def main(argv: list[str] | None = None) -> int:
    """Run one rank of COMMANDS[argv[0]]; 2 with a usage line when the command is unknown."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f'usage: torchrun ... -m ptr_core.torchrun {{{",".join(COMMANDS)}}} ARGS',
              file=sys.stderr)
        return 2
    rank, world, device = init_from_env()
    try:
        extra = ['--set', f'train.device={device}']
        if rank != 0:
            extra.append('--no-progress')
        return getattr(cli, COMMANDS[argv[0]])(argv[1:] + extra)
    finally:
        dist.destroy_process_group()


if __name__ == '__main__':
    sys.exit(main())

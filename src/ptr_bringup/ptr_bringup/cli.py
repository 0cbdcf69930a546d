"""`ptr`: the one command line. Subcommands live in their packages; this table only routes to them.

Each target is 'module:function' taking argv (list[str]) and returning an exit code, imported
lazily so `ptr tasks` does not pay for torch and `ptr collect` does not pay for rclpy.
"""
from __future__ import annotations

import sys

from ptr_core.__main__ import COMMANDS as CORE_COMMANDS
from ptr_core.__main__ import dispatch
from ptr_core.__main__ import usage as core_usage

# The learning commands come from ptr_core (also `python -m ptr_core` without ROS); the rest
# live in the ROS-side packages.
COMMANDS: dict[str, tuple[str, str]] = {
    'tasks': ('ptr_sim.cli:tasks_main', 'list the simulated task registry'),
    'collect': ('ptr_sim.collect:main', 'collect scripted sim trajectories into a dataset'),
    **{k: v for k, v in CORE_COMMANDS.items() if k in ('pretrain', 'finetune', 'train')},
    'eval': ('ptr_sim.evaluate:main', 'evaluate a checkpoint in sim (success rate, 95% interval)'),
    **{k: v for k, v in CORE_COMMANDS.items() if k not in ('pretrain', 'finetune', 'train')},
    'train-reward': ('ptr_reward.train_reward:main', 'train the success classifier'),
    'launch': ('ptr_bringup.launcher:main',
               'run a graph of launch/ as processes (no ros2 needed)'),
    'telemetry': ('ptr_trainer.telemetry:main', 'draw the telemetry PNG of an online run'),
    'estop': ('ptr_safety.estop:main', "latch the running graph's e-stop (--reset clears it)"),
    'demo': ('ptr_bringup.demo:main', 'the whole story in sim (make demo)'),
    'experiment': ('ptr_bringup.experiments.cli:main',
                   "reproduce one of the papers' tables in sim (docs/results/)"),
}


def usage() -> str:
    return core_usage('ptr', COMMANDS)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        from ptr_bringup.rosenv import ensure_ros_env
        ensure_ros_env()
    return dispatch('ptr', COMMANDS, argv)


if __name__ == '__main__':
    sys.exit(main())

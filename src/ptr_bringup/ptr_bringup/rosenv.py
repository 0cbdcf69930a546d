"""Make the ROS 2 environment usable with nothing sourced.

The pip ROS wheels import without any setup; what they lack is an ament index that knows our
packages (launch files, package.xml, node executables). The colcon install space of this workspace
provides it.
A system ROS that is already sourced is kept and our install space is put in front of it.
"""
from __future__ import annotations

import os
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[3]
INSTALL = WORKSPACE / 'install'


def install_prefixes() -> list[str]:
    if not INSTALL.is_dir():
        return []
    return sorted(str(p) for p in INSTALL.iterdir()
                  if (p / 'share' / 'ament_index').is_dir())


def ensure_ros_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """Put this workspace's install prefixes first in AMENT_PREFIX_PATH (default: os.environ)."""
    env = os.environ if env is None else env
    have = [p for p in env.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    ours = [p for p in install_prefixes() if p not in have]
    if ours:
        env['AMENT_PREFIX_PATH'] = os.pathsep.join(ours + have)
    env.setdefault('PTR_WORKSPACE', str(WORKSPACE))
    return env

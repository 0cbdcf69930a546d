"""DDS domain ids: which ones work, and a private one for a test, benchmark or demo graph.

Fast DDS derives its UDP ports from the domain id (7400 + 250 * id + offsets); above id 232 they
no longer fit 16 bits and the middleware calls exit(1) from inside the first node's constructor,
printing only an RTPS log line. That killed whole pytest runs silently, so every id we choose or
accept goes through here, and a bad ROS_DOMAIN_ID is refused before any node starts.
"""
from __future__ import annotations

import os
import random
from typing import Mapping

ENV = 'ROS_DOMAIN_ID'
MAX_DOMAIN_ID = 232
# Above 101 the ports overlap Linux's ephemeral range (32768-60999), where another socket may hold
# them (the ROS 2 "ROS_DOMAIN_ID" concept page): private ids stay at or below it. 0 is everyone's.
PRIVATE_RANGE = (1, 101)


class DomainError(ValueError):
    """A domain id the middleware cannot use."""


def parse_domain_id(value: str | int, source: str = ENV) -> int:
    """The id as an int, or a one-line DomainError naming `source`, the range and the value."""
    try:
        domain = int(str(value).strip())
    except ValueError:
        domain = -1
    if not 0 <= domain <= MAX_DOMAIN_ID:
        raise DomainError(f'{source}: expected an integer in 0..{MAX_DOMAIN_ID} '
                         f'(Fast DDS exits on larger ids), got {value!r}')
    return domain


def check_environment(env: Mapping[str, str] | None = None) -> int | None:
    """The ROS_DOMAIN_ID a process would start with (None: unset, domain 0), validated."""
    value = (os.environ if env is None else env).get(ENV, '')
    return parse_domain_id(value) if value.strip() else None


def private_domain() -> int:
    """A usable id that another run on this machine is unlikely to hold at the same time."""
    return random.SystemRandom().randint(*PRIVATE_RANGE)

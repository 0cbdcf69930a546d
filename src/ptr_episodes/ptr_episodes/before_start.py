"""What the episode manager waits for before an episode starts: every recorded topic connected,
and every required part ready (ptr_ros.readiness). Each wait says every 10 s what it still
waits for, and ends at once when the node stops."""
from __future__ import annotations

import time
from typing import Any

from ptr_episodes.state_machine import unconnected_inputs

SAY_EVERY_S = 10.0


def wait_for_inputs(node: Any) -> None:
    """Until every recorded topic has matched publishers (see unconnected_inputs)."""
    t0, said = time.monotonic(), 0.0
    while not node.stop.is_set():
        missing = unconnected_inputs({
            sub.topic_name: (sub.get_publisher_count(), node.count_publishers(sub.topic_name))
            for sub in node.recorded})
        if not missing:
            return
        waited = time.monotonic() - t0
        if waited - said >= SAY_EVERY_S:
            said = waited
            node.get_logger().warning(f'waiting {waited:.0f} s for publishers of '
                                      f'{", ".join(missing)}')
            node.status(f'waiting for {", ".join(missing)}')
        node.stop.wait(0.1)


def wait_for_ready(node: Any) -> None:
    """Until every required part announced itself on ptr/ready (node.readiness, guarded by
    node.lock): an episode started before the policy is loaded would record a robot held
    still by the safety filter."""
    t0, said = time.monotonic(), 0.0
    with node.lock:
        while not node.stop.is_set() and not node.readiness.ready:
            waited = time.monotonic() - t0
            if waited - said >= SAY_EVERY_S:
                said = waited
                missing = ', '.join(node.readiness.missing())
                node.get_logger().info(f'waiting {waited:.0f} s for {missing} to be ready')
                node.status(f'waiting for {missing}')
            node.lock.wait(0.2)
    if node.readiness.required and not node.stop.is_set() and node.mgr.episode == 0:
        node.get_logger().info(f'ready ({node.readiness.summary()})')

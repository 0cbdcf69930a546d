"""An evaluation whose policy node starts late counts no episode before the policy is ready.

The sim bridge of the eval graph (real time, auto_reset, require_ready:=policy) runs alone first;
the policy node starts only once a whole episode has run out at its horizon without it (the
premise, waited for on sim/status: without the gate that episode would have been logged as
"episode 1: failure after 30 steps"). Then the bridge must say it is ready, with the policy's
fingerprint, before its first counted episode, and the policy node must report the development
key in one log line, not as a Python UserWarning with its source line.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from ptr_ros.domains import private_domain
from ptr_ros.testing import stop_process

pytestmark = [pytest.mark.ros, pytest.mark.slow]
IMAGE = 48


def _node(module: str, name: str, params: dict, env: dict, log_path) -> subprocess.Popen:
    cmd = [sys.executable, '-m', module, '--ros-args', '-r', f'__node:={name}']
    for key, value in params.items():
        cmd += ['-p', f'{key}:={value}']
    with open(log_path, 'w') as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)


def test_an_evaluation_counts_no_episode_before_a_late_policy_is_ready(tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from std_msgs.msg import String

    from ptr_core.agent import Agent
    from ptr_core.task_registry import TaskRegistry
    from ptr_core.testing import tiny_config
    from ptr_ros.qos import event_qos
    ckpt = Agent(tiny_config(IMAGE), TaskRegistry.create(['OpenDoor']).to_dict(),
                 'OpenDoor').save(tmp_path / 'policy.pt')
    domain = private_domain()
    env = {k: v for k, v in os.environ.items() if not k.startswith('PTR_WEIGHTS_KEY')}
    env |= {'ROS_DOMAIN_ID': str(domain), 'PYTHONUNBUFFERED': '1'}
    bridge_log, policy_log = tmp_path / 'bridge.log', tmp_path / 'policy.log'
    bridge = _node('ptr_sim.bridge_node', 'sim_bridge', {
        'task': 'OpenDoor', 'image_size': IMAGE, 'clock_mode': 'realtime', 'seed': 0,
        'auto_reset': 'true', 'require_ready': 'policy'}, env, bridge_log)
    policy = None
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node('readiness_watcher', context=ctx)
    episodes: list[int] = []
    node.create_subscription(String, 'sim/status',
                             lambda m: episodes.append(json.loads(m.data)['episode']),
                             event_qos(100))
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)

    def spin_until(cond, limit, what):
        end = time.monotonic() + limit
        while time.monotonic() < end and not cond():
            executor.spin_once(timeout_sec=0.05)
            assert bridge.poll() is None, bridge_log.read_text()[-3000:]
        assert cond(), f'{what}: not within {limit} s\n{bridge_log.read_text()[-3000:]}'
    try:
        # the premise: one whole episode ran out with no policy (the bridge restarted it)
        spin_until(lambda: len(set(episodes)) >= 2, 180, 'an episode ending without a policy')
        policy = _node('ptr_policy.policy_node', 'policy_node', {
            'checkpoint': ckpt, 'clock_mode': 'realtime'}, env, policy_log)
        spin_until(lambda: 'episode 1:' in bridge_log.read_text(), 180,
                   'a counted episode with the policy acting')
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        for proc in (policy, bridge):
            if proc is not None:
                stop_process(proc)
    text = bridge_log.read_text()
    ready = re.search(r'ready \(policy: fingerprint [0-9a-f]+ v0\): episodes count from now on',
                      text)
    assert ready, text[-3000:]
    assert not re.search(r'episode \d+:', text[:ready.start()]), text[-3000:]
    counted = re.findall(r'episode (\d+): (?:success|failure) after', text)
    assert counted[0] == '1', text[-3000:]
    said = policy_log.read_text()
    assert re.search(r'\[WARN\] .*no weights key configured \(PTR_WEIGHTS_KEY\); using the '
                     r'development key', said), said[-3000:]
    assert 'UserWarning' not in said and 'warnings.warn' not in said, said[-3000:]

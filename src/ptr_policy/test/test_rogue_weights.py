"""Issue 10, security: ptr/policy_weights is open to anyone on the DDS domain. A rogue process
on the policy node's domain sends unsigned, wrongly keyed, tampered, other-architecture,
replayed (older) and oversized weights; the policy node (a process of its own) refuses each,
says why in its log, and keeps acting with the weights it runs: same version, same actions.
"""
import os
import pickle
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from ptr_ros.domains import private_domain

pytestmark = [pytest.mark.ros, pytest.mark.slow]
IMAGE = 32
KEY = b'rogue-test-key'

ROGUE = textwrap.dedent("""
    import pickle, sys, time
    import rclpy
    from ptr_ros.qos import latched_qos
    from std_msgs.msg import UInt8MultiArray
    from ptr_core import rosmsg
    packets = pickle.load(open(sys.argv[1], 'rb'))
    rclpy.init()
    node = rclpy.create_node('rogue')
    pub = node.create_publisher(UInt8MultiArray, 'ptr/policy_weights', latched_qos(16))
    end = time.monotonic() + 30
    while pub.get_subscription_count() < 1 and time.monotonic() < end:
        time.sleep(0.05)
    for name, data in packets:
        pub.publish(rosmsg.bytes_to_uint8(data, UInt8MultiArray()))
        time.sleep(0.3)
    time.sleep(2.0)
    node.destroy_node()
    rclpy.shutdown()
""")


def _packets(agent):
    """(what, bytes) for each attack; the rogue has the key for the last three (a leaked key
    or a recorded packet): only the version, the fingerprint and the size give them away."""
    from ptr_core import weights
    good, fp = agent.policy_state_bytes(), agent.fingerprint
    [v3] = weights.encode(good, 3, fp, KEY)
    tampered = bytearray(v3)
    tampered[len(tampered) // 2] ^= 0x01
    return [
        ('unsigned', os.urandom(4096)),
        ('wrong key', weights.encode(good, 3, fp, b'not-the-key')[0]),
        ('tampered', bytes(tampered)),
        ('other architecture', weights.encode(good, 4, 'f' * len(fp), KEY)[0]),
        ('replayed older version', weights.encode(good, 1, fp, KEY)[0]),
        ('oversized', weights.encode(os.urandom(3 * 2**20), 5, fp, KEY)[0]),
    ], fp


EXPECTED = {  # what the policy node's log says for each
    'unsigned': 'expected magic',
    'wrong key': 'HMAC mismatch',
    'tampered': 'HMAC mismatch',
    'other architecture': 'architecture fingerprint mismatch',
    'replayed older version': 'weights v1: older than the running v2',
    'oversized': 'bytes, over the limit of 2097152',
}


def test_rogue_publisher_is_refused_and_the_policy_keeps_acting(tmp_path):
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String, UInt8MultiArray

    from ptr_core import rosmsg, weights
    from ptr_core.agent import Agent
    from ptr_core.task_registry import TaskRegistry
    from ptr_core.testing import tiny_config
    from ptr_ros.qos import action_qos, latched_qos, sensor_qos
    torch.set_num_threads(1)
    torch.manual_seed(0)
    agent = Agent(tiny_config(IMAGE), TaskRegistry.create(['OpenDoor']).to_dict(), 'OpenDoor')
    ckpt = agent.save(tmp_path / 'agent.pt')
    attacks, fp = _packets(agent)
    with open(tmp_path / 'packets.pkl', 'wb') as f:
        pickle.dump(attacks, f)
    with torch.no_grad():  # the legitimate trainer's v2: other weights, same architecture
        agent.deployed_net.actor.out.bias.add_(0.7)
    legit = weights.encode(agent.policy_state_bytes(2), 2, fp, KEY)

    domain = private_domain()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), PYTHONUNBUFFERED='1')
    log = open(tmp_path / 'policy.log', 'w+')
    policy = subprocess.Popen(
        [sys.executable, '-m', 'ptr_policy.policy_node', '--ros-args', '-p',
         f'checkpoint:={ckpt}', '-p', 'clock_mode:=lockstep', '-p',
         f'weights_key:={KEY.decode()}', '-p', 'max_weights_mb:=2.0'],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = Node('rogue_test', context=ctx)
    actions, versions = {}, []
    node.create_subscription(Float32MultiArray, 'robot/action', lambda m: actions.__setitem__(
        rosmsg.stamp_tag(m), rosmsg.float32_to_numpy(m).copy()), action_qos())
    node.create_subscription(String, 'ptr/policy_version',
                             lambda m: versions.append(m.data), latched_qos())
    pub_img = node.create_publisher(Image, 'camera/image_raw', sensor_qos())
    pub_state = node.create_publisher(Float32MultiArray, 'robot/state', sensor_qos())
    pub_w = node.create_publisher(UInt8MultiArray, 'ptr/policy_weights', latched_qos(4))
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (IMAGE, IMAGE, 3), dtype=np.uint8)
    state = np.array([0.3, 0.0, 0.2, 0.0, 1.2, 0.0, 1.0], np.float32)

    def act(stamp, limit=60.0):
        """The policy's action for the fixed observation sent with this stamp."""
        end = time.monotonic() + limit
        while stamp not in actions and time.monotonic() < end:
            img = rosmsg.numpy_to_image(image, 'rgb8', Image())
            rosmsg.ns_to_stamp(stamp, img.header.stamp)
            st = rosmsg.numpy_to_float32(state, Float32MultiArray())
            rosmsg.tag_stamp(st, stamp, MultiArrayDimension)
            pub_state.publish(st)
            pub_img.publish(img)
            t = time.monotonic() + 0.3
            while time.monotonic() < t and stamp not in actions:
                executor.spin_once(timeout_sec=0.05)
        assert stamp in actions, log.seek(0) or log.read()[-3000:]
        return actions[stamp]

    def spin_until(cond, limit):
        end = time.monotonic() + limit
        while not cond() and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        return cond()

    try:
        first = act(1_000)
        for packet in legit:
            pub_w.publish(rosmsg.bytes_to_uint8(packet, UInt8MultiArray()))
        assert spin_until(lambda: any('"version": 2' in v for v in versions), 30)
        v2 = act(2_000)
        assert not np.allclose(first, v2)  # the legitimate update runs
        rogue = subprocess.run([sys.executable, '-c', ROGUE, str(tmp_path / 'packets.pkl')],
                               env=env, timeout=90, capture_output=True, text=True)
        assert rogue.returncode == 0, rogue.stderr[-2000:]

        def text():
            log.flush()
            log.seek(0)
            return log.read()
        assert spin_until(lambda: all(e in text() for e in EXPECTED.values()), 30), text()
        after = act(3_000)
        np.testing.assert_array_equal(after, v2)  # still acting, with the weights it had
        assert not [v for v in versions if '"version": 2' not in v and '"version": 0' not in v]
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        policy.terminate()
        policy.wait(20)
    refusals = [line for line in text().splitlines() if 'ptr/policy_weights refused' in line]
    for what, reason in EXPECTED.items():
        assert any(reason in line for line in refusals), (what, refusals)
    assert 'Traceback' not in text()

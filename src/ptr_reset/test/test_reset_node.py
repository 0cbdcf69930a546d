"""The reset node as its own process over real DDS, against a stand-in bridge whose 'door' closes
after a number of reset actions: success, success although one action is lost, and timeout ->
home -> retry -> escalate."""
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from ptr_core.agent import Agent
from ptr_core.task_registry import TaskRegistry
from ptr_core.testing import tiny_config
from ptr_reward.classifier import ClassifierConfig, save_classifier, train_classifier
from ptr_ros.domains import private_domain
from ptr_ros.testing import spin_in_background, stop_process

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)
SIZE = 32


def frame(open_door, rng):
    img = rng.integers(0, 100, (SIZE, SIZE, 3), dtype=np.uint8)
    if open_door:
        img[4:24, 4:12, 0] = 250
    return img


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('reset')
    rng = np.random.default_rng(0)
    labels = np.arange(120) % 2
    imgs = np.stack([frame(bool(y), rng) for y in labels])
    cfg = ClassifierConfig(image_size=SIZE, channels=(8, 16), hidden=16, steps=60,
                           batch_size=32, lr=3e-3)
    res = train_classifier(imgs, labels, cfg)
    assert res.val_accuracy > 0.95
    clf = save_classifier(tmp / 'clf.pt', res.model)
    reg = TaskRegistry.create(['CloseDoor'])
    pol = Agent(tiny_config(SIZE), reg.to_dict(), 'CloseDoor').save(tmp / 'reset.pt')
    return clf, pol


class FakeBridge:
    """Lock-step stand-in: one observation per tagged action; the door closes after n actions.

    Like the sim bridge, it re-sends the current observation periodically (`resend`): images and
    states are best effort, and a lost frame must not stall the lock-step loop into a timeout.
    """

    def __init__(self, node, close_after, lose_action=None):
        from sensor_msgs.msg import Image
        from std_msgs.msg import Float32MultiArray
        from std_srvs.srv import Trigger

        from ptr_ros.qos import action_qos, sensor_qos
        self.node, self.close_after = node, close_after
        self.lose_action = lose_action  # the first delivery of this action (1-based) is 'lost'
        self.received = 0
        self.rng = np.random.default_rng(1)
        self.stamp, self.actions, self.homes = 1000, 0, 0
        self.lock = threading.Lock()
        self.Image, self.F32 = Image, Float32MultiArray
        self.pub_img = node.create_publisher(Image, 'camera/image_raw', sensor_qos())
        self.pub_state = node.create_publisher(Float32MultiArray, 'robot/state', sensor_qos())
        node.create_subscription(Float32MultiArray, 'robot/action', self.on_action, action_qos())
        node.create_service(Trigger, 'robot/reset', self.on_home)

    def publish(self):
        from std_msgs.msg import MultiArrayDimension

        from ptr_core import rosmsg
        with self.lock:
            img = rosmsg.numpy_to_image(frame(self.actions < self.close_after, self.rng), 'rgb8',
                                        self.Image())
            rosmsg.ns_to_stamp(self.stamp, img.header.stamp)
            state = rosmsg.numpy_to_float32(np.zeros(7, np.float32), self.F32())
            rosmsg.tag_stamp(state, self.stamp, MultiArrayDimension)
            self.pub_state.publish(state)
            self.pub_img.publish(img)

    def resend(self, stop: threading.Event, period: float = 0.5):
        while not stop.wait(period):
            self.publish()

    def on_action(self, msg):
        from ptr_core import rosmsg
        with self.lock:
            if rosmsg.stamp_tag(msg) != self.stamp:
                return
            self.received += 1
            if self.received == self.lose_action:
                return  # as if DDS had dropped it: the node must send it again
            self.actions += 1
            self.stamp += 1000
        self.publish()

    def on_home(self, request, response):
        with self.lock:
            self.homes += 1
            self.stamp += 1000
        self.publish()
        response.success = True
        response.message = json.dumps({'stamp_ns': self.stamp})  # like the sim bridge
        return response


@pytest.mark.parametrize('close_after,expect_ok,lose_action',
                         [(3, True, None), (3, True, 2), (10_000, False, None)])
def test_reset_node(ckpts, close_after, expect_ok, lose_action):
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from ptr_ros.qos import latched_qos
    clf, pol = ckpts
    domain = private_domain()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'ptr_reset.reset_node', '--ros-args', '-p', f'policy_ckpt:={pol}',
         '-p', f'classifier_ckpt:={clf}', '-p', 'max_steps:=4', '-p', 'attempts:=2',
         '-p', 'obs_timeout:=3.0'],
        env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    ex = MultiThreadedExecutor(context=ctx)
    stop = ex.shutdown  # until the executor spins
    try:
        node = rclpy.create_node('fake_bridge', context=ctx)
        ex.add_node(node)
        bridge = FakeBridge(node, close_after, lose_action)
        status = []
        node.create_subscription(String, 'ptr/status', lambda m: status.append(
            json.loads(m.data)), latched_qos())
        client = node.create_client(Trigger, 'ptr/reset_scene')
        stop = spin_in_background(ex)
        assert client.wait_for_service(timeout_sec=60), 'reset node did not come up'
        # Let discovery finish both ways (topics and the service's reply path) before calling.
        end = time.monotonic() + 30
        while time.monotonic() < end and not (bridge.pub_img.get_subscription_count()
                                               and node.count_publishers('robot/action')):
            time.sleep(0.05)
        time.sleep(0.5)
        # The reset node needs an observation to start from: the scene shows an open door.
        for _ in range(5):
            bridge.publish()
            time.sleep(0.1)
        stop_resend = threading.Event()
        threading.Thread(target=bridge.resend, args=(stop_resend,), daemon=True).start()
        fut = client.call_async(Trigger.Request())
        end = time.monotonic() + 60
        while not fut.done() and time.monotonic() < end:
            time.sleep(0.05)
        stop_resend.set()
        res = fut.result()
        if res is not None:
            end = time.monotonic() + 5
            while not status and time.monotonic() < end:
                time.sleep(0.05)
    finally:
        rc, out = stop_process(proc)
        stop()
        rclpy.shutdown(context=ctx)
    log = f'\nreset node output:\n{out}'
    assert res is not None, f'no ptr/reset_scene answer{log}'
    if expect_ok:
        assert res.success and res.message == 'attempt 1: reset reached after 3 steps', \
            res.message + log
        assert bridge.actions == 3 and bridge.homes == 0, log
    else:
        assert not res.success and res.message.startswith('ESCALATE'), res.message + log
        assert bridge.actions == 8 and bridge.homes == 1, log  # 4 per attempt, home between
    assert status and status[-1]['state'] == ('ok' if expect_ok else 'escalated'), log
    assert rc == 0, out

"""The reward node, as its own process over real DDS, labels frames with the classifier."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from ptr_reward.classifier import (
    ClassifierConfig,
    RewardLabeler,
    SuccessClassifier,
    save_classifier,
)
from ptr_ros.domains import private_domain
from ptr_ros.exit_codes import CONFIG_ERROR
from ptr_ros.testing import stop_process

pytestmark = pytest.mark.ros


def bright_classifier():
    """A hand-set classifier: P(success) = sigmoid(40 (mean brightness - 0.5))."""
    cfg = ClassifierConfig(image_size=32, channels=(4,), hidden=4, threshold=0.5)
    model = SuccessClassifier(cfg)
    model.backbone = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                         torch.nn.Linear(3, cfg.hidden))
    with torch.no_grad():
        model.backbone[2].weight.zero_()
        model.backbone[2].weight[0] = 1.0 / 3.0
        model.backbone[2].bias.zero_()
        model.head.weight.zero_()
        model.head.weight[0, 0] = 40.0
        model.head.bias.fill_(-20.0)
    return model


def test_labeler_threshold_from_checkpoint_or_override():
    model = bright_classifier()
    lab = RewardLabeler(model)
    p, r = lab(np.full((20, 20, 3), 255, np.uint8))
    assert p > 0.99 and r == 1.0
    p, r = lab(np.zeros((20, 20, 3), np.uint8))
    assert p < 0.01 and r == 0.0
    # Mean 0.55 -> logit 2 -> p = 0.881: above 0.5, below an override of 0.9.
    img = np.full((20, 20, 3), round(0.55 * 255), np.uint8)
    assert lab(img)[1] == 1.0
    assert RewardLabeler(model, 0.9)(img)[1] == 0.0
    assert lab(img)[0] == pytest.approx(1 / (1 + np.exp(-40 * (round(0.55 * 255) / 255 - 0.5))),
                                        rel=1e-4)


def test_reward_node_over_dds(tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32, String

    from ptr_core.rosmsg import ns_to_stamp, numpy_to_image
    from ptr_ros.qos import event_qos, sensor_qos

    cfg = ClassifierConfig(image_size=32, channels=(4,), hidden=4)
    real = SuccessClassifier(cfg)
    with torch.no_grad():
        for p in real.parameters():
            p.zero_()
        real.head.bias.fill_(3.0)  # P(success) = sigmoid(3) = 0.9526 for every frame
    ckpt = save_classifier(tmp_path / 'clf.pt', real)
    domain = str(private_domain())
    env = dict(os.environ, ROS_DOMAIN_ID=domain)
    proc = subprocess.Popen([sys.executable, '-m', 'ptr_reward.reward_node', '--ros-args',
                             '-p', f'classifier_ckpt:={ckpt}', '-p', 'threshold:=0.95'],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=int(domain))
    try:
        node = rclpy.create_node('test_reward', context=ctx)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        got, rewards = [], []
        node.create_subscription(String, 'ptr/reward_info', lambda m: got.append(
            json.loads(m.data)), event_qos())
        node.create_subscription(Float32, 'ptr/reward', lambda m: rewards.append(m.data),
                                 event_qos())
        pub = node.create_publisher(Image, 'camera/image_raw', sensor_qos())
        deadline = time.monotonic() + 60
        k = 0
        while len(got) < 3 and time.monotonic() < deadline and proc.poll() is None:
            msg = numpy_to_image(np.zeros((48, 48, 3), np.uint8), 'rgb8', Image())
            k += 1
            ns_to_stamp(k * 200_000_000, msg.header.stamp)
            pub.publish(msg)
            ex.spin_once(timeout_sec=0.2)
        assert len(got) >= 3, proc.stdout.read().decode() if proc.poll() is not None else 'none'
        assert all(g['prob'] == pytest.approx(0.952574, abs=1e-5) for g in got)
        assert all(g['reward'] == 1.0 for g in got)  # 0.9526 > 0.95
        assert {g['stamp_ns'] for g in got} <= {i * 200_000_000 for i in range(1, k + 1)}
        end = time.monotonic() + 2
        while not rewards and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.1)
        assert rewards and rewards[0] == 1.0
    finally:
        stop_process(proc)
        rclpy.shutdown(context=ctx)


def test_reward_node_missing_checkpoint_fails_in_one_line(tmp_path):
    out = subprocess.run([sys.executable, '-m', 'ptr_reward.reward_node', '--ros-args', '-p',
                          f'classifier_ckpt:={tmp_path}/none.pt'], capture_output=True,
                         text=True, timeout=60,
                         env=dict(os.environ, ROS_DOMAIN_ID=str(private_domain())))
    assert out.returncode == CONFIG_ERROR  # not respawned: a restart cannot create the file
    assert 'none.pt' in out.stderr and 'not found' in out.stderr
    assert len(out.stderr.splitlines()) == 1, out.stderr


def test_reward_node_in_process_labels_a_frame_like_the_classifier(tmp_path):
    """The node class is importable and runs in this process: with every weight zero and the
    head's bias 3, each frame gets P = sigmoid(3) = 0.9526, and the threshold parameter 0.96
    reaches the labeler (reward 0)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from ptr_core.rosmsg import ns_to_stamp, numpy_to_image
    from ptr_reward.reward_node import RewardNode
    from ptr_ros.qos import event_qos, sensor_qos

    model = SuccessClassifier(ClassifierConfig(image_size=32, channels=(4,), hidden=4))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.head.bias.fill_(3.0)
    ckpt = save_classifier(tmp_path / 'clf.pt', model)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=private_domain())
    try:
        node = RewardNode(context=ctx, parameter_overrides=[
            Parameter('classifier_ckpt', value=str(ckpt)), Parameter('threshold', value=0.96)])
        probe = rclpy.create_node('probe', context=ctx)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        ex.add_node(probe)
        got = []
        probe.create_subscription(String, 'ptr/reward_info',
                                  lambda m: got.append(json.loads(m.data)), event_qos())
        pub = probe.create_publisher(Image, 'camera/image_raw', sensor_qos())
        msg = numpy_to_image(np.full((48, 48, 3), 141, np.uint8), 'rgb8', Image())
        ns_to_stamp(7_000_000_000, msg.header.stamp)
        deadline = time.monotonic() + 20
        while not got and time.monotonic() < deadline:
            pub.publish(msg)
            ex.spin_once(timeout_sec=0.1)
        assert got, 'no ptr/reward_info within 20 s'
        expected = 1 / (1 + np.exp(-3.0))
        assert got[0] == {'stamp_ns': 7_000_000_000, 'prob': pytest.approx(expected, rel=1e-5),
                          'reward': 0.0}
        with pytest.raises(ValueError, match='parameter classifier_ckpt: expected a checkpoint'):
            RewardNode(context=ctx)
    finally:
        rclpy.shutdown(context=ctx)

"""Reward node: labels every camera frame with the success classifier (PTR V-F).

Subscribes  camera/image_raw  sensor_msgs/Image (sensor QoS)
Publishes   ptr/success_prob  std_msgs/Float32  P(success) of the frame
            ptr/reward        std_msgs/Float32  1.0 if P(success) > threshold else 0.0
            ptr/reward_info   std_msgs/String   JSON {stamp_ns, prob, reward}: the same numbers
                                                keyed by the image header stamp, so the episode
                                                manager pairs each reward with its frame exactly
                                                (Float32 has no header).
            ptr/ready         std_msgs/String   JSON NodeReady (latched): the classifier is loaded
"""
from __future__ import annotations

import sys
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float32, String

from ptr_core.ckpt_file import check_file
from ptr_core.rosmsg import image_to_numpy, stamp_to_ns
from ptr_ros.contracts import NodeReady, RewardInfo
from ptr_ros.nodeutil import declare, run
from ptr_ros.qos import event_qos, latched_qos, sensor_qos

PARAMETERS: dict[str, object] = {
    'classifier_ckpt': '',  # path of a `ptr train-reward` checkpoint (required)
    'threshold': -1.0,  # reward threshold on P(success); < 0 uses the checkpoint's
}


class RewardNode(Node):
    """Labels each frame in the camera callback: one classifier forward pass per image."""

    def __init__(self, **node_options: Any) -> None:
        # node_options (context, parameter_overrides, ...) let a test build it in-process.
        super().__init__('reward_node', **node_options)
        p = declare(self, PARAMETERS)
        ckpt = p['classifier_ckpt']
        if not ckpt:
            raise ValueError('parameter classifier_ckpt: expected a checkpoint path, '
                             'got an empty string')
        check_file(ckpt)  # a missing or corrupt file is refused before torch loads (seconds)
        from ptr_reward.classifier import RewardLabeler
        self.labeler = RewardLabeler.from_checkpoint(ckpt, p['threshold'])
        self.pub_prob = self.create_publisher(Float32, 'ptr/success_prob', event_qos())
        self.pub_reward = self.create_publisher(Float32, 'ptr/reward', event_qos())
        self.pub_info = self.create_publisher(String, 'ptr/reward_info', event_qos())
        self.create_subscription(Image, 'camera/image_raw', self.on_image, sensor_qos())
        self.get_logger().info(f'labeling frames with {ckpt} '
                               f'(threshold {self.labeler.threshold:.2f})')
        # Last: episodes start and count only after this (ptr_ros.readiness).
        self.create_publisher(String, NodeReady.TOPIC, latched_qos()).publish(
            NodeReady('reward_node', 'classifier', str(ckpt)).to_msg())

    def on_image(self, msg: Image) -> None:
        try:
            img = image_to_numpy(msg, 'rgb8')
        except ValueError as e:
            self.get_logger().error(f'camera/image_raw: {e}')
            return
        prob, reward = self.labeler(img)
        self.pub_prob.publish(Float32(data=prob))
        self.pub_reward.publish(Float32(data=reward))
        self.pub_info.publish(RewardInfo(stamp_to_ns(msg.header.stamp), prob, reward).to_msg())


def main(args: list[str] | None = None) -> int:
    return run(RewardNode, args)


if __name__ == '__main__':
    sys.exit(main())

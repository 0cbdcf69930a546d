"""Reward node: labels every camera frame with the success classifier (PTR V-F).

Subscribes  camera/image_raw  sensor_msgs/Image (sensor QoS)
Publishes   ptr/success_prob  std_msgs/Float32  P(success) of the frame
            ptr/reward        std_msgs/Float32  1.0 if P(success) > threshold else 0.0
            ptr/reward_info   std_msgs/String   JSON {stamp_ns, prob, reward}: the same numbers
                                                keyed by the image header stamp, so the episode
                                                manager pairs each reward with its frame exactly
                                                (Float32 has no header).
"""
from __future__ import annotations

import json
import sys

PARAMETERS: dict[str, object] = {
    'classifier_ckpt': '',  # path of a `ptr train-reward` checkpoint (required)
    'threshold': -1.0,  # reward threshold on P(success); < 0 uses the checkpoint's
}


def main(args: list[str] | None = None) -> int:
    import rclpy
    from ptr_ros.qos import event_qos, sensor_qos
    from rclpy.executors import ExternalShutdownException
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32, String

    from ptr_core.rosmsg import image_to_numpy, stamp_to_ns
    from ptr_reward.classifier import RewardLabeler

    class RewardNode(Node):
        def __init__(self) -> None:
            super().__init__('reward_node')
            for name, default in PARAMETERS.items():
                self.declare_parameter(name, default)
            ckpt = self.get_parameter('classifier_ckpt').value
            if not ckpt:
                raise ValueError('reward_node: parameter classifier_ckpt: expected a checkpoint '
                                 'path, got an empty string')
            self.labeler = RewardLabeler.from_checkpoint(ckpt,
                                                         self.get_parameter('threshold').value)
            self.pub_prob = self.create_publisher(Float32, 'ptr/success_prob', event_qos())
            self.pub_reward = self.create_publisher(Float32, 'ptr/reward', event_qos())
            self.pub_info = self.create_publisher(String, 'ptr/reward_info', event_qos())
            self.create_subscription(Image, 'camera/image_raw', self.on_image, sensor_qos())
            self.get_logger().info(f'labeling frames with {ckpt} '
                                   f'(threshold {self.labeler.threshold:.2f})')

        def on_image(self, msg: Image) -> None:
            try:
                img = image_to_numpy(msg, 'rgb8')
            except ValueError as e:
                self.get_logger().error(f'camera/image_raw: {e}')
                return
            prob, reward = self.labeler(img)
            self.pub_prob.publish(Float32(data=prob))
            self.pub_reward.publish(Float32(data=reward))
            self.pub_info.publish(String(data=json.dumps(
                {'stamp_ns': stamp_to_ns(msg.header.stamp), 'prob': prob, 'reward': reward})))

    rclpy.init(args=args)
    node = None
    try:
        node = RewardNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, FileNotFoundError) as e:
        print(f'reward_node: {e}', file=sys.stderr)
        return 2
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())

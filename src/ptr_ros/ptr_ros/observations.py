"""The robot's observation topics, decoded once for every node that reads them.

camera/image_raw arrives as rgb8 keyed by its header stamp, robot/state as a STATE_DIM vector
keyed by the stamp tag of the image it belongs to (ptr_core.rosmsg); a message that does not
decode is logged (at most every 5 s per topic) and dropped, never raised into the executor.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from rclpy.node import Node
from rclpy.subscription import Subscription
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray

from ptr_core import rosmsg
from ptr_core.constants import STATE_DIM
from ptr_ros.nodeutil import Throttle
from ptr_ros.qos import sensor_qos

Handler = Callable[[int, np.ndarray], None]


def subscribe_observations(node: Node, on_image: Handler, on_state: Handler, depth: int = 2,
                           callback_group: Any = None) -> list[Subscription]:
    """Subscribe to both topics; handlers get (stamp_ns, array). Returns the two subscriptions."""
    throttle = Throttle(5.0)

    def image_cb(msg: Image) -> None:
        try:
            img = rosmsg.image_to_numpy(msg, 'rgb8')
        except ValueError as e:
            if throttle('image'):
                node.get_logger().error(f'camera/image_raw: {e}')
            return
        on_image(rosmsg.stamp_to_ns(msg.header.stamp), img)

    def state_cb(msg: Float32MultiArray) -> None:
        try:
            state = rosmsg.vector_from_msg(msg, STATE_DIM, 'robot/state')
        except ValueError as e:
            if throttle('state'):
                node.get_logger().error(str(e))
            return
        on_state(rosmsg.stamp_tag(msg), state)

    return [node.create_subscription(Image, 'camera/image_raw', image_cb, sensor_qos(depth),
                                     callback_group=callback_group),
            node.create_subscription(Float32MultiArray, 'robot/state', state_cb,
                                     sensor_qos(depth), callback_group=callback_group)]

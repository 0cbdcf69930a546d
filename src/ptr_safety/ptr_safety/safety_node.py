"""Safety filter node: every action source (policy, reset policy, teleop) reaches the robot
through it, in every graph, sim and arm alike (the logic is ptr_core.safety.SafetyFilter).

Subscribes  safety/action_in   std_msgs/Float32MultiArray (7, normalized; the sources' robot/action
                               remapped here), the observation stamp tag kept
            robot/state        std_msgs/Float32MultiArray (7): where the arm is, for the box
            camera/image_raw   sensor_msgs/Image: only its arrival time (stale input -> hold)
            ptr/estop          std_msgs/Bool, transient local: true latches the e-stop
Publishes   robot/action       std_msgs/Float32MultiArray: the filtered action, or a hold
            safety/status      std_msgs/String JSON (NodeStatus): what was changed and why
                               (throttled), and the e-stop state (at once); with a
                               residual_bound, it and the largest correction seen
Also        ptr/residual_correction  std_msgs/Float32MultiArray [correction, bound] from a
                               residual policy: beyond residual_bound (or another bound, or
                               any when residual_bound is 0) latches the e-stop
Serves      ptr/estop_reset    std_srvs/Trigger: the only way to clear the e-stop
In real time a timer sends holds when the source is quiet for `quiet_periods` control periods,
and actions become holds when state or image are older than `stale_after` s; in lock-step (the
sim waits for every action) only the per-action limits and the e-stop apply.
"""
from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float32MultiArray, MultiArrayDimension, String
from std_srvs.srv import Trigger

from ptr_core import rosmsg
from ptr_core.constants import CLOCK_MODES, CONTROL_HZ, RESIDUAL_TOPIC, STATE_DIM
from ptr_core.safety import ClampResult, SafetyConfig, SafetyFilter
from ptr_ros.contracts import NodeStatus
from ptr_ros.nodeutil import (
    Throttle,
    dataclass_parameters,
    dataclass_values,
    declare,
    require_choice,
    run,
)
from ptr_ros.qos import action_qos, latched_qos, sensor_qos

_NODE_PARAMETERS: dict[str, object] = {
    'clock_mode': 'realtime',  # 'lockstep' | 'realtime' (watchdog holds only in real time)
    'status_period': 2.0,  # seconds between two status messages about changed actions
}


# Every SafetyConfig field is a parameter of the same name and default (one home).
PARAMETERS: dict[str, object] = _NODE_PARAMETERS | dataclass_parameters(SafetyConfig)


class SafetyNode(Node):
    """Filters every action; holds on stale input, a quiet source or a latched e-stop."""

    def __init__(self, **node_options: Any) -> None:
        # node_options (context, parameter_overrides, ...) let a test build it in-process.
        super().__init__('safety_filter', **node_options)
        p = declare(self, PARAMETERS)
        self.lockstep = require_choice(p, 'clock_mode', CLOCK_MODES) == 'lockstep'
        self.filter = SafetyFilter(SafetyConfig(**dataclass_values(SafetyConfig, p)),
                                   period=1.0 / CONTROL_HZ)
        self.state_stamp: int | None = None
        self.counts: dict[str, float] = {'actions': 0, 'changed': 0, 'holds': 0}
        self.said_waiting = False
        self.throttle = Throttle(float(p['status_period']))
        self.pub_action = self.create_publisher(Float32MultiArray, 'robot/action', action_qos())
        self.pub_status = self.create_publisher(String, 'safety/status', latched_qos())
        self.create_subscription(Float32MultiArray, 'safety/action_in', self.on_action,
                                 action_qos())
        self.create_subscription(Float32MultiArray, 'robot/state', self.on_state, sensor_qos())
        self.create_subscription(Image, 'camera/image_raw', self.on_image, sensor_qos())
        self.create_subscription(Bool, 'ptr/estop', self.on_estop, latched_qos())
        if self.filter.cfg.residual_bound > 0:
            self.counts['residual_bound'] = self.filter.cfg.residual_bound
            self.counts['residual_max'] = 0.0
        # Subscribed whatever the bound: a residual policy in a graph without one is refused.
        self.create_subscription(Float32MultiArray, RESIDUAL_TOPIC, self.on_correction,
                                 action_qos())
        self.create_service(Trigger, 'ptr/estop_reset', self.on_reset)
        if not self.lockstep:
            self.create_timer(1.0 / CONTROL_HZ, self.on_tick)
        self.report('ok', 'filtering')

    def on_state(self, msg) -> None:
        try:
            state = rosmsg.vector_from_msg(msg, STATE_DIM, 'robot/state')
        except rosmsg.ConversionError:
            return  # the filter keeps the last good state; stale input then holds
        self.filter.on_state(state, time.monotonic())
        self.state_stamp = rosmsg.stamp_tag(msg)

    def on_image(self, msg) -> None:
        self.filter.on_image(time.monotonic())

    def on_action(self, msg) -> None:
        action = rosmsg.float32_to_numpy(msg).reshape(-1)
        out = self.filter.filter(action, time.monotonic(), check_fresh=not self.lockstep)
        self.counts['actions'] += 1
        self.send(out, rosmsg.stamp_tag(msg))

    def on_correction(self, msg) -> None:
        v = rosmsg.float32_to_numpy(msg).reshape(-1)
        if v.size != 2:
            if self.throttle('correction size'):
                self.get_logger().warning(f'{RESIDUAL_TOPIC}: expected [correction, bound], '
                                          f'got {v.size} floats')
            return
        was = self.filter.estopped
        ok = self.filter.on_correction(float(v[0]), float(v[1]))
        if 'residual_max' in self.counts:
            self.counts['residual_max'] = round(self.filter.max_correction, 6)
        if not ok and not was:
            self.get_logger().error(f'E-STOP latched: {self.filter.estop_reason}')
            self.report('estop', self.filter.estop_reason)

    def on_tick(self) -> None:
        out = self.filter.tick(time.monotonic())
        if out is not None:
            self.send(out, self.state_stamp)

    def send(self, out: ClampResult, stamp: int | None) -> None:
        msg = rosmsg.numpy_to_float32(np.asarray(out.action, np.float32), Float32MultiArray())
        if stamp is not None:  # the bridge applies it to the observation it was meant for
            rosmsg.tag_stamp(msg, stamp, MultiArrayDimension)
        self.pub_action.publish(msg)
        if out.reason:
            self.counts['changed'] += 1
            hold = not np.any(out.action[:6])
            self.counts['holds'] += int(hold)
            if out.reason == 'no action' and self.counts['actions'] == 0:
                self._waiting_for_source()  # a source still loading: not a fault yet
            elif self.throttle(out.reason.split(' (')[0]):
                self.get_logger().warning(f'action {"held" if hold else "limited"}: '
                                          f'{out.reason}')
                self.report('estop' if self.filter.estopped else 'limited', out.reason)

    def _waiting_for_source(self) -> None:
        """Holds before any action source has spoken are said once, not every 2 s: the policy
        node may take seconds to load its checkpoint."""
        if not self.said_waiting:
            self.said_waiting = True
            self.get_logger().info('holding until the first action arrives')
            self.report('waiting', 'no action source yet')

    def on_estop(self, msg) -> None:
        if msg.data and not self.filter.estopped:
            self.filter.estop('ptr/estop')
            self.get_logger().error('E-STOP latched: every action is a hold until '
                                    'ptr/estop_reset is called')
            self.report('estop', 'latched by ptr/estop')
        elif not msg.data and self.filter.estopped:
            self.get_logger().warning('ptr/estop false ignored: only ptr/estop_reset clears it')

    def on_reset(self, request, response):
        response.success = self.filter.reset_estop()
        response.message = 'e-stop cleared' if response.success else 'no e-stop was latched'
        self.get_logger().info(response.message)
        self.report('ok', response.message)
        return response

    def report(self, state: str, message: str) -> None:
        if self.context.ok():
            self.pub_status.publish(NodeStatus('safety_filter', state, message,
                                               dict(self.counts)).to_msg())


def main(args: list[str] | None = None) -> int:
    return run(SafetyNode, args)


if __name__ == '__main__':
    sys.exit(main())

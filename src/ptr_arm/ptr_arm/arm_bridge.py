"""ROS 2 shell around the real WidowX 250: the same topics as the sim bridge (DESIGN.md s5).

Subscribes  robot/action  std_msgs/Float32MultiArray (7, normalized; through the safety filter)
Publishes   robot/state   std_msgs/Float32MultiArray (7): [x, y, z, roll, pitch, yaw, gripper]
                          measured (FK of the joint states), once per control tick, untagged
            robot/status  std_msgs/String JSON (NodeStatus, latched): refused steps (throttled)
                          and the counts
Serves      robot/reset   std_srvs/Trigger: open the gripper and move home; the message is
                          ResetReply JSON with the stamp the next observations come after
Real time only: a CONTROL_HZ timer applies the newest action received since the last tick (a hold
action if none: ArmController.hold_action), as the sim bridge does in its realtime mode. The
logic is ptr_arm.arm_control.ArmController; the Interbotix driver is ptr_arm.hardware (imported
lazily).

Why robot/state is untagged: images come from the camera node with their own capture stamps, so a
state tagged with the bridge's clock would never match one, and ptr_ros.pairing pairs a tagged
state only with the image of its stamp; an untagged state pairs with the newest image.
On exit (Ctrl-C, SIGTERM) the arm goes to its sleep pose, then the driver shuts down.
"""
from __future__ import annotations

import signal
import sys
from typing import Any

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Float32MultiArray, String
from std_srvs.srv import Trigger

from ptr_arm.arm_control import ArmConfig, ArmController, StepReport
from ptr_arm.hardware import InterbotixAPI, InterbotixMissing, connect, require_interbotix
from ptr_core import rosmsg
from ptr_core.constants import ACTION_DIM, CONTROL_HZ
from ptr_ros.contracts import NodeStatus, ResetReply
from ptr_ros.exit_codes import CONFIG_ERROR
from ptr_ros.nodeutil import (
    Throttle,
    dataclass_parameters,
    dataclass_values,
    declare,
    log_info,
    require_choice,
    run,
)
from ptr_ros.qos import action_qos, latched_qos, sensor_qos

_NODE_PARAMETERS: dict[str, object] = {
    'robot_model': 'wx250s',  # Interbotix model (our FK is the wx250s's: the only choice)
    'robot_name': 'wx250s',  # the xs_sdk's namespace ('' = none)
    'group_name': 'arm',  # joint group of the arm in the xs_sdk motor config
    'gripper_name': 'gripper',
    'control_hz': CONTROL_HZ,
    'task': '',  # the task set up in front of the arm (reported in robot/reset's reply)
    'reset_on_start': True,  # move home when the node starts (as the sim starts an episode)
    'sleep_on_exit': True,  # sleep pose before the driver shuts down
    'status_period': 2.0,  # seconds between two status messages about refused steps
}
# Every ArmConfig field is a parameter of the same name and default (one home).
PARAMETERS: dict[str, object] = _NODE_PARAMETERS | dataclass_parameters(ArmConfig)


class ArmBridgeNode(Node):
    """The shell: parameters, topics, the control timer; decisions are ArmController's."""

    def __init__(self, api: InterbotixAPI | Any = None, **node_options: Any) -> None:
        # `api`: the Interbotix API (None: import it); tests pass a stand-in with its names.
        super().__init__('arm_bridge', **node_options)
        p = declare(self, PARAMETERS)
        require_choice(p, 'robot_model', ('wx250s',))
        cfg = ArmConfig(**dataclass_values(ArmConfig, p)).validate()
        self.p = p
        self.hw = connect(api if api is not None else require_interbotix(), self,
                          p['robot_model'], p['robot_name'], p['group_name'],
                          p['gripper_name'], cfg.gripper_pressure, cfg.gripper_delay)
        try:
            self.arm = ArmController(self.hw, cfg)
        except Exception:
            self.hw.close()  # the driver's node and thread must not outlive a refused start
            raise
        self.pending: np.ndarray | None = None  # newest action since the last tick
        self.episode = 0
        self.warn = Throttle(float(p['status_period']))
        self.pub_state = self.create_publisher(Float32MultiArray, 'robot/state', sensor_qos())
        self.pub_status = self.create_publisher(String, 'robot/status', latched_qos())
        self.create_subscription(Float32MultiArray, 'robot/action', self.on_action,
                                 action_qos())
        self.create_service(Trigger, 'robot/reset', self.on_reset)
        if bool(p['reset_on_start']):
            self._check(self.arm.reset())
        self._publish_state()
        self.create_timer(1.0 / float(p['control_hz']), self._tick)
        self.report('ok', f'arm bridge: {p["robot_model"]}'
                          f'{" (dry run: nothing is sent)" if cfg.dry_run else ""}')
        self.get_logger().info(f'arm bridge: {p["robot_model"]} at {p["control_hz"]:g} Hz'
                               f'{", dry run" if cfg.dry_run else ""}')

    def on_action(self, msg) -> None:
        try:
            self.pending = rosmsg.vector_from_msg(msg, ACTION_DIM, 'robot/action')
        except rosmsg.ConversionError as e:
            self.pending = np.full(ACTION_DIM, np.nan)  # the controller holds on it
            if self.warn('bad'):
                self.get_logger().warning(str(e))

    def _tick(self) -> None:
        action, self.pending = self.pending, None
        if action is None:  # the latch's gripper, not the measured one (see hold_action)
            action = self.arm.hold_action()
        self._check(self.arm.step(action))
        self._publish_state()

    def _check(self, report: StepReport) -> None:
        if report.reason and self.warn(report.reason.split(':')[0]):
            self.get_logger().warning(f'held: {report.reason}')
            self.report('limited', report.reason)

    def _publish_state(self) -> int:
        """Publish the measured state; returns the stamp it was taken at."""
        now = self.get_clock().now().nanoseconds
        state = self.arm.state()
        if state is not None:
            self.pub_state.publish(rosmsg.numpy_to_float32(state, Float32MultiArray()))
        return now

    def on_reset(self, request, response):
        report = self.arm.reset()
        self.pending = None
        stamp = self._publish_state()
        response.success = report.moved
        if report.moved:
            self.episode += 1
            response.message = ResetReply(stamp, str(self.p['task']), self.episode).to_json()
            self.report('ok', f'reset: home (episode {self.episode})')
        else:
            response.message = report.reason
            self.get_logger().error(report.reason)
            self.report('error', report.reason)
        return response

    def report(self, state: str, message: str) -> None:
        if self.context.ok():
            self.pub_status.publish(NodeStatus('arm_bridge', state, message,
                                               dict(self.arm.counts)).to_msg())

    def close(self) -> None:
        """Sleep pose (while ROS is still up), then robot_shutdown."""
        if bool(self.p['sleep_on_exit']) and self.context.ok():
            why = self.arm.park()
            log_info(self, f'sleep pose failed: {why}' if why else 'arm in its sleep pose')
        self.hw.close()
        log_info(self, f'arm bridge stopped: {self.arm.counts}')


def _interrupt_without_shutdown() -> None:
    """Rclpy's SIGINT/SIGTERM handler shuts every context down before run()'s cleanup, when the
    arm could no longer be sent to its sleep pose; instead a signal raises KeyboardInterrupt in
    the main thread (within one control tick) and the cleanup parks the arm with ROS still up."""
    from rclpy.signals import uninstall_signal_handlers

    uninstall_signal_handlers()

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # run() ignores further SIGINTs itself
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def main(args: list[str] | None = None, api: InterbotixAPI | Any = None) -> int:
    if api is None:
        try:
            api = require_interbotix()
        except InterbotixMissing as e:
            print(f'arm_bridge: {e}', file=sys.stderr, flush=True)
            return CONFIG_ERROR  # installing is the fix, not a restart

    def arm_bridge() -> ArmBridgeNode:
        node = ArmBridgeNode(api)
        _interrupt_without_shutdown()
        return node

    return run(arm_bridge, args)


if __name__ == '__main__':
    sys.exit(main())

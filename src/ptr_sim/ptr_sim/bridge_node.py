"""ROS 2 shell around the simulated WidowX: the same topics as the real arm (DESIGN.md s5).

Publishes camera/image_raw (rgb8), robot/state (7 floats), sim/success (Bool, privileged: for
episode management and tests), sim/status (String JSON per step), sim/task (String, latched) and,
in lock-step, /clock. Takes robot/action (7 normalized floats, through the safety clamp) and serves
robot/reset (std_srvs/Trigger: the next episode starts; the response message is JSON).

Clock modes:
- realtime: a 5 Hz timer steps the sim with the newest action received since the last tick (a hold
  action if none: the arm keeps still), like the real arm.
- lockstep: the sim steps when the action for the current observation arrives, then publishes the
  next observation at once. The image's stamp is sim time (ticks / control rate) and the state and
  the action carry it in their layout label (ptr_core.rosmsg.tag_stamp), so an action is applied to
  the observation it was computed from; an untagged action (teleop) is accepted as is. While
  waiting, the current observation is re-sent every `resend_s` seconds so that a late subscriber
  or a lost best-effort frame cannot stall the loop. With `wait_for_reward`, a step also waits for
  the reward node's label of the observation (ptr/reward_info), so that no step goes unlabeled.
The end of an episode (success or horizon) is reported on sim/status, not enforced: the arm keeps
moving (the reset policy drives it after an episode) until robot/reset starts the next episode.
With `auto_reset` (evaluation without an episode manager) the bridge starts the next episode itself
and logs each episode's outcome and the running success rate, counting only from the first
episode that began once every part in `require_ready` announced itself on ptr/ready
(ptr_ros.readiness): the episode in progress is restarted then, so none is spent holding still.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Bool, Float32MultiArray, MultiArrayDimension, String
from std_srvs.srv import Trigger

from ptr_core import rosmsg
from ptr_core.constants import ACTION_DIM, CLOCK_MODES, CONTROL_HZ, START_MODES
from ptr_ros.contracts import (
    ContractError,
    NodeReady,
    ResetReply,
    RewardInfo,
    SimStatus,
    TaskInfo,
)
from ptr_ros.nodeutil import Throttle, declare, require_choice, run
from ptr_ros.qos import action_qos, event_qos, latched_qos, sensor_qos
from ptr_ros.readiness import EvaluationTally, Readiness, parse_parts
from ptr_sim.session import LockstepGate, SimSession, StepOutcome

PARAMETERS = {
    'task': 'OpenDoor',
    'image_size': 64,
    'clock_mode': 'lockstep',
    'seed': -1,
    'control_hz': CONTROL_HZ,
    'action_limit': 1.0,
    'resend_s': 1.0,
    'wait_for_reward': False,
    'auto_reset': False,
    'require_ready': '',  # auto_reset: parts (policy, classifier) an episode needs, ptr/ready
    'terminate_on_success': True,  # end at the sim's success; the online graph sets false (a
    # real arm has no such signal: episodes end on the classifier or the horizon)
    'camera_offset': [0.0, 0.0, 0.0],
    'camera_frame': 'camera',
    'starts': 'demo',  # where episodes start: demo | ood | mixed (ptr_core.constants)
}


def make_env(task: str, image_size: int, seed: int | None, camera_offset: list[float],
             terminate_on_success: bool = True, starts: str = 'demo'):
    """The task's env; a non-zero `camera_offset` (metres, x y z) moves its camera's eye.

    The offset is relative to the task's own camera (which includes its kitchen's offset), so the
    same offset means the same perturbation in every kitchen (novel-viewpoint tests).
    """
    import ptr_sim
    env = ptr_sim.make_env(task, image_size=image_size, seed=seed,
                           terminate_on_success=terminate_on_success, starts=starts)
    if not any(camera_offset):
        return env
    camera = env.unwrapped.camera_config.shifted(tuple(float(v) for v in camera_offset))
    env.close()
    return ptr_sim.make_env(task, image_size=image_size, camera=camera, seed=seed,
                            terminate_on_success=terminate_on_success, starts=starts)


class SimBridgeNode(Node):
    """The shell: parameters, topics, timers (episodes: ptr_sim.session, clamps: safety)."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__('sim_bridge', **node_options)
        p = declare(self, PARAMETERS)
        require_choice(p, 'clock_mode', CLOCK_MODES)
        require_choice(p, 'starts', START_MODES)
        seed = int(p['seed'])
        env = make_env(p['task'], int(p['image_size']), None if seed < 0 else seed,
                       list(p['camera_offset']), bool(p['terminate_on_success']),
                       p['starts'])
        self.session = SimSession(env, seed=None if seed < 0 else seed,
                                  action_limit=float(p['action_limit']))
        self.lockstep = p['clock_mode'] == 'lockstep'
        self.period_ns = int(round(1e9 / float(p['control_hz'])))
        self.frame = p['camera_frame']
        self.warn = Throttle(5.0)
        self.pub_image = self.create_publisher(Image, 'camera/image_raw', sensor_qos())
        self.pub_state = self.create_publisher(Float32MultiArray, 'robot/state', sensor_qos())
        self.pub_success = self.create_publisher(Bool, 'sim/success', event_qos())
        self.pub_status = self.create_publisher(String, 'sim/status', event_qos())
        self.pub_task = self.create_publisher(String, 'sim/task', latched_qos())
        self.pub_clock = (self.create_publisher(Clock, '/clock', event_qos(1))
                          if self.lockstep else None)
        self.create_subscription(Float32MultiArray, 'robot/action', self.on_action,
                                 action_qos())
        self.create_service(Trigger, 'robot/reset', self.on_reset)
        self.gate = LockstepGate(bool(p['wait_for_reward']))
        if self.lockstep and self.gate.wait_reward:
            self.create_subscription(String, 'ptr/reward_info', self.on_reward_info,
                                     event_qos(50))
        self.pending = None  # newest action (realtime)
        self.auto_reset = bool(p['auto_reset'])
        self.tally = EvaluationTally(Readiness(parse_parts(p['require_ready'])))
        if self.tally.readiness.required:
            self.create_subscription(String, NodeReady.TOPIC, self.on_ready, latched_qos(8))
        self.stamp_ns = 0
        self._start_episode()
        if self.lockstep:
            self.create_timer(float(p['resend_s']), self._resend)
        else:
            self.create_timer(1.0 / float(p['control_hz']), self._tick)
        self.get_logger().info(
            f'sim bridge: task {self.session.task}, {p["image_size"]} px, '
            f'{p["clock_mode"]}')

    # -- observation out -------------------------------------------------------------------
    def _now_ns(self) -> int:
        if self.lockstep:
            return self.session.ticks * self.period_ns
        return self.get_clock().now().nanoseconds

    def _publish(self, out: StepOutcome) -> None:
        if self.pub_clock is not None:
            clock = Clock()
            rosmsg.ns_to_stamp(self.stamp_ns, clock.clock)
            self.pub_clock.publish(clock)
        state = rosmsg.numpy_to_float32(out.state, Float32MultiArray())
        rosmsg.tag_stamp(state, self.stamp_ns, MultiArrayDimension)
        self.pub_state.publish(state)
        img = rosmsg.numpy_to_image(out.image, 'rgb8', Image())
        rosmsg.ns_to_stamp(self.stamp_ns, img.header.stamp)
        img.header.frame_id = self.frame
        self.pub_image.publish(img)

    def _announce(self, out: StepOutcome) -> None:
        self.pub_success.publish(Bool(data=out.success))
        self.pub_status.publish(SimStatus(
            self.session.task, out.episode, out.step, float(out.reward), bool(out.success),
            bool(out.terminated), bool(out.truncated), self.stamp_ns).to_msg())

    def _start_episode(self) -> StepOutcome:
        out = self.session.reset()
        self.session.ticks += 1  # a reset takes a tick: stamps never repeat
        self.stamp_ns = self._now_ns()
        self.pending = None
        self.pub_task.publish(TaskInfo(self.session.task, out.episode).to_msg())
        self._publish(out)
        self._announce(out)
        self.gate.observe(self.stamp_ns)
        return out

    def _apply(self, action: np.ndarray) -> None:
        out, clamp = self.session.step(action)
        if clamp.reason and self.warn('clamp'):
            self.get_logger().warn(f'robot/action: {clamp.reason}')
        self.stamp_ns = self._now_ns()
        self._publish(out)
        self._announce(out)
        self.gate.observe(self.stamp_ns)
        if out.done and self.auto_reset:
            line = self.tally.on_episode_end(out.success, out.step)
            if line is not None:
                self.get_logger().info(line)
            self._start_episode()

    # -- callbacks -------------------------------------------------------------------------
    def on_action(self, msg) -> None:
        try:
            action = rosmsg.vector_from_msg(msg, ACTION_DIM, 'robot/action')
        except rosmsg.ConversionError as e:
            action = np.full(ACTION_DIM, np.nan)  # the clamp turns it into a hold action
            if self.warn('bad'):
                self.get_logger().warn(str(e))
        if not self.lockstep:
            self.pending = action
            return
        ready = self.gate.on_action(rosmsg.stamp_tag(msg), action)
        if ready is not None:
            self._apply(ready)

    def on_ready(self, msg) -> None:
        try:
            ready = NodeReady.from_msg(msg)
        except ContractError as e:
            self.get_logger().warn(str(e))
            return
        if self.tally.readiness.report(ready.what, ready.detail):
            restart = self.tally.on_ready(self.session.last.step if self.session.last else 0)
            self.get_logger().info(f'ready ({self.tally.readiness.summary()}): episodes '
                                   f'count from now on')
            if restart and self.auto_reset:
                self._start_episode()

    def on_reward_info(self, msg) -> None:
        try:
            stamp = RewardInfo.from_msg(msg).stamp_ns
        except ContractError as e:
            if self.warn('reward_info'):
                self.get_logger().warn(str(e))
            return
        ready = self.gate.on_reward(stamp)
        if ready is not None:
            self._apply(ready)

    def _tick(self) -> None:
        action = self.pending
        self.pending = None
        if action is None:
            action = self.session.hold()
        self._apply(action)

    def _resend(self) -> None:
        last = self.session.last
        if last is not None:
            self._publish(last)

    def on_reset(self, request, response):
        out = self._start_episode()
        response.success = True
        response.message = ResetReply(self.stamp_ns, self.session.task, out.episode).to_json()
        return response

    def close(self) -> None:
        close = getattr(self.session.env, 'close', None)
        if callable(close):
            close()



def main(args: list[str] | None = None) -> int:
    return run(SimBridgeNode, args)


if __name__ == '__main__':
    sys.exit(main())

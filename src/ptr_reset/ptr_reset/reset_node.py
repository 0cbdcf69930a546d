"""Reset node: serves ptr/reset_scene (std_srvs/Trigger) by running the reset policy (PTR V-F).

Protocol (who drives robot/action when):
  1. The episode manager ends an episode and calls ptr/policy_enable (std_srvs/SetBool, false)
     on the policy node: from then on the main policy publishes nothing on robot/action.
  2. It calls ptr/reset_scene. While serving the call, this node alone drives robot/action: for
     each fresh observation (camera/image_raw + robot/state paired by stamp) it asks the success
     classifier whether the scene is reset; if not, it publishes the reset policy's action tagged
     with that observation's stamp (so a lock-step bridge applies it to the right tick).
  3. An attempt ends when the scene is reset, after `max_steps` actions, or when no fresh
     observation arrives within `obs_timeout` s. Before a retry it calls robot/reset (the arm
     goes home) if `home_between_attempts`. After `attempts` failures the response is
     success=false with a message starting 'ESCALATE', and ptr/status (latched String JSON) says
     the graph is paused; the episode manager then stops starting episodes until a person calls
     ptr/resume.
  4. The manager calls robot/reset (task start), then ptr/policy_enable true, and the next episode
     begins.
The reset decision uses the task's success classifier by default (reset when P(success) <
threshold: "the door is not open"); `reset_when:=above` takes a dedicated reset classifier.
"""
from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String
from std_srvs.srv import Trigger

from ptr_core import rosmsg
from ptr_reset.controller import ResetConfig, ResetController
from ptr_reward.classifier import load_classifier
from ptr_ros.contracts import ContractError, NodeReady, NodeStatus, ResetReply
from ptr_ros.nodeutil import ServiceUnavailable, call_service, declare, run
from ptr_ros.observations import subscribe_observations
from ptr_ros.pairing import ObservationPairer
from ptr_ros.qos import action_qos, latched_qos

PARAMETERS: dict[str, object] = {
    'policy_ckpt': '',  # reset policy checkpoint (ptr_core.policy.DeployablePolicy, CloseDoor)
    'classifier_ckpt': '',  # success classifier checkpoint (ptr train-reward)
    'reset_when': 'below',  # 'below': reset when P < threshold; 'above': when P > threshold
    'threshold': 0.5,  # decision threshold on the classifier's probability
    'max_steps': 30,  # reset actions per attempt
    'attempts': 2,  # attempts before escalating
    'obs_timeout': 2.0,  # seconds without a fresh observation that end an attempt
    'home_between_attempts': True,  # call robot/reset before a retry
    'greedy': True,  # deterministic reset policy
    'resend_period': 0.5,  # s without a newer observation before the last action is sent again
}


def make_is_reset(prob_fn, reset_when: str, threshold: float):
    """Obs -> bool from a P(success) function and the configured direction."""
    if reset_when not in ('below', 'above'):
        raise ValueError(f"reset_node: parameter reset_when: expected 'below' or 'above', "
                         f'got {reset_when!r}')
    if reset_when == 'below':
        return lambda obs: prob_fn(obs.image) < threshold
    return lambda obs: prob_fn(obs.image) > threshold


class ResetNode(Node):
    """Serves ptr/reset_scene: the reset policy acts until the classifier calls the scene reset."""

    def __init__(self, **node_options: Any) -> None:
        # node_options (context, parameter_overrides, ...) let a test build it in-process.
        super().__init__('reset_node', **node_options)
        p = declare(self, PARAMETERS)
        for key in ('policy_ckpt', 'classifier_ckpt'):
            if not p[key]:
                raise ValueError(f'parameter {key}: expected a checkpoint path, got ""')
        from ptr_core.policy import DeployablePolicy
        self.policy = DeployablePolicy.load(p['policy_ckpt'])
        clf = load_classifier(p['classifier_ckpt'])
        self.is_reset = make_is_reset(lambda img: float(clf.predict_proba(img)[0]),
                                      p['reset_when'], float(p['threshold']))
        self.cfg = ResetConfig(int(p['max_steps']), int(p['attempts']),
                               float(p['obs_timeout'])).validate()
        self.greedy = bool(p['greedy'])
        self.home = bool(p['home_between_attempts'])
        self.resend_period = float(p['resend_period'])
        self.pairer = ObservationPairer()
        self.last_stamp = -1
        self.last_action = None  # the message sent for last_stamp, re-sent while waiting
        sensors = ReentrantCallbackGroup()
        subscribe_observations(self, self.pairer.add_image, self.pairer.add_state,
                               callback_group=sensors)
        self.pub_action = self.create_publisher(Float32MultiArray, 'robot/action',
                                                action_qos())
        self.pub_status = self.create_publisher(String, 'ptr/status', latched_qos())
        self.robot_reset = self.create_client(Trigger, 'robot/reset',
                                              callback_group=ReentrantCallbackGroup())
        self.create_service(Trigger, 'ptr/reset_scene', self.on_reset_scene,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info('reset node ready (ptr/reset_scene)')
        self.create_publisher(String, NodeReady.TOPIC, latched_qos()).publish(
            NodeReady('reset_node', 'reset', 'ptr/reset_scene').to_msg())

    def observe(self, timeout: float):
        # A lost action would stall the lock-step bridge until the timeout: like the policy
        # node, send it again (same stamp tag, so a bridge that already applied it ignores
        # the copy) every resend_period until a newer observation arrives.
        deadline = time.monotonic() + timeout
        while True:
            wait = min(deadline - time.monotonic(), self.resend_period)
            obs = self.pairer.wait_newer(self.last_stamp, max(wait, 0.0))
            if obs is not None:
                self.last_stamp, self.last_action = obs.stamp_ns, None
                return obs
            if time.monotonic() >= deadline:
                return None
            if self.last_action is not None:
                self.pub_action.publish(self.last_action)

    def act(self, obs) -> None:
        a = np.asarray(self.policy.act(obs.image, obs.state, greedy=self.greedy), np.float32)
        msg = rosmsg.numpy_to_float32(a, Float32MultiArray())
        rosmsg.tag_stamp(msg, obs.stamp_ns, MultiArrayDimension)
        self.last_action = msg
        self.pub_action.publish(msg)

    def go_home(self) -> None:
        self.last_action = None
        try:
            res = call_service(self.robot_reset, Trigger.Request(), 10.0,
                               wait=self.cfg.obs_timeout)
        except ServiceUnavailable as e:
            self.get_logger().warn(f'{e}: retrying without going home')
            return
        except TimeoutError:
            res = None
        # Act only on observations from after homing: the bridge answers with the stamp of
        # its first new observation (sim); otherwise the newest one seen so far is stale.
        try:
            first = ResetReply.from_json(res.message).stamp_ns
            self.last_stamp = max(self.last_stamp, first - 1)
        except (AttributeError, ContractError):
            latest = self.pairer.latest
            if latest is not None:
                self.last_stamp = max(self.last_stamp, latest.stamp_ns)

    def on_reset_scene(self, request, response):
        # Start from the newest observation we hold, not from one seen long ago.
        latest = self.pairer.latest
        self.last_stamp = -1 if latest is None else latest.stamp_ns - 1
        ctl = ResetController(self.cfg, self.observe, self.act, self.is_reset,
                              self.go_home if self.home else None)
        result = ctl.run()
        response.success = result.success
        response.message = ('' if result.success else 'ESCALATE: ') + result.message
        state = 'ok' if result.success else 'escalated'
        self.pub_status.publish(NodeStatus('reset_node', state, result.message, {
            'attempts': result.attempts, 'steps': result.steps}).to_msg())
        log = self.get_logger().info if result.success else self.get_logger().error
        log(f'reset_scene: {response.message}')
        return response


def main(args: list[str] | None = None) -> int:
    return run(ResetNode, args, threads=4)


if __name__ == '__main__':
    sys.exit(main())

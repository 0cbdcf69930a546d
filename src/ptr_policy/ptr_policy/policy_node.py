"""Policy node: camera image + robot state in, normalized action out, hot-swappable weights.

Loads ptr_core.policy.DeployablePolicy from `checkpoint` (task, image size and normalization travel
with it). Modes (`clock_mode`):
- lockstep: act on every new observation (image + state of the same stamp) at once; the action
  carries the observation's stamp so the bridge applies it to the right step. A resent observation
  gets the same action again (no second inference, no second sample).
- realtime: act on a new complete observation at once, at most `control_hz` times a second (a
  camera faster than the control rate is subsampled). Acting on arrival rather than on a timer of
  our own keeps the phase of the robot's clock: the action is ready for the robot's next tick.

Weights arrive on ptr/policy_weights (signed packets, ptr_core.weights; reliable + transient local)
and are verified and loaded on a worker thread of their own, i.e. off the control path; the running
policy is swapped between two ticks (ptr_policy.swap). The node itself spins single-threaded:
rclpy's multi-threaded executor adds latency to every callback. ptr/policy_version (String JSON
{version, fingerprint}, transient local) says what runs. ptr/policy_enable (std_srvs/SetBool)
pauses and resumes acting (the reset node drives the arm meanwhile). With `residual_bound` > 0
(the residual online mode) each action's largest correction and the bound go out on
ptr/residual_correction, just before the action, for the safety filter.
"""
from __future__ import annotations

import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String, UInt8MultiArray
from std_srvs.srv import SetBool

from ptr_core import rosmsg, weights
from ptr_core.ckpt_file import check_file
from ptr_core.constants import ACTION_DIM, CLOCK_MODES, CONTROL_HZ, RESIDUAL_TOPIC, STATE_DIM
from ptr_policy.swap import WeightSwapper
from ptr_policy.sync import ActGate, RateGate
from ptr_ros.contracts import NodeReady, PolicyVersion
from ptr_ros.nodeutil import ConfigRefused, Throttle, declare, require_choice, run
from ptr_ros.pairing import Observation, ObservationSync
from ptr_ros.qos import action_qos, latched_qos, sensor_qos

PARAMETERS = {
    'checkpoint': '',
    'clock_mode': 'lockstep',
    'control_hz': CONTROL_HZ,
    'greedy': True,
    'exploration_scale': 1.0,  # sampled actions: std x this (online: 0.5, near the demos)
    'weights_key': '',
    'torch_threads': 1,
    'enabled': True,
    'seed': -1,
    'max_weights_mb': 512.0,  # larger weight packets (or declared payloads) are refused unread
    # > 0: the residual online mode (ptr_core.residual): the checkpoint's policy frozen, a
    # correction of at most this per action dimension, the critic ranking residual_samples
    # proposals; each action's largest correction goes out on ptr/residual_correction.
    'residual_bound': 0.0,
    'residual_samples': 8,
}


def check_checkpoint(path: str) -> None:
    """Refuse an empty, missing or corrupt checkpoint path in one line, before torch is imported
    (seconds): the node exits at once with CONFIG_ERROR and the graph ends."""
    if not path:
        raise ValueError('parameter checkpoint: expected a policy checkpoint path, got ""')
    check_file(path)


def load_policy(path: str, residual_bound: float = 0.0, residual_samples: int = 8):
    """DeployablePolicy.load with a one-line error naming the parameter and the file; with a
    residual bound, the ResidualPolicy over the checkpoint's policy and critic."""
    check_checkpoint(path)
    if residual_bound > 0:
        from ptr_core import checkpoint as ckpt
        from ptr_core.residual import ResidualPolicy, ResidualSettings
        settings = ResidualSettings(residual_bound, residual_samples).validate()
        return ResidualPolicy.from_payload(ckpt.load(path, ckpt.AGENT_FORMAT), settings,
                                           where=path)
    from ptr_core.policy import DeployablePolicy
    return DeployablePolicy.load(path)


class PolicyNode(Node):
    """The shell: parameters, topics, callback groups; pairing and swapping are pure modules."""

    def __init__(self, policy=None, **node_options: Any) -> None:
        super().__init__('policy_node', **node_options)
        p = declare(self, PARAMETERS)
        require_choice(p, 'clock_mode', CLOCK_MODES)
        if policy is None:
            check_checkpoint(p['checkpoint'])
        import torch
        torch.set_num_threads(max(1, int(p['torch_threads'])))
        # exploration noise from its own generator: reproducible with seed >= 0
        self.generator = torch.Generator()
        if int(p['seed']) >= 0:
            self.generator.manual_seed(int(p['seed']))
        else:
            self.generator.seed()
        self.residual_bound = float(p['residual_bound'])
        if policy is None:
            policy = load_policy(p['checkpoint'], self.residual_bound,
                                 int(p['residual_samples']))
        key = weights.resolve_key(p['weights_key'], warn=self.get_logger().warning)
        self.swapper = WeightSwapper(policy, key,
                                     version=int(getattr(policy, 'version', 0) or 0),
                                     max_bytes=int(float(p['max_weights_mb']) * 2**20))
        self.greedy = bool(p['greedy'])
        self.exploration_scale = float(p['exploration_scale'])
        if not 0.0 <= self.exploration_scale <= 10.0:
            raise ValueError(f'parameter exploration_scale: expected in [0, 10], got '
                             f'{self.exploration_scale}')
        self.enabled = bool(p['enabled'])
        self.lockstep = p['clock_mode'] == 'lockstep'
        self.image_size = getattr(policy, 'image_size', None)
        self.sync = ObservationSync()
        self.gate = ActGate()
        self.warn = Throttle(5.0)
        self.ticks = 0

        self.loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix='weights')
        self.pub_action = self.create_publisher(Float32MultiArray, 'robot/action', action_qos())
        self.pub_version = self.create_publisher(String, 'ptr/policy_version', latched_qos())
        self.pub_correction = (self.create_publisher(Float32MultiArray, RESIDUAL_TOPIC,
                                                     action_qos())
                               if self.residual_bound > 0 else None)
        self.create_subscription(Image, 'camera/image_raw', self.on_image, sensor_qos())
        self.create_subscription(Float32MultiArray, 'robot/state', self.on_state, sensor_qos())
        self.create_subscription(UInt8MultiArray, 'ptr/policy_weights', self.on_weights,
                                 latched_qos(256))
        self.create_service(SetBool, 'ptr/policy_enable', self.on_enable)
        self.rate = RateGate(float(p['control_hz']))
        self._publish_version()
        run_ = self.swapper.current
        self.get_logger().info(f'policy node: fingerprint {run_.fingerprint}, version '
                               f'{run_.version}, {p["clock_mode"]}, greedy={self.greedy}')
        # Last: episodes start and count only after this (ptr_ros.readiness).
        self.create_publisher(String, NodeReady.TOPIC, latched_qos()).publish(NodeReady(
            'policy_node', 'policy', f'fingerprint {run_.fingerprint} v{run_.version}').to_msg())

    # -- observations ----------------------------------------------------------------------------
    def on_image(self, msg: Image) -> None:
        try:
            image = rosmsg.image_to_numpy(msg, 'rgb8')
        except rosmsg.ConversionError as e:
            if self.warn('image'):
                self.get_logger().warn(f'camera/image_raw: {e}')
            return
        if self.image_size and image.shape[:2] != (self.image_size, self.image_size):
            # It would never act: say so once and end (CONFIG_ERROR ends the graph).
            s = self.image_size
            raise ConfigRefused(
                f"camera/image_raw: expected {s}x{s} images (the checkpoint's "
                f'network.image_size), got {image.shape[1]}x{image.shape[0]}: render at {s} '
                f'(argument image_size:={s}, or leave it out: it comes from the checkpoint)')
        obs = self.sync.add_image(rosmsg.stamp_to_ns(msg.header.stamp), image)
        if obs is not None:
            self.on_observation(obs)

    def on_state(self, msg: Float32MultiArray) -> None:
        try:
            state = rosmsg.vector_from_msg(msg, STATE_DIM, 'robot/state')
        except rosmsg.ConversionError as e:
            if self.warn('state'):
                self.get_logger().warn(str(e))
            return
        obs = self.sync.add_state(rosmsg.stamp_tag(msg), state)
        if obs is not None:
            self.on_observation(obs)

    def on_observation(self, obs: Observation) -> None:
        if self.lockstep or self.rate.ready(time.monotonic()):
            self.step(obs)

    # -- acting ----------------------------------------------------------------------------------
    def step(self, obs: Observation) -> None:
        if not self.enabled:
            return
        action = self.gate.cached(obs.stamp_ns)
        if action is None:
            if not self.gate.is_new(obs.stamp_ns):
                return
            policy = self.swapper.current.policy  # one reference for the whole tick
            action = np.asarray(policy.act(obs.image, obs.state, greedy=self.greedy,
                                           generator=self.generator,
                                           std_scale=self.exploration_scale),
                                dtype=np.float32).reshape(ACTION_DIM)
            self.gate.record(obs.stamp_ns, action)
            self.ticks += 1
            if self.pub_correction is not None:  # before the action: the filter checks it
                self._publish(self.pub_correction, np.array(
                    [getattr(policy, 'last_correction', 0.0), self.residual_bound],
                    np.float32), obs.stamp_ns)
        self._publish(self.pub_action, action, obs.stamp_ns)

    @staticmethod
    def _publish(pub, values: np.ndarray, stamp_ns: int) -> None:
        msg = rosmsg.numpy_to_float32(values, Float32MultiArray())
        rosmsg.tag_stamp(msg, stamp_ns, MultiArrayDimension)
        pub.publish(msg)

    def on_enable(self, request, response):
        self.enabled = bool(request.data)
        response.success = True
        response.message = 'enabled' if self.enabled else 'paused'
        return response

    # -- weights ---------------------------------------------------------------------------------
    def on_weights(self, msg: UInt8MultiArray) -> None:
        # one copy here (the message buffer is not ours), the rest on the loader thread
        self.loader.submit(self._load, rosmsg.uint8_to_bytes(msg))

    def _load(self, packet: bytes) -> None:
        try:
            new = self.swapper.offer(packet)
        except Exception as e:  # noqa: BLE001 - on a worker thread: say it, keep running
            # once per kind of refusal and 5 s: a flood of bad packets cannot flood the log
            if self.warn('weights:' + re.sub(r'\d+', 'N', str(e))[:60]):
                self.get_logger().error(f'ptr/policy_weights refused: {e}')
            return
        if new is not None:
            self.get_logger().info(f'running weights version {new.version}')
            self._publish_version()

    def close(self) -> None:
        self.loader.shutdown(wait=True, cancel_futures=True)

    def _publish_version(self) -> None:
        run_ = self.swapper.current
        self.pub_version.publish(
            PolicyVersion(run_.version, run_.fingerprint, self.ticks).to_msg())


def main(args: list[str] | None = None) -> int:
    return run(PolicyNode, args)


if __name__ == '__main__':
    sys.exit(main())

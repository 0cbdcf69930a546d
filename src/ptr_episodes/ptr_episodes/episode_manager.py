"""Episode manager node: runs the online fine-tuning loop of PTR V-F around the policy.

Per episode:
  1. start: record from now on; ptr/policy_enable true (before robot/reset in lock-step, so the
     policy acts on the first observation; after it in real time, so it never acts mid-reset);
     robot/reset (task start; its JSON answer's stamp_ns marks the first observation).
  2. run: pair camera/image_raw + robot/state by stamp, record robot/action (tagged with the
     observation stamp) and ptr/reward_info (classifier reward per stamp). End on the first
     classifier success held over `success_frames` consecutive frames (terminal), the horizon
     (timeout), the sim's own end (sim/status, sim only), or no new observation for
     `stall_timeout` s.
  3. end: ptr/policy_enable false; write the episode as a one-episode dataset shard atomically
     and only then announce it on ptr/episode (ptr_ros.episode_transfer); in `transfer:=inline`
     mode (no shared disk) its signed packets go first on ptr/episode_data.
  4. reset: ptr/reset_scene (reset node; protocol in ptr_reset.reset_node). A failed reset pauses
     the loop: ptr/status says so and nothing moves until a person calls ptr/resume.
  5. with `alternate` (PTR: "alternates between collecting a new trajectory and taking gradient
     steps"), wait until ptr/trainer_status shows the trainer has stored every episode and spent
     its updates (at most `drain_timeout` s) before the next episode starts.
ptr/status (latched String JSON) reports the phase and the last episode; `history.json` in
`episode_dir` lists every episode (reason, length, classifier and sim success, env steps).
"""
from __future__ import annotations

import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, TypeVar

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float32MultiArray, String, UInt8MultiArray
from std_srvs.srv import SetBool, Trigger

from ptr_core import rosmsg, weights
from ptr_core.atomic import write_json
from ptr_core.constants import ACTION_DIM, CLOCK_MODES, SUCCESS_FRAMES
from ptr_episodes.before_start import wait_for_inputs, wait_for_ready
from ptr_episodes.state_machine import EpisodeManager, ManagerConfig
from ptr_ros.contracts import (
    Contract,
    ContractError,
    NodeReady,
    NodeStatus,
    PolicyVersion,
    ResetReply,
    RewardInfo,
    SimStatus,
    TrainerStatus,
)
from ptr_ros.episode_transfer import ANNOUNCE_DEPTH, DATA_DEPTH, TRANSFERS, EpisodeWriter
from ptr_ros.nodeutil import (
    ServiceUnavailable,
    Throttle,
    call_service,
    declare,
    require_choice,
    run,
)
from ptr_ros.observations import subscribe_observations
from ptr_ros.pairing import ObservationSync
from ptr_ros.qos import event_qos, latched_qos
from ptr_ros.readiness import Readiness, parse_parts

C = TypeVar('C', bound=Contract)

PARAMETERS: dict[str, object] = {
    'task': 'OpenDoor',  # task name stored with every episode
    'episode_dir': '',  # episode shards are written here (in 'file': the trainer's online_dir)
    'transfer': 'file',  # 'file' (shared disk) | 'inline' (signed packets on ptr/episode_data)
    'chunk_size': 1048576,  # inline packet payload size in bytes
    'weights_key': '',  # HMAC key that signs inline episodes ('' = $PTR_WEIGHTS_KEY)
    'horizon': 40,  # transitions before a timeout (0: only the env's end or a stall)
    'end_on_success': True,  # end at the first classifier success (see success_frames)
    'success_frames': SUCCESS_FRAMES,  # ...once it held on this many consecutive frames
    'stall_timeout': 10.0,  # seconds without a new observation that end an episode
    'max_episodes': 0,  # stop after this many episodes (0: never)
    'clock_mode': 'lockstep',  # 'lockstep' | 'realtime' (when to enable the policy)
    'use_reset_node': True,  # call ptr/reset_scene between episodes
    'service_timeout': 120.0,  # seconds to wait for a service answer
    'alternate': True,  # PTR V-F: collect one episode, then let the trainer take its updates
    # (ptr/trainer_status caught up) before the next; false: act and learn concurrently
    'exit_when_done': True,  # after max_episodes, exit (code 0): `ptr launch` then stops
    'drain_timeout': 600.0,  # ...but first wait up to this long for the trainer to catch up
    'require_ready': '',  # parts (policy, classifier, reset) announced on ptr/ready before the
    # first episode starts (ptr_ros.readiness)
}


def manager_config(p: dict[str, Any]) -> ManagerConfig:
    """The state machine's settings from the node's parameters."""
    return ManagerConfig(horizon=int(p['horizon']), end_on_success=bool(p['end_on_success']),
                         success_frames=int(p['success_frames']),
                         stall_timeout=float(p['stall_timeout']),
                         max_episodes=int(p['max_episodes']))


class EpisodeManagerNode(Node):
    """The loop above as a node; its state machine is the pure EpisodeManager."""

    def __init__(self, **node_options: Any) -> None:
        # node_options (context, parameter_overrides, ...) let a test build it in-process.
        super().__init__('episode_manager', **node_options)
        p = declare(self, PARAMETERS)
        if not p['episode_dir']:
            raise ValueError('parameter episode_dir: expected a folder, got ""')
        require_choice(p, 'transfer', TRANSFERS)
        require_choice(p, 'clock_mode', CLOCK_MODES)
        self.p = p
        self.dir = Path(p['episode_dir'])
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run_id = uuid.uuid4().hex[:8]
        key = (weights.resolve_key(p['weights_key'], warn=self.get_logger().warning)
               if p['transfer'] == 'inline' else b'')
        self.written = 0  # episodes stored and announced by this run
        self.writer = EpisodeWriter(self.dir, self.run_id, p['transfer'], key,
                                    int(p['chunk_size']))
        self.mgr = EpisodeManager(manager_config(p), str(p['task']))
        self.lock = threading.Condition()
        self.sync = ObservationSync()
        self.last_obs_time = time.monotonic()
        self.weights_version = 0
        data = ReentrantCallbackGroup()
        reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=20,
                              reliability=ReliabilityPolicy.RELIABLE)
        # What an episode records: none may start before all four are connected.
        self.recorded = subscribe_observations(
            self, self.on_image, self.on_state, depth=5, callback_group=data) + [
            self.create_subscription(Float32MultiArray, 'robot/action', self.on_action,
                                     reliable, callback_group=data),
            self.create_subscription(String, 'ptr/reward_info', self.on_reward,
                                     event_qos(50), callback_group=data)]
        self.create_subscription(String, 'sim/status', self.on_sim_status, event_qos(50),
                                 callback_group=data)
        self.create_subscription(String, 'ptr/policy_version', self.on_version,
                                 latched_qos(), callback_group=data)
        self.trainer_status: TrainerStatus | None = None
        self.readiness = Readiness(parse_parts(p['require_ready']))
        self.create_subscription(String, NodeReady.TOPIC, self.on_ready, latched_qos(8),
                                 callback_group=data)
        self.throttle = Throttle(5.0)
        self.create_subscription(String, 'ptr/trainer_status', self.on_trainer_status,
                                 latched_qos(), callback_group=data)
        self.pub_episode = self.create_publisher(String, 'ptr/episode',
                                                 latched_qos(ANNOUNCE_DEPTH))
        self.pub_data = self.create_publisher(UInt8MultiArray, 'ptr/episode_data',
                                              latched_qos(DATA_DEPTH))
        self.pub_status = self.create_publisher(String, 'ptr/status', latched_qos())
        calls = ReentrantCallbackGroup()
        self.cli_enable = self.create_client(SetBool, 'ptr/policy_enable', callback_group=calls)
        self.cli_scene = self.create_client(Trigger, 'ptr/reset_scene', callback_group=calls)
        self.cli_robot = self.create_client(Trigger, 'robot/reset', callback_group=calls)
        self.create_service(Trigger, 'ptr/resume', self.on_resume,
                            callback_group=MutuallyExclusiveCallbackGroup())
        self.stop = threading.Event()
        self.worker = threading.Thread(target=self.loop, name='episodes', daemon=True)
        self.worker.start()

    # ---- inputs (executor threads) ---------------------------------------------------
    def _observe(self, obs) -> None:
        if obs is None:
            return
        with self.lock:
            if self.mgr.on_observation(obs.stamp_ns, obs.image, obs.state):
                self.last_obs_time = time.monotonic()
                self.lock.notify_all()

    def on_image(self, stamp_ns: int, img) -> None:
        with self.lock:
            obs = self.sync.add_image(stamp_ns, img)
        self._observe(obs)

    def on_state(self, stamp_ns: int, state) -> None:
        with self.lock:
            obs = self.sync.add_state(stamp_ns, state)
        self._observe(obs)

    def on_action(self, msg) -> None:
        try:
            action = rosmsg.vector_from_msg(msg, ACTION_DIM, 'robot/action')
        except ValueError:
            return
        with self.lock:
            if self.mgr.on_action(rosmsg.stamp_tag(msg), action):
                self.lock.notify_all()

    def _read(self, contract: type[C], msg: Any) -> C | None:
        """The message as its contract, or None after a (throttled) one-line error."""
        try:
            return contract.from_msg(msg)
        except ContractError as e:
            if self.throttle(contract.TOPIC):
                self.get_logger().error(str(e))
            return None

    def on_reward(self, msg) -> None:
        if (info := self._read(RewardInfo, msg)) is None:
            return
        with self.lock:
            self.mgr.on_reward(info.stamp_ns, info.reward, info.prob)
            self.lock.notify_all()

    def on_sim_status(self, msg) -> None:
        if (st := self._read(SimStatus, msg)) is None:
            return
        with self.lock:
            self.mgr.on_env_status(st.stamp_ns, st.success, st.terminated or st.truncated)
            self.lock.notify_all()

    def on_version(self, msg) -> None:
        if (v := self._read(PolicyVersion, msg)) is not None:
            self.weights_version = v.version

    def on_ready(self, msg) -> None:
        if (ready := self._read(NodeReady, msg)) is not None:
            with self.lock:
                self.readiness.report(ready.what, ready.detail)
                self.lock.notify_all()

    def on_trainer_status(self, msg) -> None:
        if (st := self._read(TrainerStatus, msg)) is not None:
            self.trainer_status = st

    def trainer_caught_up(self) -> bool:
        st = self.trainer_status
        # Counted per run: the trainer's folder may hold episodes of earlier runs.
        return st is None or (st.runs.get(self.run_id, 0) >= self.written and st.pending == 0)

    def on_resume(self, request, response):
        with self.lock:
            response.success = self.mgr.resume()
            self.lock.notify_all()
        response.message = 'resumed' if response.success else f'phase {self.mgr.phase}'
        return response

    # ---- service calls from the worker thread ------------------------------------------
    def call(self, client, request, required: bool = True, attempt: float | None = None):
        timeout = float(self.p['service_timeout'])
        try:
            return call_service(client, request, timeout, wait=min(timeout, 30.0),
                                attempt=attempt, stop=self.stop)
        except ServiceUnavailable as e:
            if required:
                raise
            self.get_logger().warn(f'{e}, skipped')
            return None

    def enable(self, on: bool) -> None:
        # idempotent and instant: resent every 2 s, so a respawned policy node gets it
        self.call(self.cli_enable, SetBool.Request(data=on), required=False, attempt=2.0)

    def status(self, message: str = '') -> None:
        if not self.context.ok():
            return  # shutting down: nobody is listening, and publishing would raise
        m = self.mgr
        self.pub_status.publish(NodeStatus('episode_manager', m.phase, message, {
            'episode': m.episode, 'finished': m.finished, 'env_steps': m.env_steps,
            'last': m.history[-1] if m.history else None}).to_msg())

    # ---- the loop ----------------------------------------------------------------------
    def start_episode(self) -> None:
        wait_for_inputs(self)
        wait_for_ready(self)
        lockstep = self.p['clock_mode'] == 'lockstep'
        with self.lock:
            self.mgr.start()
            self.last_obs_time = time.monotonic()
        if lockstep:
            self.enable(True)
        t0 = self.get_clock().now().nanoseconds
        res = self.call(self.cli_robot, Trigger.Request())
        try:
            start = ResetReply.from_json(res.message, 'robot/reset reply').stamp_ns
        except ContractError as e:  # a bridge without stamps: the time of the request
            start = t0
            if self.throttle('robot/reset'):
                self.get_logger().warning(f'{e}; episodes start at the request time')
        with self.lock:
            self.mgr.set_start_stamp(start)
            self.last_obs_time = time.monotonic()
        if not lockstep:
            self.enable(True)
        self.get_logger().info(f'episode {self.mgr.episode} started (stamp {start})')
        self.status(f'episode {self.mgr.episode} started')

    def end_episode(self, reason: str, length: int) -> None:
        self.enable(False)
        with self.lock:
            traj = self.mgr.finish(reason, length, {'weights_version': self.weights_version})
        if traj is not None:
            ann, packets = self.writer.write(traj, self.mgr.episode)
            self.written += 1
            for packet in packets:  # inline: the bytes before the announcement
                self.pub_data.publish(rosmsg.bytes_to_uint8(packet, UInt8MultiArray()))
            self.pub_episode.publish(ann.to_msg())
        write_json(self.dir / 'history.json', self.mgr.history)
        h = self.mgr.history[-1]
        self.get_logger().info(f'episode {h["episode"]}: {reason} after {h["length"]} '
                               f'steps (sim success {h["sim_success"]})')
        ok, message = True, ''
        if bool(self.p['use_reset_node']):
            res = self.call(self.cli_scene, Trigger.Request())
            ok, message = bool(res.success), str(res.message)
        with self.lock:
            phase = self.mgr.after_reset(ok, message)
        if phase == 'paused':
            self.get_logger().error(f'PAUSED: reset failed ({message}); call ptr/resume '
                                    f'once the scene is reset')
        self.status(message)

    def loop(self) -> None:
        try:
            while not self.stop.is_set():
                phase = self.mgr.phase
                if phase == 'idle':
                    if bool(self.p['alternate']) and self.mgr.finished:
                        self.wait_for_trainer(appear_s=30.0)
                    self.start_episode()
                elif phase == 'running':
                    with self.lock:
                        self.lock.wait(0.1)
                        end = self.mgr.end_reason()
                        if end is None and (time.monotonic() - self.last_obs_time
                                            > self.mgr.cfg.stall_timeout):
                            end = ('stalled', self.mgr.stalled_length())
                    if end is not None:
                        self.end_episode(*end)
                elif phase == 'done':
                    self.finish_run()
                    return
                else:  # paused
                    with self.lock:
                        self.lock.wait(0.5)
        except Exception as e:  # noqa: BLE001 - the loop must say why it stopped
            if self.stop.is_set() or not self.context.ok():
                return  # Ctrl-C shut the context down under a service call: not an error
            self.get_logger().error(f'episode loop stopped: {type(e).__name__}: {e}')
            with self.lock:
                self.mgr.phase = 'paused'
            self.status(f'error: {e}')

    def wait_for_trainer(self, appear_s: float) -> None:
        """Until the trainer has used every finished episode (or `drain_timeout` passes);
        a trainer that has said nothing within `appear_s` is not waited for."""
        t0 = time.monotonic()
        deadline = t0 + float(self.p['drain_timeout'])
        while not self.stop.is_set() and time.monotonic() < deadline:
            if self.trainer_status is None and time.monotonic() - t0 > appear_s:
                return
            if self.trainer_status is not None and self.trainer_caught_up():
                return
            self.stop.wait(0.2)

    def finish_run(self) -> None:
        """All episodes done: let the trainer use the last one, then (optionally) exit."""
        self.status(f'done after {self.mgr.finished} episodes')
        # A trainer of this graph that has not spoken yet is still loading: give it time.
        trainer_here = self.count_publishers('ptr/trainer_status') > 0
        self.wait_for_trainer(appear_s=30.0 if trainer_here and self.mgr.finished else 0.0)
        st = self.trainer_status
        self.get_logger().info(f'all {self.mgr.finished} episodes done; trainer at '
                               f'{st.updates if st else "?"} updates, weights '
                               f'v{st.version if st else "?"}')
        if bool(self.p['exit_when_done']) and not self.stop.is_set():
            import rclpy
            rclpy.try_shutdown()  # the executor returns; main() exits with code 0

    def close(self) -> None:
        """Stop the loop: its service calls give up within a poll (call_service's `stop`), so
        the node is gone well within launch's 5 s before SIGTERM."""
        self.stop.set()
        with self.lock:
            self.lock.notify_all()
        self.worker.join(timeout=3.0)


def main(args: list[str] | None = None) -> int:
    return run(EpisodeManagerNode, args, threads=4)


if __name__ == '__main__':
    sys.exit(main())

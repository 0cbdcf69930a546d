"""Trainer node: episodes in (ptr/episode), CQL updates, signed weights out (ptr/policy_weights).

Subscribes  ptr/episode       std_msgs/String JSON contracts.EpisodeAnnouncement, transient local:
                              wakes the learner, which loads every new episode shard in
                              `online_dir` (the episode manager's folder on a shared disk)
            ptr/episode_data  std_msgs/UInt8MultiArray signed packets of packed shards (transfer
                              inline: no shared disk), unpacked into `online_dir` once each
Publishes   ptr/policy_weights std_msgs/UInt8MultiArray signed packets (ptr_core.weights: version,
                              fingerprint, sha256, HMAC), reliable + transient local
            ptr/trainer_status std_msgs/String JSON {episodes, env_steps, updates, version, ...}
All learning happens on one worker thread that owns the OnlineTrainer; callbacks only verify and
store bytes and wake it, so DDS keeps flowing while a long batch of updates runs.
"""
from __future__ import annotations

import sys
import threading
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String, UInt8MultiArray

from ptr_core import rosmsg, weights
from ptr_core.data import DatasetError
from ptr_core.heap import keep_freed_memory
from ptr_core.online_config import OnlineConfig, load_online_config
from ptr_core.packets import PacketError
from ptr_ros.contracts import ContractError, EpisodeAnnouncement, TrainerStatus
from ptr_ros.episode_transfer import ANNOUNCE_DEPTH, DATA_DEPTH, EpisodeReceiver
from ptr_ros.nodeutil import (
    Throttle,
    dataclass_parameters,
    dataclass_values,
    declare,
    log_info,
    run,
)
from ptr_ros.qos import latched_qos
from ptr_trainer.online import build_trainer

# Paths and transport here; every learning setting is an OnlineConfig field (one home for each:
# ptr_core.online_config), exposed as a parameter of the same name with the same default.
_NODE_PARAMETERS: dict[str, object] = {
    'agent_ckpt': '',  # fine-tuned agent checkpoint (ptr finetune) to continue online
    'prior_data': '',  # prior (Bridge / multi-task sim) dataset root
    'prior_tasks': '',  # comma-separated prior tasks ('' = every task the agent knows)
    'target_data': '',  # dataset root holding the target demos
    'target_task': 'OpenDoor',  # task being fine-tuned
    'online_dir': '',  # on-disk online buffer (survives restarts)
    'checkpoint_dir': '',  # agent checkpoints during online training ('' = none)
    'resume': True,  # continue from the newest checkpoint in checkpoint_dir (a restart)
    'telemetry_dir': '',  # TensorBoard + telemetry.jsonl/png of the online run ('' = none)
    'online_config': '',  # YAML of OnlineConfig fields (parameters set explicitly win)
    'weights_key': '',  # HMAC key shared with the policy node ('' = $PTR_WEIGHTS_KEY)
    'chunk_size': 0,  # split weight packets above this many bytes (0 = one packet)
}


PARAMETERS: dict[str, object] = _NODE_PARAMETERS | dataclass_parameters(OnlineConfig)
SLICE = 10  # updates between two looks at new episodes
# close() waits this long for the update in progress: launch sends SIGTERM 5 s after SIGINT, and
# the checkpoint must be written before that.
STOP_WAIT_S = 3.0


class TrainerNode(Node):
    """Off-board learner: stores announced episodes, trains on a worker thread, sends weights."""

    def __init__(self, **node_options: Any) -> None:
        # node_options (context, parameter_overrides, ...) let a test build it in-process.
        super().__init__('trainer_node', **node_options)
        p = declare(self, PARAMETERS)
        for key in ('agent_ckpt', 'prior_data', 'target_data', 'online_dir'):
            if not p[key]:
                raise ValueError(f'parameter {key}: expected a path, got ""')
        self.key = weights.resolve_key(p['weights_key'], warn=self.get_logger().warning)
        self.chunk_size = int(p['chunk_size'])
        # Parameters given on the command line or by launch override the YAML file.
        cfg = load_online_config(p['online_config'] or None,
                                 dataclass_values(OnlineConfig, p, only_changed=True))
        prior_tasks = [t.strip() for t in str(p['prior_tasks']).split(',') if t.strip()]
        self.telemetry_dir = p['telemetry_dir'] or None
        self.trainer = build_trainer(p['agent_ckpt'], p['prior_data'], p['target_data'],
                                     p['target_task'], p['online_dir'], cfg,
                                     prior_tasks or None, self.publish_weights,
                                     p['checkpoint_dir'] or None,
                                     on_event=self.get_logger().warning,
                                     telemetry_dir=self.telemetry_dir,
                                     resume=bool(p['resume']))
        self.fingerprint = self.trainer.agent.fingerprint
        depth = 1 if self.chunk_size <= 0 else 256
        self.pub_weights = self.create_publisher(UInt8MultiArray, 'ptr/policy_weights',
                                                 latched_qos(depth))
        self.pub_status = self.create_publisher(String, 'ptr/trainer_status', latched_qos())
        self.receiver = EpisodeReceiver(p['online_dir'], self.key)
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(String, 'ptr/episode', self.on_episode,
                                 latched_qos(ANNOUNCE_DEPTH), callback_group=group)
        self.create_subscription(UInt8MultiArray, 'ptr/episode_data', self.on_packet,
                                 latched_qos(DATA_DEPTH), callback_group=group)
        self.wake = threading.Event()
        self.wake.set()  # the first look finds what is in online_dir already
        self.throttle = Throttle(5.0)
        self.stop = threading.Event()
        self.worker = threading.Thread(target=self.work, name='trainer', daemon=True)
        self.publish_status()  # the episode manager waits for a trainer it has heard of
        self.worker.start()
        self.get_logger().info(f'trainer ready: {p["agent_ckpt"]} -> {p["target_task"]}, '
                               f'beta {list(cfg.beta)}, utd {cfg.utd:g}, '
                               f'K {cfg.publish_every}, warm-up {cfg.warmup_episodes} '
                               f'episodes, lr actor {cfg.policy_lr:g} critic {cfg.q_lr:g}, '
                               f'guard {"on" if cfg.guard else "off"}')

    # ---- episodes in ----------------------------------------------------------------------
    def on_episode(self, msg) -> None:
        try:
            problem = self.receiver.check(EpisodeAnnouncement.from_msg(msg))
        except ContractError as e:
            problem = str(e)
        if problem is not None and self.throttle(problem):
            self.get_logger().error(f'episode refused: {problem}')
        self.wake.set()

    def on_packet(self, msg) -> None:
        try:
            self.receiver.on_packet(rosmsg.uint8_to_bytes(msg))
        except (PacketError, DatasetError) as e:
            if self.throttle(type(e).__name__):
                self.get_logger().error(f'episode refused: {e}')
            return
        self.wake.set()

    # ---- learning (worker thread) ------------------------------------------------------
    def work(self) -> None:
        t = self.trainer
        while not self.stop.is_set():
            if self.wake.wait(0.05 if t.pending else 0.5):
                self.wake.clear()
                self.take_episodes()
                continue  # take every new episode before training on
            if t.pending:
                # Small slices, so a new episode never waits behind a long batch, and one
                # update at a time, so a stop waits for one update at most (close()).
                for _ in range(SLICE):
                    if self.stop.is_set() or not t.train(max_updates=1):
                        break
                if t.pending == 0 or t.updates % 100 < SLICE:
                    self.publish_status()

    def take_episodes(self) -> None:
        t = self.trainer
        said = len(t.buffer.rejected)
        if t.ingest():
            self.get_logger().info(f'{t.episodes} episodes ({t.env_steps} steps) stored, '
                                   f'{t.pending} updates due')
            self.publish_status()
        for problem in t.buffer.rejected[said:]:
            self.get_logger().error(f'episode refused: {problem}')

    def publish_status(self) -> None:
        self._publish([TrainerStatus.from_dict(self.trainer.summary()).to_msg()], self.pub_status)

    def publish_weights(self, version: int, payload: bytes) -> None:
        packets = weights.encode(payload, version, self.fingerprint, self.key,
                                 self.chunk_size)
        if not self._publish([rosmsg.bytes_to_uint8(p, UInt8MultiArray()) for p in packets],
                             self.pub_weights):
            self.get_logger().info(f'weights v{version} not published: shutting down')
            return
        self.get_logger().info(f'published weights v{version} ({len(payload)} bytes, '
                               f'{len(packets)} packet(s)) after {self.trainer.updates} '
                               f'updates')

    def _publish(self, msgs: list, pub) -> bool:
        """False once Ctrl-C has shut the context down under the worker thread."""
        try:
            for msg in msgs:
                pub.publish(msg)
        except Exception:  # rclpy's RCLError: the context went away mid-publish
            if self.context.ok():
                raise
            return False
        return True

    def close(self) -> None:
        """Stop learning after the current update, take the episodes stored meanwhile and save:
        a restart resumes from here. Runs while ROS is still up (ptr_ros.stop)."""
        self.stop.set()
        self.worker.join(timeout=STOP_WAIT_S)
        if self.worker.is_alive():  # an update longer than STOP_WAIT_S: no consistent state
            log_info(self, f'stopped without a final checkpoint: an update ran for over '
                     f'{STOP_WAIT_S:g} s; a restart resumes from update {self.trainer.saved_at}')
        else:
            self.take_episodes()
            saved = self.trainer.checkpoint_now()
            log_info(self, f'stopped: checkpoint at update {self.trainer.updates}' if saved else
                     f'stopped: checkpoint at update {self.trainer.updates} already saved')
        if self.trainer.telemetry is not None:
            self.trainer.telemetry.close()  # `ptr telemetry DIR` draws the PNG


def main(args: list[str] | None = None) -> int:
    keep_freed_memory()  # a long-lived training process: see ptr_core.heap
    return run(TrainerNode, args, threads=2)


if __name__ == '__main__':
    sys.exit(main())

"""Trainer node: episodes in (ptr/episode), CQL updates, signed weights out (ptr/policy_weights).

Subscribes  ptr/episode       std_msgs/String JSON announcement (ptr_trainer.episode_io),
                              transient local: a late or restarted trainer gets the backlog;
                              `online_dir`/ingested.json stores each episode only once
            ptr/episode_data  std_msgs/UInt8MultiArray chunks (inline transfer: no shared disk)
Publishes   ptr/policy_weights std_msgs/UInt8MultiArray signed packets (ptr_core.weights: version,
                              fingerprint, sha256, HMAC), reliable + transient local
            ptr/trainer_status std_msgs/String JSON {episodes, env_steps, updates, version, ...}
All learning happens on one worker thread that owns the OnlineTrainer; callbacks only verify
episodes (sha256) and queue them, so DDS keeps flowing while a long batch of updates runs.
"""
from __future__ import annotations

import dataclasses
import queue
import sys
import threading
from pathlib import Path
from typing import Any

from ptr_ros.contracts import TrainerStatus
from ptr_ros.nodeutil import declare, log_info, run
from ptr_ros.qos import latched_qos
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String, UInt8MultiArray

from ptr_core import rosmsg, weights
from ptr_core.online_config import OnlineConfig, load_online_config
from ptr_trainer.episode_io import (
    ANNOUNCE_DEPTH,
    DATA_DEPTH,
    Announcement,
    ChunkAssembler,
    EpisodeError,
    IngestLedger,
    read_episode,
    verify_bytes,
)
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
    'telemetry_dir': '',  # TensorBoard + telemetry.jsonl/png of the online run ('' = none)
    'online_config': '',  # YAML of OnlineConfig fields (parameters set explicitly win)
    'weights_key': '',  # HMAC key shared with the policy node ('' = $PTR_WEIGHTS_KEY)
    'chunk_size': 0,  # split weight packets above this many bytes (0 = one packet)
}


def _online_parameters() -> dict[str, object]:
    out: dict[str, object] = {}
    for f in dataclasses.fields(OnlineConfig):
        v = getattr(OnlineConfig(), f.name)
        out[f.name] = [float(x) for x in v] if isinstance(v, tuple) else v
    return out


PARAMETERS: dict[str, object] = _NODE_PARAMETERS | _online_parameters()


class TrainerNode(Node):
    """Off-board learner: stores announced episodes, trains on a worker thread, sends weights."""

    def __init__(self, **node_options: Any) -> None:
        # node_options (context, parameter_overrides, ...) let a test build it in-process.
        super().__init__('trainer_node', **node_options)
        p = declare(self, PARAMETERS)
        for key in ('agent_ckpt', 'prior_data', 'target_data', 'online_dir'):
            if not p[key]:
                raise ValueError(f'parameter {key}: expected a path, got ""')
        self.key = weights.resolve_key(p['weights_key'])
        self.chunk_size = int(p['chunk_size'])
        # Parameters given on the command line or by launch override the YAML file.
        defaults = _online_parameters()
        given = {name for name, default in defaults.items() if p[name] != default}
        cfg = load_online_config(p['online_config'] or None,
                                 {k: (tuple(p[k]) if k == 'beta' else p[k]) for k in given})
        prior_tasks = [t.strip() for t in str(p['prior_tasks']).split(',') if t.strip()]
        self.telemetry_dir = p['telemetry_dir'] or None
        self.trainer = build_trainer(p['agent_ckpt'], p['prior_data'], p['target_data'],
                                     p['target_task'], p['online_dir'], cfg,
                                     prior_tasks or None, self.publish_weights,
                                     p['checkpoint_dir'] or None,
                                     on_event=self.get_logger().warning,
                                     telemetry_dir=self.telemetry_dir)
        self.fingerprint = self.trainer.agent.fingerprint
        depth = 1 if self.chunk_size <= 0 else 256
        self.pub_weights = self.create_publisher(UInt8MultiArray, 'ptr/policy_weights',
                                                 latched_qos(depth))
        self.pub_status = self.create_publisher(String, 'ptr/trainer_status', latched_qos())
        # Already stored episodes (across restarts), so the transient-local backlog of
        # announcements a late trainer receives is stored once.
        self.ledger = IngestLedger(Path(p['online_dir']) / 'ingested.json')
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(String, 'ptr/episode', self.on_episode,
                                 latched_qos(ANNOUNCE_DEPTH), callback_group=group)
        self.create_subscription(UInt8MultiArray, 'ptr/episode_data', self.on_chunk,
                                 latched_qos(DATA_DEPTH), callback_group=group)
        self.assembler = ChunkAssembler(max_pending=DATA_DEPTH)
        self.waiting_ann: dict[str, Announcement] = {}
        self.waiting_data: dict[str, bytes] = {}
        self.seen: set[str] = set()
        self.episodes: queue.Queue = queue.Queue()
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
            ann = Announcement.from_json(msg.data)
            if ann.sha256 in self.seen or ann.sha256 in self.ledger:
                return
            if ann.transfer == 'file':
                self.accept(ann, read_episode(ann))
            elif ann.sha256 in self.waiting_data:
                data = self.waiting_data.pop(ann.sha256)
                self.accept(ann, verify_bytes(ann, data, 'ptr/episode_data'))
            else:
                self.waiting_ann[ann.sha256] = ann
        except EpisodeError as e:
            self.get_logger().error(f'episode refused: {e}')

    def on_chunk(self, msg) -> None:
        try:
            done = self.assembler.add(rosmsg.uint8_to_bytes(msg))
            if done is None:
                return
            digest, data = done
            if digest in self.waiting_ann:
                ann = self.waiting_ann.pop(digest)
                self.accept(ann, verify_bytes(ann, data, 'ptr/episode_data'))
            elif digest not in self.seen and digest not in self.ledger:
                self.waiting_data[digest] = data
                while len(self.waiting_data) > DATA_DEPTH:
                    self.waiting_data.pop(next(iter(self.waiting_data)))
        except EpisodeError as e:
            self.get_logger().error(f'episode refused: {e}')

    def accept(self, ann: Announcement, traj) -> None:
        self.seen.add(ann.sha256)
        self.episodes.put((ann.sha256, traj))

    # ---- learning (worker thread) ------------------------------------------------------
    def work(self) -> None:
        t = self.trainer
        while not self.stop.is_set():
            try:
                digest, traj = self.episodes.get(timeout=0.05 if t.pending else 0.5)
            except queue.Empty:
                traj = None
            if traj is not None:
                pending = t.add_episode(traj)
                self.ledger.add(digest)
                self.get_logger().info(f'episode {t.episodes}: {len(traj)} steps, return '
                                       f'{float(traj.rewards.sum()):g}, {pending} updates '
                                       f'due')
                self.publish_status()
                continue  # take every queued episode before training on
            if t.pending:
                # Small slices, so a new episode never waits behind a long batch.
                t.train(max_updates=10)
                if t.pending == 0 or t.updates % 100 < 10:
                    self.publish_status()

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
        self.stop.set()
        self.worker.join(timeout=3.0)
        if not self.worker.is_alive() and self.trainer.checkpoint_now():
            log_info(self, f'stopped: checkpoint at update {self.trainer.updates}')
        if self.trainer.telemetry is not None:
            self.trainer.telemetry.close()  # `ptr telemetry DIR` draws the PNG


def main(args: list[str] | None = None) -> int:
    return run(TrainerNode, args, threads=2)


if __name__ == '__main__':
    sys.exit(main())

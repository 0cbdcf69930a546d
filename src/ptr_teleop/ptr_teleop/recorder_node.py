"""Bag recorder: one rosbag2 bag (MCAP) per teleoperated episode, complete or absent.

Subscribes (raw CDR, never deserialized: recording costs no decoding)
            camera/image_raw  sensor_msgs/Image
            robot/state       std_msgs/Float32MultiArray
            robot/action      std_msgs/Float32MultiArray: what the robot was sent (after the
                              safety filter), the action the demonstration is made of
            teleop/episode    std_msgs/String JSON (TeleopEvent): start / success / failure /
                              discard; recorded too, so a bag explains itself
Publishes   teleop/recorded   std_msgs/String JSON (BagRecorded): the bag is closed and in place
Timestamps are receive times (the bag's clock, as `ros2 bag record` writes them). The episode's
first observation arrives before its start event (the reset publishes it before answering), so
the latest image and state are kept while idle and written first. The task, outcome, episode and
the operator's notes go into the bag's metadata (custom_data) as well.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

from ptr_ros.contracts import BagRecorded, ContractError, TeleopEvent
from ptr_ros.nodeutil import declare, run
from ptr_ros.qos import action_qos, event_qos, latched_qos, sensor_qos
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, String

from ptr_core.data.bag_writer import (
    META_EPISODE,
    META_NOTES,
    META_OUTCOME,
    META_TASK,
    OUTCOMES,
    STAGING,
    BagWriteError,
    EpisodeBag,
)

PARAMETERS: dict[str, object] = {
    'out': '',  # folder the bags go to (required)
    'image_topic': 'camera/image_raw',
    'state_topic': 'robot/state',
    'action_topic': 'robot/action',
}
IMAGE, ARRAY, STRING = 'sensor_msgs/msg/Image', 'std_msgs/msg/Float32MultiArray', \
    'std_msgs/msg/String'


def bag_name(task: str, episode: int, when: float) -> str:
    """`<task>_<UTC time>_ep<NNN>`: sorts by time, says what it is, safe as a folder name."""
    safe = re.sub(r'[^A-Za-z0-9_.-]+', '.', task).strip('.') or 'task'
    return f'{safe}_{time.strftime("%Y%m%dT%H%M%S", time.gmtime(when))}_ep{episode:03d}'


class RecorderNode(Node):
    """Follows the teleop node's episode events; writes through ptr_core.data.bag_writer."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__('bag_recorder', **node_options)
        p = declare(self, PARAMETERS)
        if not str(p['out']).strip():
            raise ValueError('parameter out: expected the folder to record bags into, got ""')
        self.out = Path(str(p['out'])).expanduser()
        self.out.mkdir(parents=True, exist_ok=True)
        leftovers = sorted((self.out / STAGING).glob('*')) if (self.out / STAGING).is_dir() \
            else []
        if leftovers:
            self.get_logger().warning(
                f'{len(leftovers)} unfinished recording(s) from an earlier crash in '
                f'{self.out / STAGING} (not bags: no metadata); left as they are')
        self.action_topic = str(p['action_topic'])
        self.topics = {str(p['image_topic']): IMAGE, str(p['state_topic']): ARRAY,
                       str(p['action_topic']): ARRAY, TeleopEvent.TOPIC: STRING}
        self.bag: EpisodeBag | None = None
        self.event: TeleopEvent | None = None
        self.latest: dict[str, tuple[int, bytes]] = {}
        self.pub_done = self.create_publisher(String, BagRecorded.TOPIC,
                                              latched_qos(BagRecorded.DEPTH))
        for topic, msgtype in self.topics.items():
            if msgtype == STRING:
                continue
            cls = Image if msgtype == IMAGE else Float32MultiArray
            qos = action_qos() if topic == self.action_topic else sensor_qos(10)
            self.create_subscription(cls, topic, self._recorder(topic), qos, raw=True)
        self.create_subscription(String, TeleopEvent.TOPIC, self.on_event, event_qos(),
                                 raw=True)
        self.get_logger().info(f'recording episodes into {self.out}')

    def _recorder(self, topic: str):
        def on_message(data: bytes) -> None:
            t = time.time_ns()
            if self.bag is not None:
                self.bag.write(topic, t, data)
            elif topic != self.action_topic:
                self.latest[topic] = (t, data)
        return on_message

    def on_event(self, data: bytes) -> None:
        t = time.time_ns()
        try:
            event = TeleopEvent.from_msg(deserialize_message(data, String))
        except ContractError as e:
            self.get_logger().warning(str(e))
            return
        if event.event == 'start':
            self.start(event, t, data)
        elif self.bag is None or self.event is None or event.episode != self.event.episode:
            self.get_logger().warning(f'{TeleopEvent.TOPIC}: {event.event} of episode '
                                      f'{event.episode}, which is not being recorded; ignored')
        elif event.event == 'discard':
            self.bag.discard()
            self.bag = None
            self.done(BagRecorded(event.episode, 'discard'))
        elif event.event in OUTCOMES:
            self.bag.write(TeleopEvent.TOPIC, t, data)
            self.finish(event)
        else:
            self.get_logger().warning(f"{TeleopEvent.TOPIC}: field 'event': expected start, "
                                      f'success, failure or discard, got {event.event!r}')

    def start(self, event: TeleopEvent, t: int, data: bytes) -> None:
        if self.bag is not None:  # a new start without an end: the old one is not a demo
            self.get_logger().warning(f'episode {self.event.episode} never ended; discarded')
            self.bag.discard()
        try:
            self.bag = EpisodeBag(self.out, bag_name(event.task, event.episode, time.time()),
                                  self.topics)
        except (BagWriteError, OSError) as e:
            self.get_logger().error(f'episode {event.episode}: cannot record: {e}')
            self.bag = None
            return
        self.event = event
        for topic, (t_kept, kept) in sorted(self.latest.items(), key=lambda kv: kv[1][0]):
            self.bag.write(topic, t_kept, kept)  # the reset's observation
        self.latest.clear()
        self.bag.write(TeleopEvent.TOPIC, t, data)

    def finish(self, end: TeleopEvent) -> None:
        bag, self.bag = self.bag, None
        meta = {META_TASK: end.task, META_OUTCOME: end.event, META_EPISODE: str(end.episode),
                META_NOTES: end.notes}
        try:
            path = bag.finish(meta)
        except (OSError, BagWriteError) as e:
            self.get_logger().error(f'episode {end.episode}: bag not written: {e}')
            bag.discard()
            return
        n = sum(bag.counts.values())
        self.get_logger().info(f'episode {end.episode} ({end.event}): {path} ({n} messages)')
        self.done(BagRecorded(end.episode, end.event, str(path), n))

    def done(self, rec: BagRecorded) -> None:
        if self.context.ok():
            self.pub_done.publish(rec.to_msg())

    def close(self) -> None:
        """Shut down mid-episode: the unfinished recording is dropped, never left looking done."""
        if self.bag is not None:
            self.bag.discard()
            self.bag = None


def main(args: list[str] | None = None) -> int:
    return run(RecorderNode, args)


if __name__ == '__main__':
    sys.exit(main())

"""Bag recorder: one rosbag2 bag (MCAP) per teleoperated episode, complete or absent.

Subscribes (raw CDR, never deserialized: recording costs no decoding)
            camera/image_raw  sensor_msgs/Image
            robot/state       std_msgs/Float32MultiArray
            robot/action      std_msgs/Float32MultiArray: what the robot was sent (after the
                              safety filter), the action the demonstration is made of
            teleop/episode    std_msgs/String JSON (TeleopEvent): start / success / failure /
                              discard; recorded too, so a bag explains itself
Publishes   teleop/recorded   std_msgs/String JSON (BagRecorded): the bag is closed and in place
Timestamps are receive times (the bag's clock, as `ros2 bag record` writes them). A bag begins
and ends on whole observations (ptr_teleop.observation_cut): the episode's first observation
arrives before its start event (the reset publishes it before answering), so the newest ones are
kept while idle and the one the start event names is written first; after the end event the bag
waits up to `end_wait_s` for the other half of an observation it holds half of, and up to
`image_wait_s` for the images of a bag that has states but not one image yet (they lag under
load). A bag that still has no image or no state is never closed as a demonstration: it is
refused in one line (teleop/recorded says so, with the reason) and nothing is kept. The task,
outcome, episode and the operator's notes go into the bag's metadata (custom_data) as well.
"""
from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

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
from ptr_ros.contracts import BagRecorded, ContractError, TeleopEvent
from ptr_ros.nodeutil import Throttle, declare, run
from ptr_ros.qos import action_qos, event_qos, latched_qos, sensor_qos
from ptr_teleop.cdr_stamps import CdrError, image_stamp_ns, multiarray_tag_ns
from ptr_teleop.observation_cut import ObservationCut, demo_problem

PARAMETERS: dict[str, object] = {
    'out': '',  # folder the bags go to (required)
    'image_topic': 'camera/image_raw',
    'state_topic': 'robot/state',
    'action_topic': 'robot/action',
    'end_wait_s': 0.5,  # after the end event, how long to wait for an observation's other half
    'image_wait_s': 3.0,  # ... and for the first image of a bag that has none yet
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
        self.image_topic, self.state_topic = str(p['image_topic']), str(p['state_topic'])
        self.topics = {self.image_topic: IMAGE, self.state_topic: ARRAY,
                       self.action_topic: ARRAY, TeleopEvent.TOPIC: STRING}
        self.bag: EpisodeBag | None = None
        self.event: TeleopEvent | None = None
        self.ending: TeleopEvent | None = None  # the end event, while the last halves come
        self.end_wait = float(p['end_wait_s'])
        self.image_wait = float(p['image_wait_s'])
        self.end_timer = None
        self.cut = ObservationCut(self.image_topic, self.state_topic)
        self.throttle = Throttle(5.0)
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
            stamp = self._stamp(topic, data)
            if self.ending is not None and self.cut.completes(topic, stamp):
                self._write(topic, t, data, stamp)
                if not self.cut.unfinished():
                    self.finish()
            elif self.bag is not None and self.ending is None:
                self._write(topic, t, data, stamp)
            elif topic != self.action_topic:  # before the next episode (or after this one)
                self.cut.hold(topic, stamp, t, data)
        return on_message

    def _stamp(self, topic: str, data: bytes) -> int | None:
        """Which observation an image or a state belongs to (None: untagged, or an action)."""
        try:
            if topic == self.image_topic:
                return image_stamp_ns(data)
            if topic == self.state_topic:
                return multiarray_tag_ns(data)
        except CdrError as e:
            if self.throttle(topic):
                self.get_logger().warning(f'{topic}: {e}; recorded without pairing')
        return None

    def _write(self, topic: str, t: int, data: bytes, stamp: int | None) -> None:
        self.bag.write(topic, t, data)
        self.cut.wrote(topic, stamp)

    def on_event(self, data: bytes) -> None:
        t = time.time_ns()
        try:
            event = TeleopEvent.from_msg(deserialize_message(data, String))
        except ContractError as e:
            self.get_logger().warning(str(e))
            return
        if self.ending is not None:  # whatever comes next, the ended episode is complete
            self.finish()
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
            self.ending = event
            if not self.cut.unfinished():
                self.finish()
            elif self.end_timer is None:
                no_image = not self.bag.counts.get(self.image_topic)
                self.end_timer = self.create_timer(
                    self.image_wait if no_image else self.end_wait, self._end_waited)
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
        for topic, t_kept, kept in self.cut.opening(event.stamp_ns):  # the reset's observation
            self.bag.write(topic, t_kept, kept)
        self.bag.write(TeleopEvent.TOPIC, t, data)

    def _end_waited(self) -> None:
        lacking = sorted(set().union(*self.cut.unfinished().values()))
        if self.bag.counts.get(self.image_topic):  # else finish() refuses it, saying why
            self.get_logger().warning(
                f'episode {self.ending.episode}: no {" or ".join(lacking)} for the last '
                f'observation within {self.end_wait} s; bag closed without it')
        self.finish()

    def finish(self) -> None:
        """Close the ended episode's bag (its end event is `self.ending`)."""
        if self.end_timer is not None:
            self.destroy_timer(self.end_timer)
            self.end_timer = None
        end, self.ending = self.ending, None
        bag, self.bag = self.bag, None
        problem = demo_problem(bag.counts, self.image_topic, self.state_topic)
        if problem is not None:
            bag.discard()
            self.get_logger().error(f'episode {end.episode} ({end.event}) refused: {problem}; '
                                    f'nothing kept: record it again (is the camera publishing?)')
            self.done(BagRecorded(end.episode, 'refused', messages=sum(bag.counts.values()),
                                  reason=problem))
            return
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
        """Shut down: an ended episode is written; an unfinished recording is dropped, never
        left looking done."""
        if self.ending is not None:
            self.finish()
        if self.bag is not None:
            self.bag.discard()
            self.bag = None


def main(args: list[str] | None = None) -> int:
    return run(RecorderNode, args)


if __name__ == '__main__':
    sys.exit(main())

"""The recorder node over real DDS, in-process: a bag holds whole observations when the end event
overtakes the last image, and closes without it (after `end_wait_s`) when it never comes; a bag
whose images all lag behind the end event waits for them (`image_wait_s`), and one that never
gets an image is refused, saying why, and nothing is kept."""
import time

import numpy as np
import pytest

from ptr_core import rosmsg
from ptr_ros.contracts import BagRecorded, TeleopEvent
from ptr_ros.domains import private_domain
from ptr_ros.qos import action_qos, event_qos, latched_qos, sensor_qos

pytestmark = pytest.mark.ros
PERIOD = 200_000_000


def _read(bag):
    """(image stamps, state tags, action count) with an independent reader."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    (mcap_file,) = bag.glob('*.mcap')
    images, states, actions = [], [], 0
    with open(mcap_file, 'rb') as f:
        for _, ch, _, m in make_reader(f, decoder_factories=[DecoderFactory()]) \
                .iter_decoded_messages():
            if ch.topic == 'camera/image_raw':
                images.append(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)
            elif ch.topic == 'robot/state':
                states.append(int(m.layout.dim[0].label.split(':')[1]))
            elif ch.topic == 'robot/action':
                actions += 1
    return images, states, actions


def test_bags_end_on_whole_observations(tmp_path):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32MultiArray, MultiArrayDimension, String

    from ptr_teleop.recorder_node import RecorderNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=private_domain())
    rec = RecorderNode(context=ctx, parameter_overrides=[
        Parameter('out', value=str(tmp_path)), Parameter('end_wait_s', value=0.5),
        Parameter('image_wait_s', value=1.0)])
    node = Node('operator', context=ctx)
    pubs = {'image': node.create_publisher(Image, 'camera/image_raw', sensor_qos()),
            'state': node.create_publisher(Float32MultiArray, 'robot/state', sensor_qos()),
            'action': node.create_publisher(Float32MultiArray, 'robot/action', action_qos()),
            'event': node.create_publisher(String, TeleopEvent.TOPIC, event_qos())}
    done = []
    node.create_subscription(String, BagRecorded.TOPIC,
                             lambda m: done.append(BagRecorded.from_msg(m)),
                             latched_qos(BagRecorded.DEPTH))
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(rec)
    executor.add_node(node)

    taken = [0]  # images, states and actions the recorder wrote or held: each send waits for it

    def counting(fn):
        def wrapped(*args):
            taken[0] += 1
            return fn(*args)
        return wrapped
    rec._write, rec.cut.hold = counting(rec._write), counting(rec.cut.hold)

    def spin_until(cond, limit=20.0):
        end = time.monotonic() + limit
        while time.monotonic() < end and not cond():
            executor.spin_once(timeout_sec=0.02)
        return cond()

    def send(kind, k=0, event='', first=0):
        if kind == 'image':
            msg = rosmsg.numpy_to_image(np.full((4, 4, 3), k % 256, np.uint8), 'rgb8', Image())
            rosmsg.ns_to_stamp(k * PERIOD, msg.header.stamp)
        elif kind == 'state':
            msg = rosmsg.numpy_to_float32(np.full(7, k, np.float32), Float32MultiArray())
            rosmsg.tag_stamp(msg, k * PERIOD, MultiArrayDimension)
        elif kind == 'action':
            msg = rosmsg.numpy_to_float32(np.zeros(7, np.float32), Float32MultiArray())
        else:
            msg = TeleopEvent(event, k, 'OpenDoor', first * PERIOD).to_msg()
        before, bag, ending = taken[0], rec.bag, rec.ending
        pubs[kind].publish(msg)
        if kind != 'event':
            assert spin_until(lambda: taken[0] > before)
        elif event == 'start':
            assert spin_until(lambda: rec.bag is not None and rec.bag is not bag)
        else:
            assert spin_until(lambda: rec.ending is not ending or rec.bag is not bag)

    try:
        assert spin_until(lambda: all(p.get_subscription_count() for p in pubs.values())
                          and rec.count_publishers(BagRecorded.TOPIC) >= 1)
        for k in (1, 2):  # before the episode; 2 is the reset's observation
            send('state', k), send('image', k)
        send('event', 0, 'start', first=2)
        for k in (3, 4):
            send('action'), send('state', k), send('image', k)
        send('action'), send('state', 5)
        send('event', 0, 'success')  # overtakes image 5
        assert rec.ending is not None
        send('image', 5)
        send('state', 6), send('image', 6)  # after the end: the next episode's, if anything
        assert spin_until(lambda: len(done) == 1)
        images, states, actions = _read(tmp_path / done[0].path.split('/')[-1])
        assert images == states == [k * PERIOD for k in (2, 3, 4, 5)] and actions == 3

        send('event', 1, 'start', first=7)  # obs 6 is the past; 7 is on its way
        send('state', 7), send('image', 7)
        send('state', 8)
        started = time.monotonic()
        send('event', 1, 'failure')  # image 8 never comes
        assert spin_until(lambda: len(done) == 2)
        assert time.monotonic() - started >= 0.45  # it waited end_wait_s
        images, states, _ = _read(tmp_path / done[1].path.split('/')[-1])
        assert images == [7 * PERIOD] and states == [7 * PERIOD, 8 * PERIOD]

        # every image of an episode lags behind its end event (a loaded machine): they are
        # waited for, and the bag holds them
        send('event', 2, 'start', first=9)
        for k in (9, 10):
            send('state', k), send('action')
        send('event', 2, 'success')
        assert rec.ending is not None  # not closed image-less
        send('image', 9), send('image', 10)
        assert spin_until(lambda: len(done) == 3)
        images, states, actions = _read(tmp_path / done[2].path.split('/')[-1])
        assert images == states == [9 * PERIOD, 10 * PERIOD] and actions == 2
        # no image ever: refused after image_wait_s, in one line, and no bag is left
        bags = sorted(p.name for p in tmp_path.iterdir())
        send('event', 3, 'start', first=11)
        send('state', 11), send('action'), send('state', 12)
        started = time.monotonic()
        send('event', 3, 'success')
        assert spin_until(lambda: len(done) == 4)
        assert time.monotonic() - started >= 0.95
        assert (done[3].outcome, done[3].path, done[3].reason) == \
            ('refused', '', 'no camera/image_raw recorded')
        assert sorted(p.name for p in tmp_path.iterdir()) == bags
    finally:
        executor.shutdown()
        rec.destroy_node()
        node.destroy_node()
        rclpy.shutdown(context=ctx)

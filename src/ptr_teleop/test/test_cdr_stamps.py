"""Stamps read from raw CDR agree with what rclpy's serializer wrote (and rosbags' big-endian
one), for the labels, lengths and paddings that move the fields around."""
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension

from ptr_core import rosmsg
from ptr_teleop.cdr_stamps import CdrError, image_stamp_ns, multiarray_tag_ns

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types


@pytest.mark.parametrize('ns', [0, 7, 1_000_000_000, 1_733_250_123_456_789_012])
def test_image_header_stamp(ns):
    msg = rosmsg.numpy_to_image(np.zeros((2, 3, 3), np.uint8), 'rgb8', Image())
    rosmsg.ns_to_stamp(ns, msg.header.stamp)
    msg.header.frame_id = 'camera_color_optical_frame'
    assert image_stamp_ns(serialize_message(msg)) == ns


def _state(labels):
    msg = rosmsg.numpy_to_float32(np.arange(7, dtype=np.float32), Float32MultiArray())
    msg.layout.dim = [MultiArrayDimension(label=label, size=7, stride=7) for label in labels]
    return msg


@pytest.mark.parametrize('labels', [['stamp_ns:'], ['x'], ['ab', 'stamp_ns:'], ['abc', ''],
                                    ['abcd', 'e', 'stamp_ns:']])
def test_multiarray_tag_after_labels_of_every_padding(labels):
    ns = 4_800_000_000 + len(labels)
    labels = [f'{label}{ns}' if label == 'stamp_ns:' else label for label in labels]
    want = ns if any(label.startswith('stamp_ns:') for label in labels) else None
    assert multiarray_tag_ns(serialize_message(_state(labels))) == want


def test_tag_stamp_and_untagged():
    msg = rosmsg.tag_stamp(_state([]), 123_456, MultiArrayDimension)
    assert multiarray_tag_ns(serialize_message(msg)) == 123_456 == rosmsg.stamp_tag(msg)
    assert multiarray_tag_ns(serialize_message(_state([]))) is None
    assert multiarray_tag_ns(serialize_message(_state(['stamp_ns:soon']))) is None


def test_big_endian():
    img = T['sensor_msgs/msg/Image'](
        header=T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=3, nanosec=9),
                                        frame_id='c'),
        height=1, width=1, encoding='rgb8', is_bigendian=0, step=3,
        data=np.zeros(3, np.uint8))
    assert image_stamp_ns(bytes(TS.serialize_cdr(img, 'sensor_msgs/msg/Image',
                                                 little_endian=False))) == 3_000_000_009
    arr = T['std_msgs/msg/Float32MultiArray'](
        layout=T['std_msgs/msg/MultiArrayLayout'](
            dim=[T['std_msgs/msg/MultiArrayDimension'](label='q', size=7, stride=7),
                 T['std_msgs/msg/MultiArrayDimension'](label='stamp_ns:42', size=7, stride=7)],
            data_offset=0),
        data=np.zeros(7, np.float32))
    assert multiarray_tag_ns(bytes(TS.serialize_cdr(
        arr, 'std_msgs/msg/Float32MultiArray', little_endian=False))) == 42


def test_not_cdr_or_cut_short_is_a_named_error():
    with pytest.raises(CdrError, match='encapsulation header'):
        image_stamp_ns(b'{"json": 1}')
    with pytest.raises(CdrError, match='too short'):
        image_stamp_ns(b'\x00\x01\x00\x00\x01')
    data = serialize_message(_state(['a' * 40, 'stamp_ns:5']))
    with pytest.raises(CdrError, match='past the message end'):
        multiarray_tag_ns(data[:30])

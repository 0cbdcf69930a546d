"""Message <-> numpy conversions against the real ROS message classes (no rclpy.init needed)."""
import array
import struct

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, MultiArrayDimension, UInt8MultiArray

from ptr_core import rosmsg


def _rgb(h=5, w=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_rgb8_round_trip_fields():
    img = _rgb()
    msg = rosmsg.numpy_to_image(img, 'rgb8', Image())
    assert (msg.height, msg.width, msg.step, msg.encoding) == (5, 4, 12, 'rgb8')
    assert msg.is_bigendian == 0
    assert isinstance(msg.data, array.array) and len(msg.data) == 60
    out = rosmsg.image_to_numpy(msg)
    assert out.dtype == np.uint8 and out.shape == (5, 4, 3)
    np.testing.assert_array_equal(out, img)
    out[0, 0, 0] ^= 1  # the result owns its memory
    assert msg.data[0] == img[0, 0, 0]


def test_row_padding_is_skipped():
    img = _rgb(3, 2)
    step = 2 * 3 + 5  # 5 bytes of padding per row, as a driver with aligned rows sends
    rows = [bytes(img[r].ravel()) + b'\xab' * 5 for r in range(3)]
    msg = Image(height=3, width=2, encoding='bgr8', step=step, data=b''.join(rows))
    np.testing.assert_array_equal(rosmsg.image_to_numpy(msg), img)
    # bgr8 data asked for as rgb8: channels reversed
    np.testing.assert_array_equal(rosmsg.image_to_numpy(msg, 'rgb8'), img[:, :, ::-1])


def test_mono_conversions_match_bt601_by_hand():
    img = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    msg = rosmsg.numpy_to_image(img, 'rgb8', Image())
    gray = rosmsg.image_to_numpy(msg, 'mono8')
    # 0.299*255 = 76.2, 0.587*255 = 149.7, 0.114*255 = 29.1, 2.99 + 11.74 + 3.42 = 18.15
    np.testing.assert_array_equal(gray, [[76, 150, 29, 18]])
    mono = rosmsg.numpy_to_image(gray, 'mono8', Image())
    assert mono.step == 4
    rgb = rosmsg.image_to_numpy(mono, 'rgb8')
    np.testing.assert_array_equal(rgb[0, 1], [150, 150, 150])


def test_big_endian_16_bit():
    vals = [1, 258, 65535, 4096]
    msg = Image(height=2, width=2, encoding='mono16', is_bigendian=1, step=4,
                data=struct.pack('>4H', *vals))
    np.testing.assert_array_equal(rosmsg.image_to_numpy(msg), np.array(vals).reshape(2, 2))
    msg_le = Image(height=2, width=2, encoding='16UC1', is_bigendian=0, step=4,
                   data=struct.pack('<4H', *vals))
    np.testing.assert_array_equal(rosmsg.image_to_numpy(msg_le), np.array(vals).reshape(2, 2))


@pytest.mark.parametrize('field,value,words', [
    ('encoding', 'yuv422', 'image encoding'),
    ('step', 5, 'image step'),
    ('data', b'\x00' * 10, 'image data'),
])
def test_bad_images_name_the_field(field, value, words):
    msg = rosmsg.numpy_to_image(_rgb(2, 2), 'rgb8', Image())
    setattr(msg, field, value)
    with pytest.raises(rosmsg.ConversionError, match=words):
        rosmsg.image_to_numpy(msg)


def test_numpy_to_image_checks_shape_and_dtype():
    with pytest.raises(rosmsg.ConversionError, match='expected \\(H, W, 3\\)'):
        rosmsg.numpy_to_image(np.zeros((4, 4), np.uint8), 'rgb8', Image())
    with pytest.raises(rosmsg.ConversionError, match='dtype uint8'):
        rosmsg.numpy_to_image(np.zeros((4, 4, 3), np.float32), 'rgb8', Image())


def test_float32_multiarray_round_trip_and_layout():
    x = np.array([0.5, -1.0, 0.25, 3.0, 1e-3, -0.99, 0.0], dtype=np.float64)
    msg = rosmsg.numpy_to_float32(x, Float32MultiArray())
    assert isinstance(msg.data, array.array) and msg.data.typecode == 'f'
    assert not msg.layout.dim
    np.testing.assert_array_equal(rosmsg.float32_to_numpy(msg), x.astype(np.float32))
    grid = np.arange(6, dtype=np.float32).reshape(2, 3)
    msg2 = rosmsg.numpy_to_float32(grid, Float32MultiArray(), dim_factory=MultiArrayDimension,
                                   labels=('rows', 'cols'))
    assert [(d.label, d.size, d.stride) for d in msg2.layout.dim] == [('rows', 2, 6),
                                                                      ('cols', 3, 3)]
    np.testing.assert_array_equal(rosmsg.float32_to_numpy(msg2), grid)


def test_vector_from_msg_validates_size_and_finiteness():
    msg = rosmsg.numpy_to_float32(np.zeros(6), Float32MultiArray())
    with pytest.raises(rosmsg.ConversionError, match='action: expected 7 floats, got 6'):
        rosmsg.vector_from_msg(msg, 7, 'action')
    msg = rosmsg.numpy_to_float32(np.array([0, 0, np.nan, 0, 0, 0, 0]), Float32MultiArray())
    with pytest.raises(rosmsg.ConversionError, match='finite'):
        rosmsg.vector_from_msg(msg, 7, 'action')


def test_uint8_multiarray_bytes_round_trip():
    payload = bytes(range(256)) * 40
    msg = rosmsg.bytes_to_uint8(payload, UInt8MultiArray())
    assert isinstance(msg.data, array.array) and len(msg.data) == len(payload)
    assert rosmsg.uint8_to_bytes(msg) == payload


def test_stamp_ns_round_trip():
    t = rosmsg.ns_to_stamp(3_000_000_123, Time())
    assert (t.sec, t.nanosec) == (3, 123)
    assert rosmsg.stamp_to_ns(t) == 3_000_000_123


def test_stamp_tag_round_trip_keeps_data_readable():
    msg = rosmsg.numpy_to_float32(np.arange(7), Float32MultiArray())
    assert rosmsg.stamp_tag(msg) is None
    rosmsg.tag_stamp(msg, 1_234_567_890_123, MultiArrayDimension)
    assert rosmsg.stamp_tag(msg) == 1_234_567_890_123
    np.testing.assert_array_equal(rosmsg.vector_from_msg(msg, 7, 'state'), np.arange(7))

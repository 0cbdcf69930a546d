"""One episode -> one MCAP bag, checked with an independent reader (mcap + mcap-ros2-support)."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from rosbags.typesys import Stores, get_typestore

from ptr_core.data.bag_writer import STAGING, BagWriteError, EpisodeBag

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
TOPICS = {'camera/image_raw': 'sensor_msgs/msg/Image',
          'robot/action': 'std_msgs/msg/Float32MultiArray',
          'teleop/episode': 'std_msgs/msg/String'}


def _image(j):
    px = np.full((4, 4, 3), j, np.uint8)
    return TS.serialize_cdr(T['sensor_msgs/msg/Image'](
        header=T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=j, nanosec=7),
                                        frame_id='cam'),
        height=4, width=4, encoding='rgb8', is_bigendian=0, step=12, data=px.reshape(-1)),
        'sensor_msgs/msg/Image')


def _action(x):
    msg = T['std_msgs/msg/Float32MultiArray'](
        layout=T['std_msgs/msg/MultiArrayLayout'](dim=[], data_offset=0),
        data=np.array([x] * 7, np.float32))
    return TS.serialize_cdr(msg, 'std_msgs/msg/Float32MultiArray')


def _record(out, name='OpenDoor_ep000'):
    bag = EpisodeBag(out, name, TOPICS)
    bag.write('teleop/episode', 1_000,
              TS.serialize_cdr(T['std_msgs/msg/String'](data='{"event": "start"}'),
                               'std_msgs/msg/String'))
    for j in range(3):
        bag.write('camera/image_raw', 2_000 + j * 200, _image(j))
        bag.write('robot/action', 2_050 + j * 200, _action(j / 10))
    return bag


def test_bag_opens_in_an_independent_reader_with_counts_types_and_content(tmp_path):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    bag = _record(tmp_path)
    assert not (tmp_path / 'OpenDoor_ep000').exists()  # not in place while being written
    final = bag.finish({'ptr.task': 'OpenDoor', 'ptr.outcome': 'success'})
    assert final == tmp_path / 'OpenDoor_ep000' and not (tmp_path / STAGING / final.name).exists()
    meta = yaml.safe_load((final / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['storage_identifier'] == 'mcap' and meta['message_count'] == 7
    assert meta['custom_data'] == {'ptr.task': 'OpenDoor', 'ptr.outcome': 'success'}
    (mcap_file,) = final.glob('*.mcap')
    with open(mcap_file, 'rb') as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        got = [(ch.topic, schema.name, msg.log_time, decoded)
               for schema, ch, msg, decoded in reader.iter_decoded_messages()]
    assert [g[0] for g in got].count('camera/image_raw') == 3
    assert {g[0]: g[1] for g in got} == {
        'teleop/episode': 'std_msgs/msg/String', 'camera/image_raw': 'sensor_msgs/msg/Image',
        'robot/action': 'std_msgs/msg/Float32MultiArray'}
    images = [g for g in got if g[0] == 'camera/image_raw']
    assert [g[2] for g in images] == [2_000, 2_200, 2_400]  # receive times kept
    assert images[2][3].encoding == 'rgb8' and images[2][3].header.stamp.sec == 2
    assert bytes(images[2][3].data) == bytes([2] * 48)
    actions = [g[3] for g in got if g[0] == 'robot/action']
    np.testing.assert_allclose(actions[1].data, [0.1] * 7, rtol=1e-6)
    assert got[0][3].data == '{"event": "start"}'


def test_the_bag_names_its_ros_distro_not_the_library(tmp_path):
    """Rosbags writes `ros_distro: rosbags`; the messages are Jazzy's, so the bag says jazzy in
    metadata.yaml (what `ros2 bag info` reads) and in the MCAP file's own copy."""
    from mcap.reader import make_reader
    from rosbags.rosbag2 import Reader

    final = _record(tmp_path).finish({'ptr.task': 'OpenDoor'})
    meta = yaml.safe_load((final / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['ros_distro'] == 'jazzy' and meta['custom_data'] == {'ptr.task': 'OpenDoor'}
    with Reader(final) as reader:
        assert reader.ros_distro == 'jazzy' and reader.message_count == 7
    (mcap_file,) = final.glob('*.mcap')
    with open(mcap_file, 'rb') as f:
        (record,) = [m for m in make_reader(f).iter_metadata() if m.name == 'rosbag2']
    inner = yaml.safe_load(record.metadata['serialized_metadata'])
    assert inner['ros_distro'] == 'jazzy' and inner['message_count'] == 7


def test_discard_leaves_nothing_and_an_existing_bag_is_never_overwritten(tmp_path):
    _record(tmp_path).discard()
    assert not any(tmp_path.glob('OpenDoor*')) and not any((tmp_path / STAGING).iterdir())
    _record(tmp_path).finish({})
    with pytest.raises(BagWriteError, match='exists already'):
        EpisodeBag(tmp_path, 'OpenDoor_ep000', TOPICS)


def test_a_killed_writer_leaves_no_bag_that_looks_complete(tmp_path):
    """SIGKILL mid-episode: nothing under the bag's name; `ptr data from-bags` finds no bag."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_bag_writer import _record
        bag = _record({str(tmp_path)!r})
        print('writing', flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'writing'
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert [p.name for p in tmp_path.iterdir()] == [STAGING]
    from ptr_core.data.data_cli import bag_folders
    assert bag_folders([str(tmp_path)]) == []
    _record(tmp_path).finish({})  # the next run of the same name starts clean
    assert bag_folders([str(tmp_path)]) == [str(tmp_path / 'OpenDoor_ep000')]

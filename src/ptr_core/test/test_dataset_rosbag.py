"""rosbag2 -> Trajectory: real bags written with rosbags' Writer (sqlite3 and MCAP)."""
import numpy as np
import pytest
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from ptr_core.data import Dataset
from ptr_core.data.rosbag import BagConfig, BagError, bag_to_trajectories, convert_bags, main

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types
MS = 1_000_000
IMG, F32A, F32 = 'sensor_msgs/msg/Image', 'std_msgs/msg/Float32MultiArray', 'std_msgs/msg/Float32'


def _image(j, t_ns):
    px = np.zeros((12, 12, 3), np.uint8)
    px[..., 0], px[..., 1], px[..., 2] = j, 100, 200 - j  # frame number in red, RGB order
    sec, nsec = divmod(t_ns, 1_000_000_000)
    return T['sensor_msgs/msg/Image'](
        header=T['std_msgs/msg/Header'](stamp=T['builtin_interfaces/msg/Time'](sec=sec,
                                                                              nanosec=nsec),
                                        frame_id='cam'),
        height=12, width=12, encoding='rgb8', is_bigendian=0, step=36, data=px.reshape(-1))


def _array(values, tag=None):
    v = np.asarray(values, np.float32)
    dims = [] if tag is None else [T['std_msgs/msg/MultiArrayDimension'](
        label=f'stamp_ns:{tag}', size=len(v), stride=len(v))]
    return T[F32A](layout=T['std_msgs/msg/MultiArrayLayout'](dim=dims, data_offset=0), data=v)


def _vec(x):
    return np.r_[x, np.zeros(6)]


def _events(clock=0):
    """(bag time ns, topic, msgtype, msg): camera 10 Hz, state 20 Hz, two 5 Hz episodes.

    Episode 1 (untagged actions at 130 + 200k ms): image j is stamped 100 + 100j ms, so action k
    sees image 2k and its state is the latest before it, state 2j + 1 (stamped 50i + 10 ms).
    Episode 2 (from 3.1 s) tags actions and states with the image stamp; a reward of 1 after its
    third action ends it there. `clock` shifts the senders' stamps (e.g. sim time) away from
    the bag's receive times; the alignment must not care.
    """
    ev = []
    for j in range(45):
        t = (100 + 100 * j) * MS
        ev.append((t + 2 * MS, '/ns/camera/image_raw', IMG, _image(j, t - clock)))
        if j >= 30:
            ev.append((t + 5 * MS, '/ns/robot/state', F32A,
                       _array(_vec(1000 + j), tag=t - clock)))
    for i in range(90):
        ev.append(((50 * i + 10) * MS, '/ns/robot/state', F32A, _array(_vec(i))))
    for k in range(6):
        ev.append(((130 + 200 * k) * MS, '/ns/robot/action', F32A, _array(_vec(k / 10))))
    for k in range(5):
        stamp = (3100 + 200 * k) * MS
        ev.append((stamp + 30 * MS, '/ns/robot/action', F32A,
                   _array(_vec(0.5 + k / 10), tag=stamp - clock)))
        ev.append((stamp + 150 * MS, '/ns/ptr/reward', F32, T[F32](data=float(k == 2))))
    return sorted(ev, key=lambda e: e[0])


def _write(path, storage, clock=0):
    with Writer(path, version=9, storage_plugin=storage) as w:
        conns = {}
        for t, topic, msgtype, msg in _events(clock):
            if topic not in conns:
                conns[topic] = w.add_connection(topic, msgtype, typestore=TS)
            w.write(conns[topic], t, TS.serialize_cdr(msg, msgtype))
    return path


@pytest.mark.parametrize('storage, clock', [(StoragePlugin.SQLITE3, 0),
                                            (StoragePlugin.MCAP, 0),
                                            (StoragePlugin.MCAP, 90 * MS)])
def test_alignment_by_timestamps(tmp_path, storage, clock):
    bag = _write(tmp_path / 'bag', storage, clock)
    ep1, ep2 = bag_to_trajectories(bag, 'OpenDoor')
    # episode 1: frames 0, 2, ..., 10 and the final next frame 12 (within one period)
    assert ep1.images[:, 0, 0, 0].tolist() == [0, 2, 4, 6, 8, 10, 12]
    assert ep1.images[0, 0, 0].tolist() == [0, 100, 200]  # rgb order kept
    assert ep1.states[:, 0].tolist() == [1, 5, 9, 13, 17, 21, 25]  # latest state, 2j + 1
    np.testing.assert_allclose(ep1.actions[:, 0], np.arange(6) / 10, atol=1e-7)
    assert not ep1.success and not ep1.terminals.any() and ep1.rewards.tolist() == [0] * 6
    # episode 2: tagged images and states; the success after the third action ends it
    assert ep2.images[:, 0, 0, 0].tolist() == [30, 32, 34, 36]
    assert ep2.states[:, 0].tolist() == [1030, 1032, 1034, 1036]
    np.testing.assert_allclose(ep2.actions[:, 0], [0.5, 0.6, 0.7], atol=1e-7)
    assert ep2.rewards.tolist() == [0, 0, 1] and ep2.terminals.tolist() == [False, False, True]
    assert ep2.success and ep2.meta['source'] == 'rosbag2'


def test_mcap_file_is_readable_by_the_mcap_library(tmp_path):
    from mcap.reader import make_reader

    bag = _write(tmp_path / 'bag', StoragePlugin.MCAP)
    files = list(bag.glob('*.mcap'))
    assert len(files) == 1
    counts, first_image = {}, None
    with open(files[0], 'rb') as f:
        for schema, channel, message in make_reader(f).iter_messages():
            assert channel.message_encoding == 'cdr' and schema.encoding == 'ros2msg'
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if channel.topic.endswith('image_raw') and first_image is None:
                first_image = (schema.name, message.log_time, message.data)
    assert counts == {'/ns/camera/image_raw': 45, '/ns/robot/state': 105,
                      '/ns/robot/action': 11, '/ns/ptr/reward': 5}
    name, log_time, data = first_image
    assert name == IMG and log_time == 102 * MS
    msg = TS.deserialize_cdr(data, IMG)
    assert msg.encoding == 'rgb8' and msg.data.reshape(12, 12, 3)[0, 0].tolist() == [0, 100, 200]
    # and the converter agrees with what the mcap reader saw
    ep1, _ = bag_to_trajectories(bag, 'OpenDoor', BagConfig(image_size=6))
    assert ep1.images.shape == (7, 6, 6, 3)


def test_conversion_and_errors(tmp_path):
    bag = _write(tmp_path / 'bag', StoragePlugin.SQLITE3)
    assert convert_bags([bag], tmp_path / 'ds', 'OpenDoor', progress=False) == 2
    ds = Dataset(tmp_path / 'ds')
    assert [len(t) for t in ds['OpenDoor']] == [6, 3]
    assert main([str(bag), '--task', 'X', '--out', str(tmp_path / 'ds2'), '--success']) == 0
    assert all(t.success for t in Dataset(tmp_path / 'ds2')['X'])
    with pytest.raises(BagError, match="topic 'robot/joint': not recorded"):
        bag_to_trajectories(bag, 'X', BagConfig(state_topic='robot/joint'))
    with pytest.raises(BagError, match='not found'):
        bag_to_trajectories(tmp_path / 'nobag', 'X')
    assert main([str(tmp_path / 'nobag'), '--task', 'X', '--out', str(tmp_path / 'o')]) == 1


def test_ptr_data_from_bags_takes_a_folder_of_bags(tmp_path):
    from ptr_core.data.data_cli import main as data_main
    (tmp_path / 'bags').mkdir()
    for name in ('ep_001', 'ep_000'):
        _write(tmp_path / 'bags' / name, StoragePlugin.MCAP)
    (tmp_path / 'bags' / 'notes').mkdir()  # not a bag: skipped
    assert data_main(['from-bags', str(tmp_path / 'bags'), '--task', 'OpenDoor', '--out',
                      str(tmp_path / 'ds')]) == 0
    assert [len(t) for t in Dataset(tmp_path / 'ds')['OpenDoor']] == [6, 3, 6, 3]
    assert data_main(['nonsense']) == 2


def _teleop_bag(out, name, outcome, gap_after=None):
    """A one-episode recording as ptr_teleop's recorder writes it: 5 Hz actions, 10 Hz camera,
    the operator's verdict in the metadata; optionally a 2 s hole after action `gap_after`."""
    from ptr_core.data.bag_writer import EpisodeBag
    bag = EpisodeBag(out, name, {'/camera/image_raw': IMG, '/robot/state': F32A,
                                 '/robot/action': F32A})
    shift = 0
    for k in range(6):
        t = (200 * k + 100) * MS + shift
        for j in (0, 1):
            ti = t + j * 100 * MS
            bag.write('/camera/image_raw', ti + 2 * MS, TS.serialize_cdr(_image(2 * k + j, ti),
                                                                         IMG))
            bag.write('/robot/state', ti + 1 * MS, TS.serialize_cdr(_array(_vec(2 * k + j)),
                                                                    F32A))
        if k < 5:
            bag.write('/robot/action', t + 30 * MS, TS.serialize_cdr(_array(_vec(0.1)), F32A))
        if k == gap_after:
            shift += 2000 * MS
    return bag.finish({'ptr.task': 'OpenDoor', 'ptr.outcome': outcome})


def test_teleop_recording_takes_the_operators_verdict_as_its_reward(tmp_path):
    (ep,) = bag_to_trajectories(_teleop_bag(tmp_path, 'ok', 'success'), 'OpenDoor')
    assert len(ep.actions) == 5 and ep.success and ep.meta['outcome'] == 'success'
    assert ep.rewards.tolist() == [0, 0, 0, 0, 1] and ep.terminals.tolist() == [0, 0, 0, 0, 1]
    (ep,) = bag_to_trajectories(_teleop_bag(tmp_path, 'no', 'failure'), 'OpenDoor')
    assert not ep.success and not ep.rewards.any() and not ep.terminals.any()
    (ep,) = bag_to_trajectories(tmp_path / 'no', 'OpenDoor', BagConfig(success=True))
    assert ep.success  # --success overrides the verdict


def test_a_gap_inside_a_teleop_recording_is_refused_naming_bag_topic_and_time(tmp_path):
    bag = _teleop_bag(tmp_path, 'holed', 'success', gap_after=2)
    with pytest.raises(BagError) as e:
        bag_to_trajectories(bag, 'OpenDoor')
    msg = str(e.value)
    assert msg.startswith(f'{bag}: robot/action: gap of 2.20 s in a one-episode recording '
                          'at t=0.530 s'), msg
    assert '\n' not in msg


def _lossy_bag(out):
    """A one-episode recording whose 7 actions lose 3, one for each reason at the edges: the
    first comes before any image, the second's image before any state, the last has no image
    after it (the recording stopped). 5 Hz control: images every 200 ms from 200 ms."""
    from ptr_core.data.bag_writer import EpisodeBag
    bag = EpisodeBag(out, 'lossy', {'/camera/image_raw': IMG, '/robot/state': F32A,
                                    '/robot/action': F32A})
    for j in range(6):
        t = (200 + 200 * j) * MS
        bag.write('/camera/image_raw', t, TS.serialize_cdr(_image(j, t), IMG))
        bag.write('/robot/state', t + 190 * MS, TS.serialize_cdr(_array(_vec(j)), F32A))
    for t in (130, 230, 430, 630, 830, 1030, 1230):
        bag.write('/robot/action', t * MS, TS.serialize_cdr(_array(_vec(0.1)), F32A))
    return bag.finish({'ptr.task': 'OpenDoor', 'ptr.outcome': 'failure'})


def test_every_dropped_action_is_counted_by_reason(tmp_path):
    from ptr_core.data import rosbag
    drops = rosbag.Drops()
    (ep,) = bag_to_trajectories(_lossy_bag(tmp_path), 'OpenDoor', drops=drops)
    assert drops.actions == 7 and len(ep.actions) == 4
    assert drops.reasons == {rosbag.NO_IMAGE: 1, rosbag.NO_STATE: 1, rosbag.NO_NEXT_IMAGE: 1}
    # several episodes: the steps after a success and whole episodes under min_length
    bag = _write(tmp_path / 'bag', StoragePlugin.MCAP)
    drops = rosbag.Drops()
    assert [len(t) for t in bag_to_trajectories(bag, 'OpenDoor', drops=drops)] == [6, 3]
    assert drops.actions == 11 and drops.reasons == {rosbag.AFTER_SUCCESS: 2}
    drops = rosbag.Drops()
    assert bag_to_trajectories(bag, 'OpenDoor', BagConfig(min_length=7), drops) == []
    assert drops.actions == 11 and drops.reasons == {rosbag.SHORT_EPISODE: 11}


def test_the_converter_reports_each_bags_drops(tmp_path, capsys):
    from ptr_core.data.data_cli import main as data_main
    (tmp_path / 'bags').mkdir()
    lossy = _lossy_bag(tmp_path / 'bags')
    whole = _write(tmp_path / 'bags' / 'two_episodes', StoragePlugin.MCAP)
    assert data_main(['from-bags', str(tmp_path / 'bags'), '--task', 'OpenDoor', '--out',
                      str(tmp_path / 'ds')]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f'{lossy}: 7 actions -> 4 transitions in 1 episode; dropped 3: 1 no image at or before '
        'it, 1 no image after it (the recording ended), 1 no robot state yet',
        f"{whole}: 11 actions -> 9 transitions in 2 episodes; dropped 2: 2 after the episode's "
        'success',
        f'wrote 3 episodes of OpenDoor to {tmp_path / "ds"}']

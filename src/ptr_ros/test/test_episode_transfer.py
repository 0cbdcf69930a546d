"""One episode format, two ways to the trainer: the shard a robot writes is the shard the trainer
samples from, on a shared disk as it is and without one as signed packets stored once."""
import json
import tarfile

import numpy as np
import pytest

from ptr_core import packets
from ptr_core.data import DatasetError, Trajectory
from ptr_core.data.dataset import SHARD_FILES, TaskDataset, pack_shard
from ptr_core.data.online_buffer import OnlineBuffer
from ptr_core.task_registry import TaskRegistry
from ptr_ros.contracts import EpisodeAnnouncement
from ptr_ros.episode_transfer import EpisodeReceiver, EpisodeWriter

KEY = b'graph-key'


def episode(length=5, seed=0, task='OpenDoor', size=8):
    rng = np.random.default_rng(seed)
    rewards = np.zeros(length, np.float32)
    rewards[-1] = 1.0
    return Trajectory.from_arrays(rng.integers(0, 255, (length + 1, size, size, 3), np.uint8),
                                  rng.random((length + 1, 7)), rng.uniform(-1, 1, (length, 7)),
                                  rewards, rewards > 0, task=task, success=True,
                                  meta={'episode': 3, 'run': 'r1'})


def same(a: Trajectory, b: Trajectory) -> bool:
    arrays = ('images', 'states', 'actions', 'rewards', 'terminals')
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in arrays) and \
        (a.task, a.success, a.meta) == (b.task, b.success, b.meta)


def test_file_transfer_is_the_shard_itself(tmp_path):
    tr = episode()
    ann, sent = EpisodeWriter(tmp_path / 'buf', 'r1').write(tr, 1)
    assert sent == []  # nothing travels: the folder is shared
    assert (ann.name, ann.length, ann.ret, ann.task, ann.run) == (
        'OpenDoor/shard-r1000000', 5, 1.0, 'OpenDoor', 'r1')
    shard = tmp_path / 'buf' / 'OpenDoor' / 'shard-r1000000'
    assert ann.path == str(shard.resolve()) and sorted(p.name for p in shard.iterdir()) == \
        sorted(SHARD_FILES)
    import hashlib
    assert ann.sha256 == hashlib.sha256(pack_shard(shard)).hexdigest()
    assert json.loads(ann.to_json())['return'] == 1.0
    assert EpisodeReceiver(tmp_path / 'buf', KEY).check(ann) is None
    assert 'not a shard in online_dir' in EpisodeReceiver(tmp_path / 'other', KEY).check(ann)
    pigeon = EpisodeAnnouncement(**{**ann.__dict__, 'transfer': 'pigeon'})
    assert 'transfer' in EpisodeReceiver(tmp_path / 'buf', KEY).check(pigeon)
    # the trainer's buffer loads it from where it was written: one copy
    buf = OnlineBuffer(tmp_path / 'buf', TaskRegistry.create(['OpenDoor']))
    assert buf.num_episodes == 1 and same(TaskDataset(shard.parent).trajectory(0), tr)


def test_inline_packets_rebuild_the_same_shard_once(tmp_path):
    tr = episode(20, seed=1)
    writer = EpisodeWriter(tmp_path / 'robot', 'r1', 'inline', KEY, chunk_size=1000)
    ann, sent = writer.write(tr, 7)
    assert len(sent) == -(-ann.size // 1000) > 1
    rx = EpisodeReceiver(tmp_path / 'trainer', KEY)
    order = np.random.default_rng(0).permutation(len(sent))
    stored = [rx.on_packet(sent[i]) for i in order]
    assert stored[:-1] == [None] * (len(sent) - 1)
    assert stored[-1] == (tmp_path / 'trainer' / ann.name).resolve()
    assert pack_shard(stored[-1]) == pack_shard(ann.path)  # byte-identical files
    assert same(TaskDataset(stored[-1].parent).trajectory(0), tr)
    # the transient-local backlog delivers it again after a restart: stored once
    again = EpisodeReceiver(tmp_path / 'trainer', KEY)
    assert [again.on_packet(p) for p in sent][-1] is None
    assert len(list((tmp_path / 'trainer' / 'OpenDoor').iterdir())) == 1


def test_inline_from_another_graph_or_damaged_is_refused(tmp_path):
    _, sent = EpisodeWriter(tmp_path / 'robot', 'r1', 'inline', KEY).write(episode(), 1)
    rx = EpisodeReceiver(tmp_path / 'trainer', KEY)
    with pytest.raises(packets.PacketError, match='HMAC mismatch'):
        EpisodeReceiver(tmp_path / 'trainer', b'other-key').on_packet(sent[0])
    weights = packets.encode(b'w', KEY, 'weights', 1, 'fp')[0]
    with pytest.raises(packets.PacketError, match="kind: expected 'episode', got 'weights'"):
        rx.on_packet(weights)
    assert not (tmp_path / 'trainer' / 'OpenDoor').exists()


def _pack(files: dict[str, bytes]) -> bytes:
    import io
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize('label,files,message', [
    ('../../etc/shard-x000000', None, 'shard name: expected <task>/shard-'),
    ('OpenDoor/shard-x000000', {'index.json': b'{}', '../evil': b'x'}, 'expected the files'),
    ('OpenDoor/shard-x000000', 'truncate', 'arrays disagree with index.json'),
])
def test_a_signed_but_bad_shard_is_refused_and_leaves_nothing(tmp_path, label, files, message):
    """Even with the key, a packet cannot write outside online_dir or store a broken shard."""
    src = EpisodeWriter(tmp_path / 'robot', 'x', 'file').write(episode(), 1)[0].path
    if files is None:
        payload = pack_shard(src)
    elif files == 'truncate':
        from pathlib import Path
        real = {n: (Path(src) / n).read_bytes() for n in SHARD_FILES}
        import io
        short = io.BytesIO()
        np.save(short, np.load(Path(src) / 'actions.npy')[:-1])
        payload = _pack(real | {'actions.npy': short.getvalue()})
    else:
        payload = _pack(files)
    [packet] = packets.encode(payload, KEY, 'episode', 1, label)
    with pytest.raises(DatasetError, match=message.replace('.', r'\.')):
        EpisodeReceiver(tmp_path / 'trainer', KEY).on_packet(packet)
    left = [p for p in tmp_path.rglob('*') if 'robot' not in p.parts]
    assert all(p.is_dir() for p in left)  # no file stored, no temporary debris

"""Episode files, announcements and chunked transfer."""
import json

import numpy as np
import pytest

from ptr_core.data import Trajectory
from ptr_trainer.episode_io import (
    Announcement,
    ChunkAssembler,
    EpisodeError,
    chunk_payload,
    decode_episode,
    encode_episode,
    read_episode,
    verify_bytes,
    write_episode,
)


def episode(length=5, seed=0, task='OpenDoor'):
    rng = np.random.default_rng(seed)
    rewards = np.zeros(length, np.float32)
    rewards[-1] = 1.0
    return Trajectory.from_arrays(rng.integers(0, 255, (length + 1, 8, 8, 3), dtype=np.uint8),
                                  rng.random((length + 1, 7)), rng.uniform(-1, 1, (length, 7)),
                                  rewards, rewards > 0, task=task, success=True,
                                  meta={'episode': 3})


def test_round_trip_bytes():
    tr = episode()
    back = decode_episode(encode_episode(tr))
    for k in ('images', 'states', 'actions', 'rewards', 'terminals'):
        np.testing.assert_array_equal(getattr(back, k), getattr(tr, k))
    assert back.task == 'OpenDoor' and back.success and back.meta == {'episode': 3}


def test_write_then_announce_then_read(tmp_path):
    tr = episode()
    ann, data = write_episode(tmp_path / 'ep', tr, 'ep_000001')
    assert ann.length == 5 and ann.ret == 1.0 and ann.task == 'OpenDoor'
    parsed = Announcement.from_json(ann.to_json())
    assert parsed == ann
    assert json.loads(ann.to_json())['return'] == 1.0
    back = read_episode(parsed)
    np.testing.assert_array_equal(back.images, tr.images)
    assert sorted(p.name for p in (tmp_path / 'ep').iterdir()) == ['ep_000001.npz']


def test_tampered_file_is_refused(tmp_path):
    ann, data = write_episode(tmp_path, episode(), 'e')
    raw = bytearray(data)
    raw[-10] ^= 0xFF
    (tmp_path / 'e.npz').write_bytes(bytes(raw))
    with pytest.raises(EpisodeError, match='sha256'):
        read_episode(ann)
    with pytest.raises(EpisodeError, match='shared disk'):
        read_episode(Announcement(str(tmp_path / 'nope.npz'), ann.sha256, 5, 'OpenDoor', 1.0))


def test_bad_announcements():
    with pytest.raises(EpisodeError, match='unreadable'):
        Announcement.from_json('{"path": 1}')
    good = json.loads(Announcement('p', 'a' * 64, 3, 'T', 0.0).to_json())
    with pytest.raises(EpisodeError, match='transfer'):
        Announcement.from_json(json.dumps(good | {'transfer': 'pigeon'}))


def test_chunks_reassemble_in_any_order():
    data = encode_episode(episode(20))
    chunks = chunk_payload(data, 1000)
    assert len(chunks) == -(-len(data) // 1000)
    asm = ChunkAssembler()
    order = np.random.default_rng(0).permutation(len(chunks))
    results = [asm.add(chunks[i]) for i in order]
    assert all(r is None for r in results[:-1])
    digest, joined = results[-1]
    assert joined == data
    ann = Announcement('', digest, 20, 'OpenDoor', 1.0, 'inline')
    assert len(verify_bytes(ann, joined, 'inline')) == 20


def test_corrupt_chunk_detected():
    chunks = chunk_payload(b'x' * 50, 20)
    bad = chunks[1][:-1] + b'y'
    asm = ChunkAssembler()
    asm.add(chunks[0])
    asm.add(bad)
    with pytest.raises(EpisodeError, match='sha256'):
        asm.add(chunks[2])
    with pytest.raises(EpisodeError, match='header'):
        asm.add(b'garbage')


def test_ingest_ledger_survives_restart(tmp_path):
    from ptr_trainer.episode_io import IngestLedger
    led = IngestLedger(tmp_path / 'buf' / 'ingested.json')
    assert 'a' * 64 not in led
    led.add('a' * 64)
    led.add('a' * 64)
    led.add('b' * 64)
    again = IngestLedger(tmp_path / 'buf' / 'ingested.json')
    assert again.digests == ['a' * 64, 'b' * 64] and 'b' * 64 in again
    (tmp_path / 'bad.json').write_text('{')
    with pytest.raises(EpisodeError, match='ledger'):
        IngestLedger(tmp_path / 'bad.json')

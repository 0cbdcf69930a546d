"""Weight packets: signed, fingerprinted, chunked; every tampering is refused."""
import hashlib
import hmac
import json
import struct
import warnings

import pytest

from ptr_core import weights as W

KEY = b'shared-secret'


def _payload(n=10_000):
    return bytes((i * 7 + 3) % 256 for i in range(n))


def test_round_trip_single_packet_and_layout_by_hand():
    payload = _payload()
    [packet] = W.encode(payload, 4, 'fp-abc', KEY)
    # layout checked independently of decode()
    magic, fmt, hlen = struct.unpack('>4sBI', packet[:9])
    assert (magic, fmt) == (b'PTRP', 1)
    header = json.loads(packet[9:9 + hlen])
    assert header == {'kind': 'weights', 'serial': 4, 'label': 'fp-abc', 'size': len(payload),
                      'chunk': 0, 'chunks': 1, 'sha256': hashlib.sha256(payload).hexdigest()}
    assert packet[9 + hlen:-32] == payload
    assert packet[-32:] == hmac.new(KEY, packet[:-32], hashlib.sha256).digest()
    out = W.decode(packet, KEY, expected_fingerprint='fp-abc')
    assert (out.serial, out.label, out.payload) == (4, 'fp-abc', payload)


def test_wrong_key_and_flipped_bits_are_refused():
    [packet] = W.encode(_payload(), 1, 'fp', KEY)
    with pytest.raises(W.WeightsError, match='HMAC mismatch'):
        W.decode(packet, b'other-key')
    for pos in (2, 20, len(packet) // 2, len(packet) - 1):
        bad = bytearray(packet)
        bad[pos] ^= 0x10
        with pytest.raises(W.WeightsError):
            W.decode(bytes(bad), KEY)


def test_fingerprint_mismatch_names_both():
    [packet] = W.encode(b'xyz', 2, 'fp-new', KEY)
    with pytest.raises(W.WeightsError, match='expected fp-old, got fp-new'):
        W.decode(packet, KEY, expected_fingerprint='fp-old')


def test_resigned_packet_with_swapped_payload_fails_sha():
    # an attacker with the key is out of scope, but a buggy sender that re-signs a header with a
    # different payload must still be caught by the sha256
    [packet] = W.encode(b'aaaa', 1, 'fp', KEY)
    hlen = struct.unpack('>I', packet[5:9])[0]
    body = packet[:9 + hlen] + b'bbbb'
    forged = body + hmac.new(KEY, body, hashlib.sha256).digest()
    with pytest.raises(W.WeightsError, match='sha256 mismatch'):
        W.decode(forged, KEY)


def test_chunks_reassemble_in_any_order_and_newer_version_wins():
    payload = _payload(2500)
    packets = W.encode(payload, 7, 'fp', KEY, chunk_size=1000)
    assert len(packets) == 3
    asm = W.ChunkAssembler()
    parts = [W.decode(p, KEY) for p in packets]
    assert asm.add(parts[2]) is None
    assert asm.add(parts[0]) is None
    whole = asm.add(parts[1])
    assert whole is not None and whole.payload == payload and whole.serial == 7
    # a partial older version is dropped when a newer one starts
    old = [W.decode(p, KEY) for p in W.encode(_payload(1500), 8, 'fp', KEY, chunk_size=1000)]
    new = [W.decode(p, KEY) for p in W.encode(payload, 9, 'fp', KEY, chunk_size=1000)]
    assert asm.add(old[0]) is None
    assert asm.add(new[0]) is None
    assert asm.add(old[1]) is None  # stale: ignored
    assert asm.add(new[1]) is None
    assert asm.add(new[2]).payload == payload


def test_truncated_packet_and_bad_magic():
    with pytest.raises(W.WeightsError, match='expected >= 41 bytes, got 5'):
        W.decode(b'PTRP\x01', KEY)
    [packet] = W.encode(b'x', 1, 'fp', KEY)
    with pytest.raises(W.WeightsError, match='magic'):
        W.decode(b'XXXX' + packet[4:], KEY)


def test_resolve_key_prefers_parameter_then_env(monkeypatch):
    monkeypatch.setenv(W.KEY_ENV, 'from-env')
    assert W.resolve_key('from-param') == b'from-param'
    assert W.resolve_key('') == b'from-env'
    monkeypatch.delenv(W.KEY_ENV)
    with pytest.warns(UserWarning, match='development key'):
        assert W.resolve_key(None) == W.DEV_KEY


def test_a_node_hears_of_the_development_key_in_its_log_not_as_a_python_warning(monkeypatch):
    monkeypatch.delenv(W.KEY_ENV, raising=False)
    monkeypatch.delenv('PTR_WEIGHTS_KEY_FILE', raising=False)
    said = []
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a UserWarning would fail the test
        assert W.resolve_key('', warn=said.append) == W.DEV_KEY
    assert said == ['no weights key configured (PTR_WEIGHTS_KEY); using the development key']


def test_an_episode_packet_is_not_weights():
    """One protocol carries weights and episodes: the kind is signed, so bytes of one can never
    be loaded as the other."""
    from ptr_core import packets
    [packet] = packets.encode(b'shard bytes', KEY, 'episode', 1, 'OpenDoor/shard-a000000')
    with pytest.raises(W.WeightsError, match="kind: expected 'weights', got 'episode'"):
        W.decode(packet, KEY)


def test_episode_assembler_keeps_several_payloads_and_bounds_memory():
    from ptr_core import packets
    a = [packets.decode(p, KEY) for p in packets.encode(_payload(2500), KEY, 'episode', 1, 'a',
                                                       chunk_size=1000)]
    b = [packets.decode(p, KEY) for p in packets.encode(_payload(1800), KEY, 'episode', 1, 'b',
                                                       chunk_size=1000)]
    asm = packets.Assembler(max_pending=2)
    # interleaved, and the same serial twice (two runs of the episode writer): both complete
    assert asm.add(a[0]) is None and asm.add(b[1]) is None and asm.add(a[2]) is None
    assert asm.add(b[0]).payload == _payload(1800)
    assert asm.add(a[1]).payload == _payload(2500)
    c = [packets.decode(p, KEY) for p in packets.encode(b'c' * 30, KEY, 'episode', 3, 'c',
                                                       chunk_size=10)]
    asm.add(a[0])
    asm.add(b[0])
    asm.add(c[0])  # a third partial payload evicts the oldest (a)
    assert asm.add(a[1]) is None and asm.add(a[2]) is None  # a restarts from scratch
    assert asm.add(c[1]) is None and asm.add(c[2]).payload == b'c' * 30


def test_key_from_an_owner_only_file(tmp_path, monkeypatch):
    """The key may come from a file; one that others can read is refused, not used."""
    import os

    from ptr_core import packets
    monkeypatch.delenv(W.KEY_ENV, raising=False)
    key = tmp_path / 'weights.key'
    key.write_text('s3cret\n')
    os.chmod(key, 0o600)
    monkeypatch.setenv(packets.KEY_FILE_ENV, str(key))
    assert W.resolve_key('') == b's3cret'
    assert W.resolve_key('param-wins') == b'param-wins'
    os.chmod(key, 0o644)
    with pytest.raises(packets.PacketError, match=r'mode 0644: expected no group or other '
                                                  r'access \(chmod 600\)'):
        W.resolve_key('')
    key.write_text('')
    os.chmod(key, 0o600)
    with pytest.raises(packets.PacketError, match='the file is empty'):
        W.resolve_key('')
    monkeypatch.setenv(packets.KEY_FILE_ENV, str(tmp_path / 'none'))
    with pytest.raises(packets.PacketError, match='none: unreadable'):
        W.resolve_key('')

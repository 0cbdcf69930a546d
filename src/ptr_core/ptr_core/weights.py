"""Signed weight packets for `ptr/policy_weights` (std_msgs/UInt8MultiArray).

The trainer may run on another machine, so a packet carries everything the policy needs to decide
whether to run it: the weights version, the architecture fingerprint (a policy never loads weights
of another network), the payload's sha256 and an HMAC-SHA256 over header and payload with a key
shared by trainer and policy (parameter `weights_key` or env PTR_WEIGHTS_KEY), so weights from a
stray trainer on the same DDS domain are refused.

Wire format of one packet:
    b'PTRW' | u8 format | u32 header length (big endian) | header JSON | payload | 32-byte HMAC
The header JSON holds version, fingerprint, sha256 (of the whole payload), size, chunk, chunks.
Large payloads may be split into chunks, each a signed packet of its own; `ChunkAssembler` joins
them and checks the full payload's sha256.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import struct
import warnings

MAGIC = b'PTRW'
FORMAT = 1
KEY_ENV = 'PTR_WEIGHTS_KEY'
# Used only when no key is configured: it stops accidental mixing of graphs, not an attacker.
DEV_KEY = b'ptr-ros development key (set PTR_WEIGHTS_KEY)'
_TAG = 32
_PREFIX = struct.Struct('>4sBI')


class WeightsError(ValueError):
    """A packet that must not be loaded; the message says why in one line."""


@dataclasses.dataclass(frozen=True)
class WeightsPacket:
    """One decoded (verified) packet."""

    version: int
    fingerprint: str
    sha256: str
    size: int
    chunk: int
    chunks: int
    payload: bytes


def resolve_key(param: str | bytes | None = None) -> bytes:
    """The shared HMAC key: the node parameter, else $PTR_WEIGHTS_KEY, else the development key."""
    if param:
        return param.encode() if isinstance(param, str) else bytes(param)
    env = os.environ.get(KEY_ENV, '')
    if env:
        return env.encode()
    warnings.warn(f'no weights key configured ({KEY_ENV}); using the development key',
                  stacklevel=2)
    return DEV_KEY


def encode(payload: bytes, version: int, fingerprint: str, key: bytes,
           chunk_size: int = 0) -> list[bytes]:
    """Sign `payload` into one packet, or several of at most `chunk_size` payload bytes each."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise WeightsError(f'weights payload: expected bytes, got {type(payload).__name__}')
    payload = bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    step = chunk_size if chunk_size > 0 else max(len(payload), 1)
    pieces = [payload[i:i + step] for i in range(0, len(payload), step)] or [b'']
    packets = []
    for index, piece in enumerate(pieces):
        header = json.dumps({'version': int(version), 'fingerprint': str(fingerprint),
                             'sha256': digest, 'size': len(payload), 'chunk': index,
                             'chunks': len(pieces)}, sort_keys=True).encode()
        body = _PREFIX.pack(MAGIC, FORMAT, len(header)) + header + piece
        packets.append(body + hmac.new(key, body, hashlib.sha256).digest())
    return packets


def decode(packet: bytes, key: bytes, expected_fingerprint: str | None = None) -> WeightsPacket:
    """Verify and parse one packet; raises WeightsError (bad HMAC, wrong fingerprint, damage)."""
    packet = bytes(packet)
    if len(packet) < _PREFIX.size + _TAG:
        raise WeightsError(f'weights packet: expected >= {_PREFIX.size + _TAG} bytes, '
                           f'got {len(packet)}')
    magic, fmt, hlen = _PREFIX.unpack_from(packet)
    if magic != MAGIC:
        raise WeightsError(f'weights packet: expected magic {MAGIC!r}, got {magic!r}')
    if fmt != FORMAT:
        raise WeightsError(f'weights packet: expected format {FORMAT}, got {fmt}')
    body, tag = packet[:-_TAG], packet[-_TAG:]
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), tag):
        raise WeightsError('weights packet: HMAC mismatch (wrong weights_key or damaged packet)')
    start = _PREFIX.size
    if start + hlen > len(body):
        raise WeightsError(f'weights packet: header length {hlen} exceeds the packet')
    try:
        h = json.loads(body[start:start + hlen])
        fields = (int(h['version']), str(h['fingerprint']), str(h['sha256']), int(h['size']),
                  int(h['chunk']), int(h['chunks']))
    except (ValueError, KeyError, TypeError) as e:
        raise WeightsError(f'weights packet: unreadable header ({e})') from None
    version, fingerprint, digest, size, chunk, chunks = fields
    if expected_fingerprint is not None and fingerprint != expected_fingerprint:
        raise WeightsError(f'weights v{version}: architecture fingerprint mismatch, expected '
                           f'{expected_fingerprint}, got {fingerprint}')
    payload = body[start + hlen:]
    if chunks == 1 and hashlib.sha256(payload).hexdigest() != digest:
        raise WeightsError(f'weights v{version}: payload sha256 mismatch')
    return WeightsPacket(version, fingerprint, digest, size, chunk, chunks, payload)


class ChunkAssembler:
    """Collects chunks per version; returns the whole verified packet when the last one arrives.

    Only the newest version is kept: a chunk of an older version than the one being assembled is
    dropped, a newer version discards the partial older one (the trainer has moved on).
    """

    def __init__(self) -> None:
        self._version: int | None = None
        self._parts: dict[int, bytes] = {}
        self._first: WeightsPacket | None = None

    def add(self, part: WeightsPacket) -> WeightsPacket | None:
        if part.chunks == 1:
            return part
        if self._version is None or part.version > self._version:
            self._version, self._parts, self._first = part.version, {}, part
        elif part.version < self._version:
            return None
        first = self._first
        assert first is not None
        if (part.sha256, part.chunks, part.size) != (first.sha256, first.chunks, first.size):
            raise WeightsError(f'weights v{part.version}: chunk {part.chunk} belongs to another '
                               f'payload (sha256 {part.sha256[:12]} vs {first.sha256[:12]})')
        self._parts[part.chunk] = part.payload
        if len(self._parts) < part.chunks:
            return None
        payload = b''.join(self._parts[i] for i in range(part.chunks))
        self._version, self._parts, self._first = None, {}, None
        if len(payload) != part.size or hashlib.sha256(payload).hexdigest() != part.sha256:
            raise WeightsError(f'weights v{part.version}: assembled payload sha256 mismatch')
        return dataclasses.replace(part, chunk=0, chunks=1, payload=payload)

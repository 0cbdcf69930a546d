"""Signed, chunked packets: the one protocol for bytes that cross machines over DDS.

Policy weights (trainer -> policy) and, without a shared disk, episodes (robot -> trainer) travel
as std_msgs/UInt8MultiArray packets. Each packet says what it carries (`kind`, a `serial` such as
the weights version, a `label` such as the architecture fingerprint or the episode's shard name),
the whole payload's sha256 and size, and its place among the chunks, and is signed with an
HMAC-SHA256 under a key the graph shares (node parameter `weights_key` or env PTR_WEIGHTS_KEY), so
bytes from a stray graph on the same DDS domain are refused before anything is loaded.

Wire format of one packet:
    b'PTRP' | u8 format | u32 header length (big endian) | header JSON | payload piece | HMAC(32)
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import struct
import warnings
from pathlib import Path
from typing import Any, Callable

MAGIC = b'PTRP'
FORMAT = 1
KEY_ENV = 'PTR_WEIGHTS_KEY'
KEY_FILE_ENV = 'PTR_WEIGHTS_KEY_FILE'  # a file holding the key, readable by its owner only
# Used only when no key is configured: it stops accidental mixing of graphs, not an attacker.
DEV_KEY = b'ptr-ros development key (set PTR_WEIGHTS_KEY)'
TAG_BYTES = 32
PREFIX = struct.Struct('>4sBI')


class PacketError(ValueError):
    """A packet that must not be used; the message says why in one line."""


@dataclasses.dataclass(frozen=True)
class Packet:
    """One verified packet (or, from an Assembler, the whole payload with chunks == 1)."""

    kind: str
    serial: int
    label: str
    sha256: str
    size: int
    chunk: int
    chunks: int
    payload: bytes


def read_key_file(path: str | os.PathLike) -> bytes:
    """A key from a file only its owner can read (like an ssh key): a key others can read is no
    secret, so that is refused in one line rather than used."""
    try:
        mode = os.stat(path).st_mode & 0o777
        key = Path(path).read_bytes().strip()
    except OSError as e:
        raise PacketError(f'{KEY_FILE_ENV}={path}: unreadable ({e.strerror})') from None
    if mode & 0o077:
        raise PacketError(f'{KEY_FILE_ENV}={path}: mode {mode:04o}: expected no group or other '
                          f'access (chmod 600)')
    if not key:
        raise PacketError(f'{KEY_FILE_ENV}={path}: expected a key, the file is empty')
    return key


def resolve_key(param: str | bytes | None = None,
                warn: Callable[[str], Any] | None = None) -> bytes:
    """The shared HMAC key: the node parameter, else $PTR_WEIGHTS_KEY, else the file named by
    $PTR_WEIGHTS_KEY_FILE (owner-only), else the development key, said once: through `warn`
    (a node's logger: one log line) or else as a UserWarning."""
    if param:
        return param.encode() if isinstance(param, str) else bytes(param)
    env = os.environ.get(KEY_ENV, '')
    if env:
        return env.encode()
    if os.environ.get(KEY_FILE_ENV, ''):
        return read_key_file(os.environ[KEY_FILE_ENV])
    text = f'no weights key configured ({KEY_ENV}); using the development key'
    if warn is not None:
        warn(text)
    else:
        warnings.warn(text, stacklevel=2)
    return DEV_KEY


def encode(payload: bytes, key: bytes, kind: str, serial: int, label: str,
           chunk_size: int = 0) -> list[bytes]:
    """Sign `payload` into one packet, or several of at most `chunk_size` payload bytes each."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise PacketError(f'{kind} payload: expected bytes, got {type(payload).__name__}')
    payload = bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    step = chunk_size if chunk_size > 0 else max(len(payload), 1)
    pieces = [payload[i:i + step] for i in range(0, len(payload), step)] or [b'']
    packets = []
    for index, piece in enumerate(pieces):
        header = json.dumps({'kind': str(kind), 'serial': int(serial), 'label': str(label),
                             'sha256': digest, 'size': len(payload), 'chunk': index,
                             'chunks': len(pieces)}, sort_keys=True).encode()
        body = PREFIX.pack(MAGIC, FORMAT, len(header)) + header + piece
        packets.append(body + hmac.new(key, body, hashlib.sha256).digest())
    return packets


def decode(packet: bytes, key: bytes, kind: str | None = None) -> Packet:
    """Verify and parse one packet; raises PacketError (bad HMAC, wrong kind, damage)."""
    packet = bytes(packet)
    what = f'{kind or "ptr"} packet'
    if len(packet) < PREFIX.size + TAG_BYTES:
        raise PacketError(f'{what}: expected >= {PREFIX.size + TAG_BYTES} bytes, '
                          f'got {len(packet)}')
    magic, fmt, hlen = PREFIX.unpack_from(packet)
    if magic != MAGIC:
        raise PacketError(f'{what}: expected magic {MAGIC!r}, got {magic!r}')
    if fmt != FORMAT:
        raise PacketError(f'{what}: expected format {FORMAT}, got {fmt}')
    body, tag = packet[:-TAG_BYTES], packet[-TAG_BYTES:]
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), tag):
        raise PacketError(f'{what}: HMAC mismatch (wrong key: weights_key / {KEY_ENV}, '
                          f'or a damaged packet)')
    start = PREFIX.size
    if start + hlen > len(body):
        raise PacketError(f'{what}: header length {hlen} exceeds the packet')
    try:
        h = json.loads(body[start:start + hlen])
        got = Packet(str(h['kind']), int(h['serial']), str(h['label']), str(h['sha256']),
                     int(h['size']), int(h['chunk']), int(h['chunks']), body[start + hlen:])
    except (ValueError, KeyError, TypeError) as e:
        raise PacketError(f'{what}: unreadable header ({e})') from None
    if kind is not None and got.kind != kind:
        raise PacketError(f'{what}: kind: expected {kind!r}, got {got.kind!r}')
    if not 0 <= got.chunk < got.chunks:
        raise PacketError(f'{what}: chunk {got.chunk} outside [0, {got.chunks})')
    if got.chunks == 1 and hashlib.sha256(got.payload).hexdigest() != got.sha256:
        raise PacketError(f'{got.kind} {got.serial}: payload sha256 mismatch')
    return got


class Assembler:
    """Joins the chunks of each payload (by sha256) and checks the whole payload's sha256.

    At most `max_pending` partial payloads are kept (the oldest is dropped), so lost chunks cannot
    grow memory. With `newest_only` (weights: the trainer has moved on), a chunk of a lower serial
    than the newest seen is dropped and a higher serial discards the partial older ones.
    """

    def __init__(self, max_pending: int = 8, newest_only: bool = False) -> None:
        self.max_pending = max(1, int(max_pending))
        self.newest_only = newest_only
        self._newest: int | None = None
        self._parts: dict[str, dict[int, bytes]] = {}
        self._first: dict[str, Packet] = {}

    def add(self, part: Packet) -> Packet | None:
        if part.chunks == 1:
            return part
        if self.newest_only:
            if self._newest is not None and part.serial < self._newest:
                return None
            if self._newest is None or part.serial > self._newest:
                self._newest, self._parts, self._first = part.serial, {}, {}
        first = self._first.get(part.sha256)
        if first is None:
            if len(self._parts) >= self.max_pending:
                oldest = next(iter(self._parts))
                del self._parts[oldest], self._first[oldest]
            self._parts[part.sha256], self._first[part.sha256] = {}, part
        elif (part.chunks, part.size, part.serial) != (first.chunks, first.size, first.serial):
            raise PacketError(f'{part.kind} {part.serial}: chunk {part.chunk} disagrees with '
                              f'chunk {first.chunk} of the same payload')
        parts = self._parts[part.sha256]
        parts[part.chunk] = part.payload
        if len(parts) < part.chunks:
            return None
        del self._parts[part.sha256], self._first[part.sha256]
        if self.newest_only:
            self._newest = None
        payload = b''.join(parts[i] for i in range(part.chunks))
        if len(payload) != part.size or hashlib.sha256(payload).hexdigest() != part.sha256:
            raise PacketError(f'{part.kind} {part.serial}: assembled payload sha256 mismatch')
        return dataclasses.replace(part, chunk=0, chunks=1, payload=payload)

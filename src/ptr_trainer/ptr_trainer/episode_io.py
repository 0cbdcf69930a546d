"""Episodes between the episode manager and the trainer: file format, announcement, chunks.

An episode is one `.npz` (images, states, actions, rewards, terminals + a JSON meta array), written
atomically BEFORE it is announced on ptr/episode (std_msgs/String JSON {path, sha256, length, task,
return, transfer}), so a trainer that was down finds every announced episode on disk.

Transfer modes (the trainer may run on another machine):
  'file'    (shared disk configured): the trainer reads `path` and checks sha256.
  'inline'  (no shared disk): the manager also publishes the file's bytes on ptr/episode_data
            (std_msgs/UInt8MultiArray, reliable + transient local, the last DATA_DEPTH chunks
            kept for a late trainer) in chunks of at most `chunk_size` bytes; each chunk is
            `header JSON + b"\\n" + bytes` with header {sha256, index, count}. The trainer joins
            the chunks, checks sha256, and stores the episode itself.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ptr_core.atomic import write_bytes
from ptr_core.data import Trajectory

FORMAT = 'ptr-episode/1'
ANNOUNCE_DEPTH = 100  # announcements a late trainer receives (transient local)
DATA_DEPTH = 64  # inline chunks a late trainer receives (transient local)
TRANSFERS = ('file', 'inline')
ARRAYS = ('images', 'states', 'actions', 'rewards', 'terminals')


class EpisodeError(ValueError):
    """An episode file, announcement or chunk that must not be used (one-line reason)."""


def encode_episode(traj: Trajectory) -> bytes:
    """Trajectory -> npz bytes (uncompressed: writing fast matters more than size here)."""
    traj.validate('episode')
    meta = {'format': FORMAT, 'task': traj.task, 'success': bool(traj.success),
            'meta': traj.meta}
    buf = io.BytesIO()
    np.savez(buf, **{k: getattr(traj, k) for k in ARRAYS},
             meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    return buf.getvalue()


def decode_episode(data: bytes, where: str = 'episode') -> Trajectory:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in ARRAYS}
            meta = json.loads(z['meta'].tobytes())
    except (OSError, ValueError, KeyError) as e:
        raise EpisodeError(f'{where}: not a readable episode ({e})') from None
    if meta.get('format') != FORMAT:
        raise EpisodeError(f"{where}: format: expected {FORMAT!r}, got {meta.get('format')!r}")
    traj = Trajectory(**arrays, task=str(meta['task']), success=bool(meta['success']),
                      meta=dict(meta.get('meta') or {}))
    try:
        return traj.validate(where)
    except ValueError as e:
        raise EpisodeError(str(e)) from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Announcement:
    """The ptr/episode message."""

    path: str
    sha256: str
    length: int
    task: str
    ret: float  # undiscounted sum of the classifier rewards
    transfer: str = 'file'
    success: bool = False
    size: int = 0

    def to_json(self) -> str:
        return json.dumps({'path': self.path, 'sha256': self.sha256, 'length': self.length,
                           'task': self.task, 'return': self.ret, 'transfer': self.transfer,
                           'success': self.success, 'size': self.size}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> 'Announcement':
        try:
            d = json.loads(text)
            ann = cls(path=str(d['path']), sha256=str(d['sha256']), length=int(d['length']),
                      task=str(d['task']), ret=float(d['return']),
                      transfer=str(d.get('transfer', 'file')), success=bool(d.get('success')),
                      size=int(d.get('size', 0)))
        except (ValueError, KeyError, TypeError) as e:
            raise EpisodeError(f'ptr/episode: unreadable announcement ({e}): {text[:80]!r}') \
                from None
        if ann.transfer not in TRANSFERS:
            raise EpisodeError(f'ptr/episode: transfer: expected one of {TRANSFERS}, '
                               f'got {ann.transfer!r}')
        if len(ann.sha256) != 64:
            raise EpisodeError(f'ptr/episode: sha256: expected 64 hex digits, '
                               f'got {ann.sha256!r}')
        return ann


def write_episode(directory: str | Path, traj: Trajectory, name: str,
                  transfer: str = 'file') -> tuple[Announcement, bytes]:
    """Write `directory/name.npz` atomically; returns its announcement and its bytes."""
    data = encode_episode(traj)
    path = Path(directory) / f'{name}.npz'
    write_bytes(path, data)
    ann = Announcement(str(path.resolve()), sha256(data), len(traj), traj.task,
                       float(np.sum(traj.rewards)), transfer, bool(traj.success), len(data))
    return ann, data


def read_episode(ann: Announcement) -> Trajectory:
    """Read an announced file and check its sha256 before trusting it."""
    try:
        data = Path(ann.path).read_bytes()
    except OSError as e:
        raise EpisodeError(f'{ann.path}: announced episode unreadable ({e.strerror}); '
                           f'no shared disk? use transfer inline') from None
    return verify_bytes(ann, data, ann.path)


def verify_bytes(ann: Announcement, data: bytes, where: str) -> Trajectory:
    got = sha256(data)
    if got != ann.sha256:
        raise EpisodeError(f'{where}: sha256: expected {ann.sha256[:16]}..., got {got[:16]}...')
    traj = decode_episode(data, where)
    if len(traj) != ann.length or traj.task != ann.task:
        raise EpisodeError(f'{where}: expected {ann.length} steps of {ann.task!r}, '
                           f'got {len(traj)} of {traj.task!r}')
    return traj


def chunk_payload(data: bytes, chunk_size: int = 1 << 20) -> list[bytes]:
    """Split episode bytes into self-describing chunks for ptr/episode_data."""
    if chunk_size < 1:
        raise ValueError(f'chunk_size: expected >= 1, got {chunk_size}')
    digest = sha256(data)
    pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] or [b'']
    return [json.dumps({'sha256': digest, 'index': i, 'count': len(pieces)}).encode() + b'\n' + p
            for i, p in enumerate(pieces)]


class ChunkAssembler:
    """Joins chunks per sha256; `add` returns (sha256, bytes) when an episode is complete.

    Keeps at most `max_pending` partial episodes (oldest dropped) so a lost chunk cannot grow
    memory without bound.
    """

    def __init__(self, max_pending: int = 8) -> None:
        self.max_pending = max_pending
        self._parts: dict[str, dict[int, bytes]] = {}
        self._count: dict[str, int] = {}

    def add(self, chunk: bytes) -> tuple[str, bytes] | None:
        head, sep, body = bytes(chunk).partition(b'\n')
        try:
            h: dict[str, Any] = json.loads(head) if sep else {}
            digest, index, count = str(h['sha256']), int(h['index']), int(h['count'])
        except (ValueError, KeyError, TypeError):
            raise EpisodeError('ptr/episode_data: chunk without a readable header') from None
        if not 0 <= index < count:
            raise EpisodeError(f'ptr/episode_data: chunk index {index} outside [0, {count})')
        if digest not in self._parts:
            if len(self._parts) >= self.max_pending:
                oldest = next(iter(self._parts))
                self._parts.pop(oldest)
                self._count.pop(oldest)
            self._parts[digest], self._count[digest] = {}, count
        self._parts[digest][index] = body
        if len(self._parts[digest]) < self._count[digest]:
            return None
        parts = self._parts.pop(digest)
        n = self._count.pop(digest)
        data = b''.join(parts[i] for i in range(n))
        if sha256(data) != digest:
            raise EpisodeError(f'ptr/episode_data: assembled episode sha256 mismatch '
                               f'({digest[:16]}...)')
        return digest, data


class IngestLedger:
    """The sha256 of every episode already stored in the online buffer, kept beside it.

    The episode manager announces on a transient-local topic, so a trainer that (re)starts late
    receives the recent announcements again; the ledger makes that safe: an episode is stored at
    most once, across restarts. Written atomically after each stored episode.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.digests: list[str] = []
        if self.path.is_file():
            try:
                self.digests = [str(d) for d in json.loads(self.path.read_text())]
            except (ValueError, TypeError):
                raise EpisodeError(f'{self.path}: unreadable ingest ledger (expected a JSON '
                                   f'list of sha256)') from None
        self._set = set(self.digests)

    def __contains__(self, digest: str) -> bool:
        return digest in self._set

    def add(self, digest: str) -> None:
        if digest in self._set:
            return
        self.digests.append(digest)
        self._set.add(digest)
        from ptr_core.atomic import write_json
        write_json(self.path, self.digests)

"""How a recorded episode reaches the trainer: one format (a one-episode dataset shard), two ways.

The robot side writes each finished episode with the atomic DatasetWriter as the shard
`<task>/shard-<run><n>` and only then announces it on ptr/episode (contracts.EpisodeAnnouncement),
so nothing announced is ever missing and a trainer that was down finds every episode on disk.
  'file'    shared disk: the writer's folder IS the trainer's online buffer; the announcement only
            wakes the trainer, which loads whatever new shards it finds (nothing is copied).
  'inline'  no shared disk: the packed shard (ptr_core.data.dataset.pack_shard) also goes out as
            signed packets of kind 'episode' on ptr/episode_data (ptr_core.packets, the protocol
            the weights use); the trainer unpacks it into its own folder under the same name, so a
            resent episode is stored once.
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np

from ptr_core import packets
from ptr_core.data import DatasetWriter, Trajectory
from ptr_core.data.dataset import pack_shard, unpack_shard
from ptr_ros.contracts import EpisodeAnnouncement

KIND = 'episode'
TRANSFERS = ('file', 'inline')
ANNOUNCE_DEPTH = 100  # announcements a late trainer receives (transient local)
DATA_DEPTH = 64  # inline packets a late trainer receives (transient local)


class EpisodeWriter:
    """Robot side: store an episode as a shard of this run (its meta says the run), announce it,
    and make its packets when inline."""

    def __init__(self, root: str | Path, run: str, transfer: str = 'file', key: bytes = b'',
                 chunk_size: int = 1 << 20) -> None:
        if transfer not in TRANSFERS:
            raise ValueError(f'transfer: expected one of {TRANSFERS}, got {transfer!r}')
        self.root, self.run, self.transfer = Path(root), run, transfer
        self.key, self.chunk_size = key, chunk_size

    def write(self, traj: Trajectory, serial: int) -> tuple[EpisodeAnnouncement, list[bytes]]:
        """Write atomically; returns the announcement and (inline only) the packets to send
        before it."""
        traj = dataclasses.replace(traj, meta={**traj.meta, 'run': self.run})
        with DatasetWriter(self.root, shard_episodes=1, prefix=self.run) as w:
            w.add(traj)
        shard = w.shards[-1]
        data = pack_shard(shard)
        name = f'{traj.task}/{shard.name}'
        ann = EpisodeAnnouncement(str(shard.resolve()), hashlib.sha256(data).hexdigest(),
                                  len(traj), traj.task, float(np.sum(traj.rewards)), name,
                                  self.transfer, bool(traj.success), len(data), self.run)
        if self.transfer == 'file':
            return ann, []
        return ann, packets.encode(data, self.key, KIND, serial, name, self.chunk_size)


class EpisodeReceiver:
    """Trainer side: stores inline episodes in `online_dir`; says what cannot be used."""

    def __init__(self, online_dir: str | Path, key: bytes) -> None:
        self.dir = Path(online_dir).resolve()
        self.key = key
        self.assembler = packets.Assembler(max_pending=DATA_DEPTH)

    def on_packet(self, packet: bytes) -> Path | None:
        """The stored shard once its last packet is in (None before, or when it was stored
        already); raises PacketError / DatasetError (one line) for bytes that must not be used."""
        whole = self.assembler.add(packets.decode(packet, self.key, KIND))
        if whole is None:
            return None
        return unpack_shard(whole.payload, self.dir, whole.label)

    def check(self, ann: EpisodeAnnouncement) -> str | None:
        """Why an announced file episode will not reach this trainer, or None when it will."""
        if ann.transfer not in TRANSFERS:
            return f'ptr/episode: transfer: expected one of {TRANSFERS}, got {ann.transfer!r}'
        if ann.transfer != 'file':
            return None
        path = Path(ann.path)
        if path.is_relative_to(self.dir) and path.is_dir():
            return None
        return (f'ptr/episode: {ann.path} is not a shard in online_dir {self.dir}: with '
                f"transfer file the episode manager must write into the trainer's online_dir "
                f'(shared disk), else use transfer inline')

"""One teleoperated episode -> one rosbag2 bag (MCAP storage), complete or absent.

Why a staging folder: a bag is written under `<out>/.partial/<name>` and renamed to
`<out>/<name>` only after the writer has closed it (metadata.yaml written) and its files are
synced, so a crash or a kill never leaves a bag in `<out>` that looks complete; `ptr data
from-bags <out>` ignores the staging folder. The messages arrive already CDR-serialized (the
recorder subscribes raw), so recording costs no (de)serialization; `rosbags` writes the schema
of each standard type (ROS 2 Jazzy message definitions) into the MCAP file, which is what lets
`ros2 bag`, Foxglove and the `mcap` readers open it without our code. Its metadata names that
distro (ROS_DISTRO), where rosbags itself would write `ros_distro: rosbags`.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ptr_core.atomic import fsync_dir

STAGING = '.partial'
# Keys of the bag's custom metadata (metadata.yaml: custom_data): what the episode was.
META_TASK, META_OUTCOME, META_EPISODE, META_NOTES = (
    'ptr.task', 'ptr.outcome', 'ptr.episode', 'ptr.notes')
OUTCOMES = ('success', 'failure')
ROS_DISTRO = 'jazzy'  # the distro of the message definitions written (Stores.ROS2_JAZZY below)
_DISTRO_LINE = re.compile(r'^(\s*ros_distro:\s*)rosbags[ \t]*$', re.MULTILINE)


class BagWriteError(RuntimeError):
    """The bag could not be written (the message names it and why)."""


def with_distro(metadata_yaml: str) -> str:
    """The bag metadata with rosbags' placeholder distro replaced by ROS_DISTRO."""
    return _DISTRO_LINE.sub(lambda m: m.group(1) + ROS_DISTRO, metadata_yaml)


def _typestore():
    from rosbags.typesys import Stores, get_typestore
    return get_typestore(Stores.ROS2_JAZZY)


class EpisodeBag:
    """Writes one episode; `finish` publishes it under its final name, `discard` removes it."""

    def __init__(self, out_dir: str | Path, name: str, topics: dict[str, str]) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.out_dir = Path(out_dir)
        self.final = self.out_dir / name
        self.staging = self.out_dir / STAGING / name
        if self.final.exists():
            raise BagWriteError(f'{self.final}: exists already; not overwriting a recorded bag')
        if self.staging.exists():  # left by a crash: never shown as a bag, safe to drop
            shutil.rmtree(self.staging)
        self.staging.parent.mkdir(parents=True, exist_ok=True)
        self._writer = Writer(self.staging, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        store = _typestore()
        self._conns = {topic: self._writer.add_connection(topic, msgtype, typestore=store)
                       for topic, msgtype in topics.items()}
        self.counts = dict.fromkeys(topics, 0)
        self.closed = False

    def write(self, topic: str, t_ns: int, data: bytes) -> None:
        """One CDR-serialized message received at `t_ns` (receive time, ns)."""
        if self.closed:
            raise BagWriteError(f'{self.final}: written after it was closed')
        self._writer.write(self._conns[topic], int(t_ns), bytes(data))
        self.counts[topic] += 1

    def finish(self, meta: dict[str, str]) -> Path:
        """Close, sync and rename into place; returns the bag's final folder."""
        for key, value in meta.items():
            self._writer.set_custom_data(key, str(value))
        self._distro_in_mcap()
        self._writer.close()
        self.closed = True
        yaml_path = self.staging / 'metadata.yaml'
        yaml_path.write_text(with_distro(yaml_path.read_text('utf-8')), 'utf-8')
        for f in self.staging.iterdir():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(self.staging)
        os.rename(self.staging, self.final)
        fsync_dir(self.out_dir)
        return self.final

    def _distro_in_mcap(self) -> None:
        """The copy of the metadata that rosbags writes into the MCAP file on close names the
        distro too (where this rosbags version hands it to storage.close(version, metadata))."""
        storage = getattr(self._writer, 'storage', None)
        close = getattr(storage, 'close', None)
        if callable(close):
            storage.close = lambda version, metadata, *rest: close(  # type: ignore[union-attr]
                version, with_distro(metadata), *rest)

    def discard(self) -> None:
        """Drop the recording (the operator's 'discard', or a shutdown mid-episode)."""
        if not self.closed:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the bag is being thrown away anyway
                pass
            self.closed = True
        shutil.rmtree(self.staging, ignore_errors=True)

"""Observation stamps read straight from serialized (CDR) messages, without deserializing them.

The bag recorder takes messages raw (recording costs no decoding) but must still know which
observation an image or a state belongs to, to start and end a bag on whole observations. Only
the leading fields are read: sensor_msgs/Image's header stamp (its first field) and the
'stamp_ns:' label of a std_msgs/Float32MultiArray's layout (ptr_core.rosmsg.tag_stamp).
Layout (OMG CDR, as ROS 2 serializes it): a 4-byte encapsulation header whose second byte is 1
for little endian, then the fields, each aligned to its size from the end of that header.
"""
from __future__ import annotations

import struct

from ptr_core.rosmsg import TAG_PREFIX, tag_of_label


class CdrError(ValueError):
    """The bytes are not the serialized message they were said to be."""


def _endian(data: bytes) -> str:
    if len(data) < 4 or data[0] != 0 or data[1] not in (0, 1):
        raise CdrError(f'not a plain CDR message: encapsulation header {bytes(data[:4])!r}')
    return '<' if data[1] == 1 else '>'


def image_stamp_ns(data: bytes) -> int:
    """The header stamp (ns) of a serialized sensor_msgs/Image (or any message whose first
    field is a std_msgs/Header)."""
    end = _endian(data)
    if len(data) < 12:
        raise CdrError(f'message too short for a header stamp: {len(data)} bytes')
    sec, nanosec = struct.unpack_from(end + 'iI', data, 4)
    return sec * 1_000_000_000 + nanosec


def multiarray_tag_ns(data: bytes) -> int | None:
    """The observation stamp a serialized std_msgs/*MultiArray was tagged with, or None."""
    end = _endian(data)
    body = memoryview(data)[4:]

    def u32(pos: int) -> tuple[int, int]:
        pos = (pos + 3) & ~3
        if pos + 4 > len(body):
            raise CdrError(f'MultiArray layout runs past the message end ({len(data)} bytes)')
        return struct.unpack_from(end + 'I', body, pos)[0], pos + 4

    count, pos = u32(0)
    for _ in range(count):
        size, pos = u32(pos)  # string length, with its terminating NUL
        label = bytes(body[pos:pos + max(size - 1, 0)]).decode('utf-8', 'replace')
        pos += size
        _, pos = u32(pos)  # size
        _, pos = u32(pos)  # stride
        if label.startswith(TAG_PREFIX):
            return tag_of_label(label)
    return None

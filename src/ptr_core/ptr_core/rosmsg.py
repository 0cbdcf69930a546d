"""ROS message <-> numpy conversions, duck-typed on the message fields.

The functions read and write the fields of sensor_msgs/Image, std_msgs/*MultiArray and
builtin_interfaces/Time by name, so they work on the real message classes (which import without
`rclpy.init()`) and the core still never imports rclpy. Arrays are filled from `bytes` and
`array.array` buffers: rclpy copies those in microseconds, while numpy arrays and lists are walked
element by element (2 s for 20 MB).
"""
from __future__ import annotations

import array
import sys
from typing import Any, Callable

import numpy as np

# encoding -> (numpy dtype of one channel, channels); the cv_bridge names we accept.
ENCODINGS: dict[str, tuple[str, int]] = {
    'rgb8': ('u1', 3),
    'bgr8': ('u1', 3),
    'rgba8': ('u1', 4),
    'bgra8': ('u1', 4),
    'mono8': ('u1', 1),
    '8UC1': ('u1', 1),
    '8UC3': ('u1', 3),
    'mono16': ('u2', 1),
    '16UC1': ('u2', 1),
    '32FC1': ('f4', 1),
}
# ITU-R BT.601 luma weights, the ones OpenCV (and so cv_bridge) uses for RGB -> gray.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ConversionError(ValueError):
    """A message or array that cannot be converted; the text names the field and the mismatch."""


def _layout(encoding: str) -> tuple[str, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ConversionError(
            f'image encoding: expected one of {sorted(ENCODINGS)}, got {encoding!r}') from None


def _buffer(data: Any) -> memoryview | bytes:
    """A zero-copy byte view of a message array field (array.array, bytes, list)."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return memoryview(data).cast('B')
    if isinstance(data, array.array):
        return memoryview(data).cast('B')
    return bytes(bytearray(data))


def image_to_numpy(msg: Any, desired_encoding: str = 'passthrough') -> np.ndarray:
    """sensor_msgs/Image -> (H, W, C) array ((H, W) for one channel); honours step, endianness.

    `desired_encoding` converts like cv_bridge: 'passthrough' keeps the message's encoding;
    rgb8 <-> bgr8 swap channels; rgb8/bgr8 -> mono8 use BT.601 luma; mono8 -> rgb8/bgr8 replicate.
    The result is a fresh, contiguous, writable array (the message buffer may be reused).
    """
    encoding = msg.encoding
    kind, channels = _layout(encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    itemsize = np.dtype(kind).itemsize
    row = width * channels * itemsize
    if step < row:
        raise ConversionError(f'image step: expected >= {row} for {width} px of {encoding}, '
                              f'got {step}')
    raw = np.frombuffer(_buffer(msg.data), dtype=np.uint8)
    if raw.size < step * height:
        raise ConversionError(f'image data: expected {step * height} bytes '
                              f'({height} rows of step {step}), got {raw.size}')
    rows = raw[:step * height].reshape(height, step)[:, :row]
    order = '>' if msg.is_bigendian else '<'
    dtype = np.dtype(kind).newbyteorder(order) if itemsize > 1 else np.dtype(kind)
    img = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
    img = img.astype(np.dtype(kind).newbyteorder('='), copy=True)
    if channels == 1:
        img = img[:, :, 0]
    if desired_encoding in ('passthrough', encoding):
        return img
    return convert_color(img, encoding, desired_encoding)


def convert_color(img: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert between the 8-bit color encodings (rgb8, bgr8, rgba8, bgra8, mono8)."""
    if src == dst:
        return img
    rgb = _to_rgb8(img, src)
    if dst == 'rgb8':
        return rgb
    if dst == 'bgr8':
        return np.ascontiguousarray(rgb[:, :, ::-1])
    if dst == 'rgba8' or dst == 'bgra8':
        alpha = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
        color = rgb if dst == 'rgba8' else rgb[:, :, ::-1]
        return np.ascontiguousarray(np.concatenate([color, alpha], axis=2))
    if dst in ('mono8', '8UC1'):
        gray = rgb.astype(np.float32) @ _LUMA
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    raise ConversionError(f'image encoding: cannot convert {src!r} to {dst!r}')


def _to_rgb8(img: np.ndarray, src: str) -> np.ndarray:
    if src in ('rgb8', '8UC3'):
        return img
    if src == 'bgr8':
        return np.ascontiguousarray(img[:, :, ::-1])
    if src == 'rgba8':
        return np.ascontiguousarray(img[:, :, :3])
    if src == 'bgra8':
        return np.ascontiguousarray(img[:, :, 2::-1])
    if src in ('mono8', '8UC1'):
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    raise ConversionError(f'image encoding: cannot convert {src!r} to a color encoding')


def numpy_to_image(arr: np.ndarray, encoding: str, msg: Any) -> Any:
    """Fill `msg` (a sensor_msgs/Image) from an (H, W[, C]) array; returns `msg`.

    Rows are packed (step = width * channels * itemsize), little-endian on this machine as in
    cv_bridge. The header is left to the caller (stamp and frame_id are the node's business).
    """
    kind, channels = _layout(encoding)
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] != channels:
        raise ConversionError(f'image array: expected (H, W, {channels}) for {encoding}, '
                              f'got shape {tuple(np.shape(arr))}')
    if a.dtype != np.dtype(kind):
        raise ConversionError(f'image array: expected dtype {np.dtype(kind)} for {encoding}, '
                              f'got {a.dtype}')
    a = np.ascontiguousarray(a)
    msg.height, msg.width = int(a.shape[0]), int(a.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(sys.byteorder == 'big' and a.dtype.itemsize > 1)
    msg.step = int(a.shape[1] * channels * a.dtype.itemsize)
    msg.data = a.tobytes()
    return msg


def multiarray_to_numpy(msg: Any, dtype: Any) -> np.ndarray:
    """std_msgs/*MultiArray -> array of `dtype`, shaped by layout.dim sizes when they are given."""
    flat = np.frombuffer(_buffer(msg.data), dtype=np.dtype(dtype)).copy()
    offset = int(getattr(msg.layout, 'data_offset', 0) or 0)
    flat = flat[offset:]
    sizes = [int(d.size) for d in getattr(msg.layout, 'dim', [])]
    if sizes:
        need = int(np.prod(sizes))
        if flat.size < need:
            raise ConversionError(f'multiarray data: expected {need} elements for layout '
                                  f'{sizes}, got {flat.size}')
        return flat[:need].reshape(sizes)
    return flat


def numpy_to_multiarray(arr: np.ndarray, msg: Any, typecode: str,
                        dim_factory: Callable[[], Any] | None = None,
                        labels: tuple[str, ...] = ()) -> Any:
    """Fill a std_msgs/*MultiArray's data from `arr` through an array.array buffer; returns `msg`.

    `typecode` is the array module code of the message's element type ('f' for Float32, 'B' for
    UInt8). With `dim_factory` (e.g. std_msgs.msg.MultiArrayDimension) the layout gets one dim
    per axis (label, size, stride) so a reader can restore the shape; without it the layout is
    untouched.
    """
    a = np.ascontiguousarray(arr, dtype=np.dtype(typecode))
    buf = array.array(typecode)
    buf.frombytes(a.tobytes())
    msg.data = buf
    if dim_factory is not None:
        dims = []
        stride = int(a.size)
        for i, size in enumerate(a.shape):
            d = dim_factory()
            d.label = labels[i] if i < len(labels) else f'dim{i}'
            d.size = int(size)
            d.stride = int(stride)
            stride = stride // max(int(size), 1)
            dims.append(d)
        msg.layout.dim = dims
        msg.layout.data_offset = 0
    return msg


def float32_to_numpy(msg: Any) -> np.ndarray:
    """std_msgs/Float32MultiArray -> float32 array."""
    return multiarray_to_numpy(msg, np.float32)


def numpy_to_float32(arr: np.ndarray, msg: Any, **layout: Any) -> Any:
    """Fill a std_msgs/Float32MultiArray from a float array; returns `msg`."""
    return numpy_to_multiarray(np.asarray(arr, dtype=np.float32), msg, 'f', **layout)


def vector_from_msg(msg: Any, size: int, what: str) -> np.ndarray:
    """A Float32MultiArray that must hold exactly `size` finite floats (state, action)."""
    v = float32_to_numpy(msg).reshape(-1)
    if v.size != size:
        raise ConversionError(f'{what}: expected {size} floats, got {v.size}')
    if not np.all(np.isfinite(v)):
        raise ConversionError(f'{what}: expected finite floats, got {v.tolist()}')
    return v


def uint8_to_bytes(msg: Any) -> bytes:
    """std_msgs/UInt8MultiArray -> bytes (one copy)."""
    return bytes(_buffer(msg.data))


def bytes_to_uint8(data: bytes | bytearray | memoryview, msg: Any) -> Any:
    """Fill a std_msgs/UInt8MultiArray from bytes through an array.array buffer; returns `msg`."""
    buf = array.array('B')
    buf.frombytes(data)
    msg.data = buf
    return msg


def stamp_to_ns(stamp: Any) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int, stamp: Any) -> Any:
    """Fill a builtin_interfaces/Time from integer nanoseconds; returns `stamp`."""
    stamp.sec, stamp.nanosec = divmod(int(ns), 1_000_000_000)
    return stamp


# Float32MultiArray has no header. To pair a state (or an action) with the image it belongs to, the
# sender puts the image's stamp into the single layout dimension's label: 'stamp_ns:<int>'.
TAG_PREFIX = 'stamp_ns:'


def tag_stamp(msg: Any, ns: int, dim_factory: Callable[[], Any]) -> Any:
    """Label a 1-d MultiArray with the stamp (ns) of the observation it belongs to; returns msg."""
    d = dim_factory()
    d.label = f'{TAG_PREFIX}{int(ns)}'
    d.size = len(msg.data)
    d.stride = len(msg.data)
    msg.layout.dim = [d]
    return msg


def stamp_tag(msg: Any) -> int | None:
    """The stamp set by `tag_stamp`, or None for an untagged message (e.g. from teleop)."""
    for d in getattr(msg.layout, 'dim', []):
        if str(d.label).startswith(TAG_PREFIX):
            return tag_of_label(str(d.label))
    return None


def tag_of_label(label: str) -> int | None:
    """The stamp in a 'stamp_ns:<int>' label; None for any other label."""
    if not label.startswith(TAG_PREFIX):
        return None
    try:
        return int(label[len(TAG_PREFIX):])
    except ValueError:
        return None
